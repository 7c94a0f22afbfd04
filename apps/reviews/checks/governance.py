"""Data-governance (EU AI Act Art. 10, GDPR) and documentation checks over plain dictionaries."""

from __future__ import annotations

import datetime as dt


def assess_data_governance(datasets: list[dict], *, thresholds: dict, today: dt.date) -> dict:
    """Each dataset dict: label, role, lifecycle_state, contains_personal_data, legal_basis,
    retention_until (ISO date or None), contains_special_category_data, special_category_justification,
    protected_attributes, datasheet {field: text}. Returns per-dataset findings and failure reasons."""
    required_fields = list(thresholds.get("required_datasheet_fields", []))
    required_roles = list(thresholds.get("required_dataset_roles", []))
    reasons, rows = [], []
    present_roles = {dataset["role"] for dataset in datasets}
    for role in required_roles:
        if role not in present_roles:
            reasons.append(f"No {role} dataset version is linked to the model version.")
    for dataset in datasets:
        problems = []
        missing = [name for name in required_fields if not (dataset["datasheet"].get(name) or "").strip()]
        if missing:
            problems.append(f"datasheet fields missing: {', '.join(missing)}")
        if dataset["lifecycle_state"] != "active":
            problems.append(f"the dataset version is {dataset['lifecycle_state']}, so its data can no longer be checked")
        if dataset["contains_personal_data"]:
            if not dataset["legal_basis"]:
                problems.append("personal data without a GDPR Art. 6(1) legal basis")
            retention = dataset["retention_until"]
            if not retention:
                problems.append("personal data without a retention date")
            elif dt.date.fromisoformat(retention) < today:
                problems.append(f"its retention period ended on {retention}")
        if dataset["contains_special_category_data"] and not dataset["special_category_justification"].strip():
            problems.append("special-category data without the Art. 10(5) justification")
        if thresholds.get("require_protected_attributes_on_evaluation") and dataset["role"] == "test" \
                and not dataset["protected_attributes"]:
            problems.append("the evaluation dataset declares no protected attributes, so bias cannot be examined")
        rows.append({"dataset": dataset["label"], "role": dataset["role"], "problems": problems,
                     "missing_datasheet_fields": missing})
        reasons.extend(f"{dataset['label']} ({dataset['role']}): {problem}." for problem in problems)
    return {"datasets": rows, "required_datasheet_fields": required_fields, "reasons": reasons}


def assess_documentation(documentation: dict[str, str], *, required_fields: list[str]) -> dict:
    """`documentation` maps field -> text (model version fields and what came with the submission)."""
    present = {name: bool(str(documentation.get(name) or "").strip()) for name in required_fields}
    missing = [name for name, ok in present.items() if not ok]
    reasons = [f"Mandatory documentation missing: {', '.join(missing)}."] if missing else []
    return {"required_fields": list(required_fields), "present": present, "missing": missing, "reasons": reasons}
