"""Independent re-computation of the performance a submitter claimed, and the policy's minimums."""

from __future__ import annotations

import numpy as np


def _needs_scores(name: str) -> bool:
    return name in {"roc_auc", "log_loss", "brier_score", "average_precision"}


def compute_metric(name: str, y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None) -> float:
    """Computes a named binary-classification metric; raises KeyError for names Docket does not know."""
    from sklearn import metrics

    if _needs_scores(name) and scores is None:
        raise ValueError(f"{name} needs predicted probabilities and the model gives none.")
    functions = {
        "accuracy": lambda: metrics.accuracy_score(y_true, y_pred),
        "balanced_accuracy": lambda: metrics.balanced_accuracy_score(y_true, y_pred),
        "precision": lambda: metrics.precision_score(y_true, y_pred, zero_division=0),
        "recall": lambda: metrics.recall_score(y_true, y_pred, zero_division=0),
        "f1": lambda: metrics.f1_score(y_true, y_pred, zero_division=0),
        "roc_auc": lambda: metrics.roc_auc_score(y_true, scores),
        "average_precision": lambda: metrics.average_precision_score(y_true, scores),
        "log_loss": lambda: metrics.log_loss(y_true, scores, labels=[False, True]),
        "brier_score": lambda: metrics.brier_score_loss(y_true, scores),
    }
    if name not in functions:
        raise KeyError(name)
    return float(functions[name]())


SUPPORTED_METRICS = (
    "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "log_loss",
    "brier_score",
)


def assess(evaluations: dict, claims: list[dict], *, evaluation_key: str, thresholds: dict) -> dict:
    """Compares each claim with Docket's own figure on the claim's dataset, and checks the minimums on
    the evaluation dataset. `evaluations` maps dataset key -> loading.Evaluation."""
    tolerance = float(thresholds.get("tolerance", 0.01))
    reasons, compared = [], []
    for claim in claims:
        evaluation = evaluations[claim["dataset"]]
        row = {"name": claim["name"], "dataset": claim["dataset"], "claimed": claim["value"]}
        try:
            value = compute_metric(claim["name"], evaluation.y_true, evaluation.y_pred, evaluation.scores)
        except KeyError:
            row.update(recomputed=None, within_tolerance=False)
            reasons.append(f"Claimed metric {claim['name']!r} cannot be re-computed by Docket "
                           f"(supported: {', '.join(SUPPORTED_METRICS)}).")
        else:
            difference = abs(value - float(claim["value"]))
            row.update(recomputed=value, difference=difference, within_tolerance=difference <= tolerance)
            if difference > tolerance:
                reasons.append(f"{claim['name']} on {claim['dataset']}: claimed {claim['value']}, Docket measured "
                               f"{value:.4f} (difference {difference:.4f} > tolerance {tolerance}).")
        compared.append(row)
    minimums = []
    evaluation = evaluations.get(evaluation_key)
    for name, limit in sorted((thresholds.get("minimums") or {}).items()):
        if evaluation is None:
            reasons.append(f"No evaluation dataset to check the minimum {name} >= {limit}.")
            continue
        value = compute_metric(name, evaluation.y_true, evaluation.y_pred, evaluation.scores)
        minimums.append({"name": name, "minimum": limit, "value": value, "met": value >= limit})
        if value < limit:
            reasons.append(f"{name} {value:.4f} on the evaluation dataset is below the locked minimum {limit}.")
    if not claims and not minimums:
        reasons.append("The model version claims no metrics and the policy sets no minimum: nothing to validate.")
    return {"tolerance": tolerance, "claims": compared, "minimums": minimums, "reasons": reasons}
