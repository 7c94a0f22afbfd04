"""Group fairness of a binary classifier, per protected attribute and for their intersection.

Definitions follow fairlearn (the test suite uses it as the oracle, to 1e-9): per group n, base rate
P(y=1), selection rate P(ŷ=1), TPR P(ŷ=1|y=1), FPR P(ŷ=1|y=0), PPV P(y=1|ŷ=1); demographic-parity
difference max-min selection rate and ratio min/max; equal-opportunity difference max-min TPR;
equalized-odds difference the larger of the TPR and FPR differences. Groups smaller than
`min_group_size` are reported and flagged but left out of the comparison with the thresholds, since
their rates are too noisy to judge; with `min_group_size` 0 every group counts, as in fairlearn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INTERSECTION_SEPARATOR = " & "


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def group_metrics(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, dict]:
    """Per-group counts and rates, keyed by group label, in sorted order."""
    frame = pd.DataFrame({"group": groups, "t": y_true.astype(bool), "p": y_pred.astype(bool)})
    frame["tp"] = frame["t"] & frame["p"]
    frame["fp"] = ~frame["t"] & frame["p"]
    sums = frame.groupby("group", sort=True)[["t", "p", "tp", "fp"]].sum()
    counts = frame.groupby("group", sort=True).size()
    table = {}
    for group, row in sums.iterrows():
        n = int(counts[group])
        positives, predicted, tp, fp = int(row["t"]), int(row["p"]), int(row["tp"]), int(row["fp"])
        table[str(group)] = {
            "n": n,
            "base_rate": _rate(positives, n),
            "selection_rate": _rate(predicted, n),
            "tpr": _rate(tp, positives),
            "fpr": _rate(fp, n - positives),
            "ppv": _rate(tp, predicted),
        }
    return table


def _spread(values: list[float]) -> float | None:
    return (max(values) - min(values)) if values else None


def disparities(table: dict[str, dict], *, min_group_size: int) -> dict:
    """Differences and ratio over the groups with at least `min_group_size` rows."""
    counted = [row for row in table.values() if row["n"] >= min_group_size]
    selection = [row["selection_rate"] for row in counted if row["selection_rate"] is not None]
    tpr = [row["tpr"] for row in counted if row["tpr"] is not None]
    fpr = [row["fpr"] for row in counted if row["fpr"] is not None]
    tpr_spread, fpr_spread = _spread(tpr), _spread(fpr)
    ratio = None
    if selection:
        ratio = 1.0 if max(selection) == 0 else min(selection) / max(selection)
    odds = [value for value in (tpr_spread, fpr_spread) if value is not None]
    return {
        "groups_compared": len(counted),
        "demographic_parity_difference": _spread(selection),
        "demographic_parity_ratio": ratio,
        "equal_opportunity_difference": tpr_spread,
        "equalized_odds_difference": max(odds) if odds else None,
    }


COMPARISONS = [
    # (metric, threshold key, failing when)
    ("demographic_parity_ratio", "demographic_parity_ratio_min", lambda value, limit: value < limit),
    ("demographic_parity_difference", "demographic_parity_difference_max", lambda value, limit: value > limit),
    ("equal_opportunity_difference", "equal_opportunity_difference_max", lambda value, limit: value > limit),
    ("equalized_odds_difference", "equalized_odds_difference_max", lambda value, limit: value > limit),
]


def intersection_labels(table: pd.DataFrame, attributes: list[str]) -> np.ndarray:
    columns = [table[attribute].astype(str) for attribute in attributes]
    labels = columns[0].str.cat(columns[1:], sep=INTERSECTION_SEPARATOR) if len(columns) > 1 else columns[0]
    return labels.to_numpy()


def assess(table: pd.DataFrame, y_true, y_pred, *, protected_attributes: list[str], thresholds: dict) -> dict:
    """Metrics for each attribute and their intersection, and the reasons the check fails (if any)."""
    min_group_size = int(thresholds.get("min_group_size", 0))
    missing = [name for name in protected_attributes if name not in table.columns]
    if missing:
        raise ValueError(f"The evaluation data lacks the protected attribute columns: {', '.join(missing)}.")
    subjects = [[attribute] for attribute in protected_attributes]
    if len(protected_attributes) > 1 and thresholds.get("include_intersection", True):
        subjects.append(list(protected_attributes))
    results, reasons, small = {}, [], []
    for attributes in subjects:
        name = INTERSECTION_SEPARATOR.join(attributes)
        groups = group_metrics(y_true, y_pred, intersection_labels(table, attributes))
        summary = disparities(groups, min_group_size=min_group_size)
        for group, row in groups.items():
            row["small"] = row["n"] < min_group_size
            if row["small"]:
                small.append({"attribute": name, "group": group, "n": row["n"]})
        for metric, key, fails in COMPARISONS:
            limit, value = thresholds.get(key), summary[metric]
            if limit is not None and value is not None and fails(value, limit):
                reasons.append(f"{name}: {metric.replace('_', ' ')} {value:.4f} breaches the locked limit {limit}.")
        if summary["groups_compared"] < 2:
            reasons.append(f"{name}: fewer than two groups have at least {min_group_size} rows, so no comparison "
                           "is possible.")
        results[name] = {"attributes": attributes, "groups": groups, **summary}
    return {"by_attribute": results, "small_groups": small, "min_group_size": min_group_size, "reasons": reasons}
