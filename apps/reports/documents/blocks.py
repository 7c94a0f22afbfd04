"""Building blocks several documents share: datasheets, check results, fairness tables and chart,
findings, risk acceptances and signatures, the cover, who developed a model version."""

from __future__ import annotations

import io
import json

from django.core.files.storage import default_storage
from reportlab.platypus import PageBreak, Spacer

from . import style
from .style import CONTENT_WIDTH, heading, key_values, number, para, table, value_or_missing


def cover(title: str, subtitle: str, rows: list[tuple[str, object]]) -> list:
    return [para(title, "title"), para(subtitle, "subtitle"), key_values(rows, label_width=0.32),
            Spacer(1, 6), PageBreak()]


def as_text(value) -> str:
    """Structured values (thresholds, hyperparameters) as compact, stable JSON text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "" if value is None else str(value)


def developers_text(version: dict) -> str:
    """Who developed a model version (its `model_version_facts`, or an inventory entry): the developers
    named at registration; when none were, who registered it, saying that no developers are recorded
    (a service account's registration is not a person's development)."""
    if version["developers"]:
        return ", ".join(version["developers"])
    return f"registered by {version['registered_by']}; no developers recorded"


def datasheet(dataset: dict, *, level: int = 2) -> list:
    """One dataset version: its facts and every Art. 10(2) / datasheet field, MISSING where empty."""
    rows = [
        ("Role", dataset.get("role") or "—"),
        ("Content SHA-256", para(dataset["content_sha256"], "mono")),
        ("Rows", number(dataset["row_count"])),
        ("Columns", ", ".join(dataset["columns"]) or "—"),
        ("Source system", dataset["source_system"] or "—"),
        ("Personal data", number(dataset["contains_personal_data"])),
        ("GDPR legal basis", dataset["legal_basis"] or ("not applicable" if not dataset["contains_personal_data"]
                                                        else "—")),
        ("Retention until", dataset["retention_until"] or "—"),
        ("Special-category data", number(dataset["contains_special_category_data"])),
        ("Protected attributes", ", ".join(dataset["protected_attributes"]) or "none declared"),
    ]
    if dataset["contains_special_category_data"]:
        rows.append(("Art. 10(5) justification", value_or_missing(
            dataset["special_category_justification"], "why special categories are strictly necessary")))
    rows += [(label, value_or_missing(value, f"the datasheet field '{label}' for {dataset['label']}"))
             for label, value in dataset["datasheet"].items()]
    return [heading(f"Dataset {dataset['label']}", level), key_values(rows, label_width=0.36)]


def fairness_tables(fairness: dict | None, *, needed: str) -> list:
    """Per protected attribute (and intersection): per-group rates and the disparity summary."""
    if not fairness:
        return [para(style.missing_text(needed), markup=True)]
    flowables = []
    thresholds = fairness.get("thresholds") or {}
    for name, result in sorted(fairness["by_attribute"].items()):
        flowables.append(para(f"Protected attribute: {name}", "h2"))
        rows = []
        for group, row in sorted(result.get("groups", {}).items()):
            rows.append([group, number(row.get("n")), number(row.get("base_rate")), number(row.get("selection_rate")),
                         number(row.get("tpr")), number(row.get("fpr")), number(row.get("ppv")),
                         "too small" if row.get("small") else ""])
        flowables.append(table(["group", "n", "base rate", "selection rate", "TPR", "FPR", "PPV", "note"], rows,
                               widths=[2.2, 0.8, 1, 1.2, 1, 1, 1, 1]))
        summary = [
            ("Demographic parity difference", number(result.get("demographic_parity_difference")),
             thresholds.get("demographic_parity_difference_max"), "max"),
            ("Demographic parity ratio (disparate impact)", number(result.get("demographic_parity_ratio")),
             thresholds.get("demographic_parity_ratio_min"), "min"),
            ("Equal opportunity difference", number(result.get("equal_opportunity_difference")),
             thresholds.get("equal_opportunity_difference_max"), "max"),
            ("Equalized odds difference", number(result.get("equalized_odds_difference")),
             thresholds.get("equalized_odds_difference_max"), "max"),
        ]
        flowables.append(table(["measure", "value", "locked limit"],
                               [[label, value, "—" if limit is None else f"{kind} {limit}"]
                                for label, value, limit, kind in summary], widths=[3, 1, 1.2]))
    chart = fairness_chart(fairness)
    if chart:
        flowables += [Spacer(1, 4), style.png_image(chart, max_height=70 * 2.83)]
    return flowables


def fairness_chart(fairness: dict) -> bytes | None:
    """Selection rate per group for each single protected attribute (matplotlib, reproducible PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    single = [(name, result) for name, result in sorted(fairness["by_attribute"].items())
              if len(result.get("attributes", [name])) == 1 and result.get("groups")]
    if not single:
        return None
    figure, axes = pyplot.subplots(1, len(single), figsize=(3.2 * len(single), 2.4), dpi=110, squeeze=False)
    for axis, (name, result) in zip(axes[0], single, strict=True):
        groups = sorted(result["groups"])
        rates = [result["groups"][group].get("selection_rate") or 0.0 for group in groups]
        axis.bar(groups, rates, color="#0b4f6c")
        axis.set_title(f"Selection rate by {name}", fontsize=8)
        axis.set_ylim(0, 1)
        axis.tick_params(labelsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    pyplot.close(figure)
    return buffer.getvalue()


def metrics_table(check: dict | None) -> list:
    """Claimed metrics against Docket's re-computation, and the policy minimums."""
    if not check or not isinstance(check.get("metrics"), dict) or "claims" not in check["metrics"]:
        return []
    metrics = check["metrics"]
    rows = [[claim["name"], claim["dataset"], number(claim.get("claimed")), number(claim.get("recomputed")),
             number(claim.get("difference")), number(claim.get("within_tolerance"))] for claim in metrics["claims"]]
    flowables = [table(["metric", "dataset", "claimed", "Docket measured", "difference", "within tolerance"], rows,
                       widths=[1.3, 2, 1, 1.2, 1, 1])]
    if metrics.get("minimums"):
        flowables.append(table(["metric", "locked minimum", "measured", "met"],
                               [[row["name"], number(row["minimum"]), number(row["value"]), number(row["met"])]
                                for row in metrics["minimums"]]))
    return flowables


def check_block(check: dict, *, with_plots: bool = True, locked_fairness: dict | None = None) -> list:
    """One check result in full: status, summary, reasons, numbers, reproducibility facts, plots."""
    rows = [("Status", para(style.status_text(check["status"]), "cell", markup=True))]
    if "summary" not in check:
        rows.append(("Result", "Not finished at the checkpoint this document reflects."))
        return [heading(check["label"], 2), key_values(rows)]
    rows += [
        ("Summary", check["summary"] or "—"),
        ("Reasons", "\n".join(check["failure_reasons"]) or "none"),
        ("Thresholds applied (locked)", para(as_text(check["thresholds_applied"]), "mono")),
        ("Finished at", check["finished_at"]),
        ("Random seed", number(check["random_seed"])),
        ("Sample sizes", as_text(check["sample_sizes"]) or "—"),
        ("Library versions", as_text(check["library_versions"]) or "—"),
        ("Model SHA-256", para(check["model_sha256"] or "—", "mono")),
        ("Data SHA-256", para(as_text(check["data_sha256"]) or "—", "mono")),
        ("Result SHA-256", para(check["result_sha256"] or "—", "mono")),
    ]
    if check.get("risk_acceptance"):
        acceptance = check["risk_acceptance"]
        rows.append(("Risk accepted", f"by {acceptance['accepted_by']} at {acceptance['accepted_at']}: "
                                      f"{acceptance['rationale']}"))
    flowables = [heading(check["label"], 2), key_values(rows)]
    metrics = check.get("metrics") or {}
    if check["kind"] == "performance":
        flowables += metrics_table(check)
    elif check["kind"] == "fairness" and metrics.get("by_attribute"):
        flowables += fairness_tables({"by_attribute": metrics["by_attribute"],
                                      "thresholds": check["thresholds_applied"] or locked_fairness}, needed="")
    elif check["kind"] == "explainability" and metrics.get("global_importance"):
        flowables.append(table(["feature", "mean |SHAP|"],
                               [[row["feature"], number(row["mean_abs_shap"])] for row in
                                metrics["global_importance"]], widths=[3, 1]))
    elif metrics:
        flowables.append(para(as_text(metrics), "mono"))
    if with_plots:
        for plot in check.get("plots", []):
            try:
                with default_storage.open(plot["path"], "rb") as handle:
                    data = handle.read()
            except OSError:
                flowables.append(para(f"Plot {plot['name']} (SHA-256 {plot['sha256']}) is not readable.", "note"))
                continue
            flowables += [para(f"Plot: {plot['name']} (SHA-256 {plot['sha256']})", "note"),
                          style.png_image(data, max_width=CONTENT_WIDTH * 0.8)]
    return flowables


def signatures_table(signatures: list[dict]) -> list:
    """21 CFR Part 11 §11.50: printed name, date and time, and meaning of every signature."""
    if not signatures:
        return [para("No signature recorded at this checkpoint.", "note")]
    rows = [[signature["printed_name"], signature["signed_at"], signature["statement"],
             signature["manifest_sha256"], number(signature["audit_index"])] for signature in signatures]
    return [table(["printed name", "signed at", "meaning", "manifest SHA-256", "audit index"], rows,
                  widths=[1.4, 1.4, 2.6, 2.4, 0.8], mono_columns=[3])]


def findings_table(findings: list[dict]) -> list:
    if not findings:
        return [para("No findings were raised.", "note")]
    rows = [[f"#{finding['id']}", finding["severity"], finding["title"], finding["status"],
             (f"{finding['resolution']} ({finding['resolved_by']}, {finding['resolved_at']})"
              if finding["status"] == "resolved" else f"owner {finding['owner']}, due {finding['due_date']}")]
            for finding in findings]
    return [table(["id", "severity", "finding", "status", "resolution"], rows, widths=[0.5, 0.8, 2.4, 0.8, 3])]


def risk_acceptances_table(checks: list[dict]) -> list:
    accepted = [check for check in checks if check.get("risk_acceptance")]
    if not accepted:
        return [para("No risk acceptances.", "note")]
    rows = [[check["label"], check["status"], check["risk_acceptance"]["accepted_by"],
             check["risk_acceptance"]["accepted_at"], check["risk_acceptance"]["rationale"]] for check in accepted]
    return [table(["check", "status", "accepted by", "accepted at", "rationale"], rows,
                  widths=[1.5, 0.8, 1.5, 1.4, 3])]
