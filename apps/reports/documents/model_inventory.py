"""Model inventory in the sense of SR 11-7: one entry per model of every use case the reader may see,
with the inventory fields the guidance lists, filled from the registry and the reviews or marked
MISSING with what is needed."""

from __future__ import annotations

from apps.registry import selectors as registry_selectors
from apps.registry.models import Model, ModelVersion

from .. import facts as f
from . import blocks, checklist
from .style import heading, key_values, para, value_or_missing

KIND_TITLE = "Model inventory (SR 11-7)"


def gather(reader, snap: f.Snapshot, *, limited_to: list[str] | None = None) -> dict:
    """Every model of the use cases `reader` may see (narrowed to `limited_to` keys, an API key's
    limits), as of the checkpoint."""
    use_cases = registry_selectors.use_case_list(fetched_by=reader).filter(created_at__lte=snap.as_of)
    if limited_to:
        use_cases = use_cases.filter(key__in=limited_to)
    use_cases = list(use_cases)
    entries = []
    for use_case in use_cases:
        use_case_facts = f.use_case_facts(use_case, snap)
        for model in Model.objects.filter(use_case=use_case, created_at__lte=snap.as_of).order_by("key"):
            latest = (ModelVersion.objects.filter(model=model, registered_at__lte=snap.as_of)
                      .order_by("-number").first())
            entries.append(_model_entry(use_case_facts, model, latest, snap))
    return {"use_cases": [use_case.key for use_case in use_cases], "models": entries,
            "audit_index_first": f.first_index_about({"registry.usecase": [u.pk for u in use_cases]}, snap)}


def _model_entry(use_case: dict, model: Model, latest: ModelVersion | None, snap: f.Snapshot) -> dict:
    entry = {"use_case": use_case["key"], "use_case_name": use_case["name"], "model": model.key,
             "model_name": model.name, "purpose": use_case["intended_purpose"],
             "risk_class": (use_case["classification"] or {}).get("risk_class_label", ""),
             "model_risk_tier": use_case["model_risk_tier"], "latest_version": None}
    if latest is None:
        return entry
    version = f.model_version_facts(f.resolve_model_version(latest.pk))
    cases = [f.review_case_facts(case, snap) for case in f.cases_of(latest, snap)]
    history = f.model_history_facts(latest, snap)
    validations = [s for case in cases for s in case["signatures"] if s["meaning"] == "validated"]
    approvals = [case["approval"] for case in cases if case["approval"] and not case["approval"]["revoked_at"]]
    exceptions = [f"{check['label']}: {check['risk_acceptance']['rationale']}" for case in cases
                  for check in case["checks"] if check.get("risk_acceptance")]
    entry.update({
        "latest_version": version["number"],
        "documentation": f.merged_documentation(cases),
        "usage": [f"v{d['version']} in {d['environment']} since {d['deployed_at']}" for d in history["deployments"]
                  if d["status"] == "active"],
        "restrictions": "; ".join(filter(None, [version["out_of_scope_uses"], version["limitations"]])),
        "inputs": version["features"],
        "sources": [f"{d['label']} ({d['role']}, {d['source_system'] or 'no source system'})"
                    for d in version["datasets"]],
        "intended_use": version["intended_use"],
        "works_as_intended": (f"review {cases[-1]['id']} {cases[-1]['status']}: "
                              + ", ".join(f"{c['kind']} {c['status']}" for c in cases[-1]["checks"])) if cases else "",
        "last_update": version["registered_at"],
        "policy_exceptions": exceptions,
        "developers": version["developers"],
        "registered_by": version["registered_by"],
        "validators": sorted({s["printed_name"] for s in validations}),
        "validations_done": [s["signed_at"] for s in validations],
        "next_validation_due": approvals[-1]["expires_at"] if approvals else "",
        "validity_period": (f"{cases[-1]['policy']['approval_validity_days']} days (policy "
                            f"{cases[-1]['policy']['key']} v{cases[-1]['policy']['version']})") if cases else "",
    })
    return entry


def story(facts: dict) -> list:
    story = blocks.cover(KIND_TITLE, f"{len(facts['models'])} models in {len(facts['use_cases'])} use cases", [
        ("Use cases", ", ".join(facts["use_cases"]) or "none visible to the reader"),
        ("Models", str(len(facts["models"]))),
        ("Reflects the audit log up to", f"checkpoint of {facts['document']['snapshot']['tree_size']} entries"),
    ])
    for entry in facts["models"]:
        story.append(heading(f"{entry['use_case']}/{entry['model']} — {entry['model_name']}"))
        if entry["latest_version"] is None:
            story.append(key_values([("Purpose and products", entry["purpose"]),
                                     ("Versions", value_or_missing(None, "a registered model version"))]))
            continue
        doc = entry["documentation"]
        def missing(value, needed):
            return value_or_missing(value, needed)
        story.append(key_values([
            ("Purpose and products", f"{entry['purpose']}" + (f" Products: {doc['products']}" if doc.get("products")
                                                               else "")),
            ("EU AI Act class / model-risk tier", f"{entry['risk_class'] or 'not classified'} / "
                                                  f"{entry['model_risk_tier'] or 'no tier'}"),
            ("Usage", missing(entry["usage"], "an active deployment (the model is not recorded as in use)")),
            ("Restrictions on use", missing(entry["restrictions"], "out-of-scope uses and limitations")),
            ("Inputs and their sources", missing(", ".join(entry["inputs"]) + (
                "; data: " + "; ".join(entry["sources"]) if entry["sources"] else ""), "input features and datasets")),
            ("Upstream models", missing(doc.get("upstream_models"), checklist.DOCUMENTATION_FIELDS["upstream_models"])),
            ("Outputs and intended use", entry["intended_use"]),
            ("Works as intended", missing(entry["works_as_intended"], "a review with completed checks")),
            ("Last update", f"version {entry['latest_version']}, {entry['last_update']}"),
            ("Policy exceptions", "; ".join(entry["policy_exceptions"]) or "none"),
            ("Developers", blocks.developers_text(entry)),
            ("Validators", missing(entry["validators"], "an independent validation (signed 'validated')")),
            ("Validations done", missing(entry["validations_done"], "a completed validation")),
            ("Next validation due", missing(entry["next_validation_due"], "an approval with an expiry date")),
            ("Expected validity period", missing(entry["validity_period"], "a review policy's approval validity")),
        ], label_width=0.3))
    if not facts["models"]:
        story.append(para("No model is visible to the reader.", "note"))
    return story
