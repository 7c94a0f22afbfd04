"""Model card (Mitchell et al. 2019) for one model version: the nine sections, each filled from the
registry and the latest review, or marked MISSING with what is needed."""

from __future__ import annotations

from apps.registry.models import ModelVersion

from .. import facts as f
from . import annex_iv, blocks, checklist
from .style import heading, key_values, missing_text, number, para, value_or_missing

KIND_TITLE = "Model card"


def gather(version: ModelVersion, snap: f.Snapshot) -> dict:
    """The same facts as the Annex IV document (a model card is a view of them)."""
    return annex_iv.gather(version, snap)


def story(facts: dict) -> list:
    use_case, version = facts["use_case"], facts["model_version"]
    documentation = facts["documentation"]
    latest = facts["reviews"][-1] if facts["reviews"] else None
    def doc(field):
        return value_or_missing(documentation.get(field), checklist.DOCUMENTATION_FIELDS[field])
    evaluation = [d for d in version["datasets"] if d["role"] in ("test", "validation")]
    training = [d for d in version["datasets"] if d["role"] == "train"]
    protected = sorted({attribute for d in evaluation for attribute in d["protected_attributes"]})
    story = blocks.cover(KIND_TITLE, f"{version['model_name']} — {version['label']}", [
        ("Model", f"{version['model_name']} ({version['use_case']}/{version['model']})"),
        ("Version", str(version["number"])),
        ("Artifact SHA-256", para(version["artifact_sha256"], "mono")),
        ("Reflects the audit log up to", f"checkpoint of {facts['document']['snapshot']['tree_size']} entries"),
    ])
    story.append(heading("Model details"))
    story.append(key_values([
        ("Developers", blocks.developers_text(version)),
        ("Date", version["registered_at"]),
        ("Version", f"{version['number']}" + (f" (corrects v{version['parent']})" if version["parent"] else "")),
        ("Type", f"{version['framework']} {version['framework_version']} ({version['artifact_format']})".strip()),
        ("Licence", doc("licence")),
        ("Owner and contact", documentation.get("contact") or f"{use_case['business_owner']}, team "
                                                              f"{use_case['owner_team']}"),
    ]))
    story.append(heading("Intended use"))
    story.append(key_values([
        ("Primary intended uses", version["intended_use"]),
        ("System purpose", use_case["intended_purpose"]),
        ("Out-of-scope uses", value_or_missing(version["out_of_scope_uses"], "the uses the model must not serve")),
    ]))
    story.append(heading("Factors"))
    story.append(key_values([
        ("Relevant groups (protected attributes)", value_or_missing(
            protected, "protected attributes declared on the evaluation dataset")),
        ("Affected persons", value_or_missing(use_case["affected_persons"], "who the model is used on")),
    ]))
    story.append(heading("Metrics"))
    story.append(key_values([
        ("Claimed metrics", value_or_missing([f"{c['name']} = {number(c['value'])} on {c['dataset']}"
                                              for c in version["claimed_metrics"]], "claimed metrics")),
        ("Decision thresholds (locked by the review policy)",
         value_or_missing(blocks.as_text(latest["thresholds"]) if latest else "", "a review with locked thresholds")),
        ("Why these metrics", doc("metrics_rationale")),
    ]))
    story += blocks.metrics_table(f.check_of(latest, "performance"))
    story.append(heading("Evaluation data"))
    story += [item for d in evaluation for item in blocks.datasheet(d)] or [
        para(missing_text("a test or validation dataset version linked to the model version"), markup=True)]
    story.append(heading("Training data"))
    story += [item for d in training for item in blocks.datasheet(d)] or [
        para(missing_text("the training dataset version linked to the model version"), markup=True)]
    story.append(heading("Quantitative analyses"))
    story += blocks.fairness_tables(f.fairness_of(latest), needed="a completed fairness check (per group and "
                                                                  "intersectional)")
    story.append(heading("Ethical considerations"))
    story.append(key_values([("Ethical considerations", doc("ethical_considerations"))]))
    story.append(heading("Caveats and recommendations"))
    story.append(key_values([
        ("Limitations", value_or_missing(version["limitations"], "the known limitations")),
        ("Human oversight", doc("human_oversight")),
    ]))
    return story
