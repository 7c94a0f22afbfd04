"""Turns stored check metrics into rows for the case page: fairness tables with the values beyond the
locked thresholds marked, and claimed-versus-recomputed metrics. Display only; the checks decided."""

from __future__ import annotations

from dataclasses import dataclass, field

from .checks.fairness import COMPARISONS

METRIC_LABELS = {
    "demographic_parity_ratio": "Demographic parity ratio (lowest ÷ highest selection rate)",
    "demographic_parity_difference": "Demographic parity difference (selection-rate spread)",
    "equal_opportunity_difference": "Equal opportunity difference (true-positive-rate spread)",
    "equalized_odds_difference": "Equalized odds difference (largest of TPR and FPR spreads)",
}


@dataclass
class Cell:
    value: float | None
    beyond: bool = False
    note: str = ""


@dataclass
class GroupRow:
    name: str
    n: int
    small: bool
    base_rate: Cell
    selection_rate: Cell
    tpr: Cell
    fpr: Cell
    ppv: Cell

    @property
    def beyond(self) -> bool:
        return any(cell.beyond for cell in (self.selection_rate, self.tpr, self.fpr))


@dataclass
class DisparityRow:
    label: str
    value: float | None
    limit: float | None
    bound: str  # "at least" or "at most"
    beyond: bool


@dataclass
class FairnessTable:
    attribute: str
    groups_compared: int
    disparities: list[DisparityRow] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)


def _threshold(thresholds: dict, key: str) -> float | None:
    value = thresholds.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def fairness_tables(metrics: dict, thresholds: dict) -> list[FairnessTable]:
    """One table per protected attribute (and their intersection): the disparity figures against the
    locked limits, and each group's rates. A group's rate is marked beyond the limit when that group
    alone breaches it against the best-placed group (selection rate below `demographic_parity_ratio_min`
    of the highest; TPR further than `equal_opportunity_difference_max` below the highest; FPR further
    than `equalized_odds_difference_max` above the lowest). Groups below the minimum size are not compared."""
    min_size = int(metrics.get("min_group_size") or thresholds.get("min_group_size") or 0)
    ratio_min = _threshold(thresholds, "demographic_parity_ratio_min")
    opportunity_max = _threshold(thresholds, "equal_opportunity_difference_max")
    odds_max = _threshold(thresholds, "equalized_odds_difference_max")
    tables = []
    for attribute, data in (metrics.get("by_attribute") or {}).items():
        table = FairnessTable(attribute=attribute, groups_compared=data.get("groups_compared") or 0)
        for metric, key, fails in COMPARISONS:
            value, limit = data.get(metric), _threshold(thresholds, key)
            table.disparities.append(DisparityRow(
                label=METRIC_LABELS.get(metric, metric.replace("_", " ")), value=value, limit=limit,
                bound="at least" if key.endswith("_min") else "at most",
                beyond=value is not None and limit is not None and fails(value, limit),
            ))
        groups = data.get("groups") or {}
        counted = [row for row in groups.values() if (row.get("n") or 0) >= min_size]
        top_selection = max((row["selection_rate"] for row in counted if row.get("selection_rate") is not None),
                            default=None)
        top_tpr = max((row["tpr"] for row in counted if row.get("tpr") is not None), default=None)
        low_fpr = min((row["fpr"] for row in counted if row.get("fpr") is not None), default=None)
        for name, row in sorted(groups.items()):
            small = (row.get("n") or 0) < min_size
            selection, tpr, fpr = row.get("selection_rate"), row.get("tpr"), row.get("fpr")
            selection_beyond = (not small and ratio_min is not None and selection is not None and top_selection
                                and selection / top_selection < ratio_min)
            tpr_beyond = (not small and opportunity_max is not None and tpr is not None and top_tpr is not None
                          and top_tpr - tpr > opportunity_max)
            fpr_beyond = (not small and odds_max is not None and fpr is not None and low_fpr is not None
                          and fpr - low_fpr > odds_max)
            table.groups.append(GroupRow(
                name=name, n=row.get("n") or 0, small=small,
                base_rate=Cell(row.get("base_rate")),
                selection_rate=Cell(selection, bool(selection_beyond),
                                    f"below {ratio_min} × the highest group's rate" if selection_beyond else ""),
                tpr=Cell(tpr, bool(tpr_beyond),
                         f"more than {opportunity_max} below the highest group's rate" if tpr_beyond else ""),
                fpr=Cell(fpr, bool(fpr_beyond),
                         f"more than {odds_max} above the lowest group's rate" if fpr_beyond else ""),
                ppv=Cell(row.get("ppv")),
            ))
        tables.append(table)
    return tables


def result_view(result, *, locked_thresholds: dict | None = None) -> dict:
    """What the template shows of one check result, by kind. The thresholds are those the check applied,
    else the case's locked thresholds for that check."""
    metrics = result.metrics or {}
    thresholds = result.thresholds_applied or (locked_thresholds or {}).get(result.kind) or {}
    view: dict = {"reasons": result.failure_reasons or []}
    if result.kind == "fairness":
        view["fairness_tables"] = fairness_tables(metrics, thresholds)
        view["small_groups"] = metrics.get("small_groups") or []
    elif result.kind == "performance":
        view["claims"] = metrics.get("claims") or []
        view["minimums"] = metrics.get("minimums") or []
        view["tolerance"] = metrics.get("tolerance")
    elif result.kind == "explainability":
        view["importance"] = (metrics.get("global_importance") or [])[:15]
        view["explainer"] = metrics.get("explainer")
        view["sample_size"] = metrics.get("sample_size")
        view["additivity_ok"] = metrics.get("additivity_ok")
    elif result.kind == "data_governance":
        view["datasets"] = metrics.get("datasets") or []
    elif result.kind == "documentation":
        view["present"] = metrics.get("present") or {}
        view["missing"] = metrics.get("missing") or []
    return view


def datasheet_rows(dataset_version) -> list[tuple[str, str]]:
    """(label, text) for each datasheet field of a dataset version, empty ones included (a gap shows)."""
    from apps.registry.models import DATASHEET_FIELDS

    return [(label, getattr(dataset_version, name) or "") for name, label in DATASHEET_FIELDS.items()]
