"""Validation report for one review case: the policy and its locked thresholds, every check result,
the findings and their resolution, risk acceptances and the signatures (printed name, time, meaning)."""

from __future__ import annotations

from apps.reviews.models import ReviewCase

from .. import facts as f
from . import blocks
from .style import heading, key_values, para, table

KIND_TITLE = "Validation report"


def gather(case: ReviewCase, snap: f.Snapshot) -> dict:
    version = f.resolve_model_version(case.model_version_id)
    subjects = {"reviews.reviewcase": [case.pk], "registry.modelversion": [version.pk],
                "reviews.decision": list(case.decisions.values_list("pk", flat=True)),
                "reviews.finding": list(case.findings.values_list("pk", flat=True)),
                "reviews.checkresult": list(case.check_results.values_list("pk", flat=True))}
    return {
        "use_case": f.use_case_facts(version.model.use_case, snap),
        "model_version": f.model_version_facts(version),
        "review": f.review_case_facts(case, snap),
        "audit_index_first": f.first_index_about(subjects, snap),
    }


def story(facts: dict) -> list:
    review, version = facts["review"], facts["model_version"]
    policy = review["policy"]
    story = blocks.cover(KIND_TITLE, f"Review {review['id']} of {version['label']} for {review['environment']}", [
        ("Model version", version["label"]),
        ("Artifact SHA-256", para(version["artifact_sha256"], "mono")),
        ("Target environment", review["environment"]),
        ("Status at the checkpoint", review["status"]),
        ("Opened", f"{review['opened_at']} by {review['submitted_by']}"),
        ("Reflects the audit log up to", f"checkpoint of {facts['document']['snapshot']['tree_size']} entries"),
    ])
    story.append(heading("Policy and locked thresholds"))
    story.append(key_values([
        ("Policy", f"{policy['key']} v{policy['version']} {policy['name']}".strip()),
        ("Policy snapshot SHA-256", para(policy["snapshot_sha256"], "mono")),
        ("Required checks", ", ".join(policy["required_checks"]) or "none"),
        ("Validators / approvers required", f"{policy['validations_required']} / {policy['approvals_required']}"),
        ("Approval validity", f"{policy['approval_validity_days']} days"),
        ("Required documentation", ", ".join(policy["required_documentation_fields"]) or "none"),
        ("Evaluation (locked)", blocks.as_text(review["evaluation"])),
    ]))
    rows = []
    for section, values in sorted(review["thresholds"].items()):
        for name, value in sorted((values or {}).items()) if isinstance(values, dict) else [("", values)]:
            rows.append([section, name, blocks.as_text(value)])
    story.append(table(["check", "threshold", "locked value"], rows, widths=[1.2, 2.2, 3]))
    story.append(heading("Check results"))
    for check in review["checks"]:
        story += blocks.check_block(check, locked_fairness=review["thresholds"].get("fairness"))
    story.append(heading("Findings and their resolution"))
    story += blocks.findings_table(review["findings"])
    story.append(heading("Risk acceptances"))
    story += blocks.risk_acceptances_table(review["checks"])
    story.append(heading("Signatures (21 CFR Part 11 §11.50)"))
    story += blocks.signatures_table(review["signatures"])
    story.append(para("Each signature's manifest SHA-256 covers the artifact, the policy snapshot, every check "
                      "result and its risk acceptance, the findings and the earlier signatures; the audit index is "
                      "the reviews.decision.signed entry that binds it into the log.", "note"))
    if review["approval"]:
        approval = review["approval"]
        story.append(heading("Approval"))
        story.append(key_values([
            ("Environment", approval["environment"]), ("Approved at", approval["approved_at"]),
            ("Expires at", approval["expires_at"]), ("Conditions", "; ".join(approval["conditions"]) or "none"),
            ("Revoked", f"{approval['revoked_at']}: {approval['revocation_reason']}" if approval["revoked_at"]
             else "no"),
        ]))
    return story
