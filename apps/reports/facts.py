"""The facts a document shows, read from the registry, reviews and the audit log as they stood at one
signed checkpoint, as plain JSON-able data.

The same dict feeds the PDF and the machine-readable JSON of an evidence pack, and its canonical
SHA-256 is the document's content hash. Nothing here reads the clock: rows created after the
checkpoint's last entry are left out, and fields changed later are taken back to their value at that
time from the audit log (use-case descriptions, tier, case status), so a document regenerated from the
same checkpoint shows the same facts.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from django.db.models import Min, Q

from apps.audit import services as audit_services
from apps.audit.actions import Action
from apps.audit.encoding import canonical_json, normalise
from apps.audit.models import AuditEntry, Checkpoint
from apps.common.errors import NotFound, ValidationFailed
from apps.registry.models import (
    ART5_PRACTICES,
    DATASHEET_FIELDS,
    Art50Duty,
    Art63Exemption,
    ClassificationDecision,
    DatasetVersion,
    Deployment,
    LegalBasis,
    ModelRiskTier,
    ModelVersion,
    OperatorRole,
    RiskClass,
    UseCase,
)
from apps.reviews.models import (
    CheckKind,
    CheckPlot,
    CheckResult,
    Decision,
    Finding,
    ReviewCase,
    RiskAcceptance,
    SignatureMeaning,
)


def when(value: dt.datetime | dt.date | None) -> str | None:
    """A time as every document prints it: UTC, to the second."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return value.isoformat()


def content_sha256(facts: dict) -> str:
    """SHA-256 of the audit log's canonical JSON of `facts` (floats as their repr strings)."""
    return hashlib.sha256(canonical_json(normalise(facts))).hexdigest()


def _person(user) -> str | None:
    if user is None:
        return None
    return f"{user.display_name} ({user.get_username()})"


# --- the checkpoint a document reflects -------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A signed checkpoint and the time of the last entry it covers: what "as of" means in a document."""

    tree_size: int
    root_hash: str
    origin: str
    key_name: str
    key_id: str
    signed_at: dt.datetime
    as_of: dt.datetime
    note: str

    @property
    def last_index(self) -> int:
        return self.tree_size - 1

    def describe(self) -> dict:
        return {"origin": self.origin, "tree_size": self.tree_size, "root_hash": self.root_hash,
                "key_name": self.key_name, "key_id": self.key_id, "signed_at": when(self.signed_at),
                "as_of": when(self.as_of)}


def pin_snapshot(*, tree_size: int | None = None) -> Snapshot:
    """The checkpoint of `tree_size` entries, or (None) a checkpoint of everything committed now — signed
    first when the log grew since the latest one."""
    if tree_size is None:
        checkpoint = audit_services.checkpoint_sign(actor=audit_services.SYSTEM)
    else:
        checkpoint = Checkpoint.objects.select_related("signing_key").filter(tree_size=tree_size).first()
        if checkpoint is None:
            raise ValidationFailed(f"There is no signed checkpoint of {tree_size} entries.",
                                   field_errors={"checkpoint": ["No such checkpoint."]})
    if checkpoint is None or checkpoint.tree_size == 0:
        raise ValidationFailed("The audit log is empty; there is nothing a document could reflect.")
    last = AuditEntry.objects.filter(index=checkpoint.tree_size - 1).values_list("timestamp", flat=True).first()
    return Snapshot(
        tree_size=checkpoint.tree_size,
        root_hash=base64.b64encode(bytes(checkpoint.root_hash)).decode("ascii"),
        origin=checkpoint.note.split("\n", 1)[0],
        key_name=checkpoint.signing_key.name,
        key_id=checkpoint.signing_key.key_id,
        signed_at=checkpoint.created_at,
        as_of=last,
        note=checkpoint.note,
    )


def first_index_about(subjects: dict[str, list], snap: Snapshot) -> int | None:
    """The smallest index below the checkpoint of an entry about any of `subjects` (type -> ids)."""
    condition = Q()
    for subject_type, ids in subjects.items():
        if ids:
            condition |= Q(subject_type=subject_type, subject_id__in=[str(pk) for pk in ids])
    if not condition:
        return None
    return AuditEntry.objects.filter(condition, index__lt=snap.tree_size).aggregate(first=Min("index"))["first"]


# --- registry ---------------------------------------------------------------------------------------


def _later_entries(subject_type: str, subject_id, actions, snap: Snapshot):
    return (AuditEntry.objects.filter(subject_type=subject_type, subject_id=str(subject_id), action__in=actions,
                                      index__gte=snap.tree_size)
            .order_by("-index").values_list("data", flat=True))


def use_case_facts(use_case: UseCase, snap: Snapshot) -> dict:
    """The use case and its EU AI Act classification as they stood at the checkpoint."""
    described = {
        "key": use_case.key, "name": use_case.name, "intended_purpose": use_case.intended_purpose,
        "business_owner": use_case.business_owner.get_username(), "operator_role": use_case.operator_role,
        "affected_persons": use_case.affected_persons, "member_states": list(use_case.member_states),
    }
    tier = {"tier": use_case.model_risk_tier, "rationale": use_case.model_risk_tier_rationale}
    # Undo, newest first, what was changed after the checkpoint (the entries carry the values before).
    for data in _later_entries("registry.usecase", use_case.pk, [Action.REGISTRY_USE_CASE_UPDATED], snap):
        described.update(data.get("before", {}))
    for data in _later_entries("registry.usecase", use_case.pk, [Action.REGISTRY_USE_CASE_RISK_TIER_SET], snap):
        before = data.get("before") or {}
        tier = {"tier": before.get("tier", ""), "rationale": before.get("rationale", "")}
    owner = use_case.business_owner
    owner_name = (_person(owner) if owner.get_username() == described["business_owner"]
                  else described["business_owner"])
    classification = (ClassificationDecision.objects.filter(use_case=use_case, decided_at__lte=snap.as_of)
                      .select_related("annex_iii_point", "decided_by").order_by("-decided_at", "-pk").first())
    return {
        "key": described["key"],
        "name": described["name"],
        "intended_purpose": described["intended_purpose"],
        "owner_team": f"{use_case.owner_team.name} ({use_case.owner_team.key})",
        "business_owner": owner_name,
        "operator_role": OperatorRole(described["operator_role"]).label if described["operator_role"] else "",
        "affected_persons": described["affected_persons"],
        "member_states": described["member_states"],
        "model_risk_tier": ModelRiskTier(str(tier["tier"])).label if tier["tier"] else "",
        "model_risk_tier_rationale": tier["rationale"] or "",
        "classification": None if classification is None else classification_facts(classification),
    }


def classification_facts(decision: ClassificationDecision) -> dict:
    point = decision.annex_iii_point
    return {
        "risk_class": decision.risk_class,
        "risk_class_label": RiskClass(decision.risk_class).label,
        "art5": {f"Art. 5(1)({letter})": answer for letter, answer in decision.art5_answers.items()},
        "art5_practices": dict(ART5_PRACTICES),
        "annex_i_safety_component": decision.annex_i_safety_component,
        "annex_iii_point": None if point is None else f"{point.code} {point.title}",
        "profiles_natural_persons": decision.profiles_natural_persons,
        "art6_3_exemption": Art63Exemption(decision.art6_3_exemption).label if decision.art6_3_exemption else "",
        "art6_3_rationale": decision.art6_3_rationale,
        "art50_duties": [Art50Duty(duty).label for duty in decision.art50_duties],
        "rationale": decision.rationale,
        "decided_by": _person(decision.decided_by) or "Docket",
        "decided_at": when(decision.decided_at),
    }


def dataset_version_facts(version: DatasetVersion, *, role: str | None = None) -> dict:
    datasheet = version.datasheet()
    return {
        "dataset": version.dataset.key,
        "name": version.dataset.name,
        "number": version.number,
        "label": str(version),
        "role": role,
        "source_system": version.dataset.source_system,
        "content_sha256": version.content_sha256,
        "row_count": version.row_count,
        "columns": [f"{column['name']} ({column['type']})" for column in version.schema],
        "contains_personal_data": version.contains_personal_data,
        "contains_special_category_data": version.contains_special_category_data,
        "special_category_justification": version.special_category_justification,
        "protected_attributes": list(version.protected_attributes),
        "legal_basis": LegalBasis(version.legal_basis).label if version.legal_basis else "",
        "retention_until": when(version.retention_until),
        "registered_at": when(version.registered_at),
        "datasheet": {DATASHEET_FIELDS[name]: value for name, value in datasheet.items()},
        "datasheet_missing": [DATASHEET_FIELDS[name] for name, value in datasheet.items() if not value.strip()],
    }


def model_version_facts(version: ModelVersion) -> dict:
    links = sorted(version.dataset_links.all(), key=lambda link: (link.role, link.dataset_version_id))
    claims = sorted(version.claimed_metrics.all(), key=lambda claim: (claim.name, claim.dataset_version_id))
    developers = sorted(version.developer_links.all(), key=lambda link: link.pk)  # in the order named
    return {
        "use_case": version.model.use_case.key,
        "model": version.model.key,
        "model_name": version.model.name,
        "model_description": version.model.description,
        "number": version.number,
        "label": str(version),
        "registered_by": _person(version.registered_by) or "Docket",
        "registered_at": when(version.registered_at),
        "developers": [_person(link.user) for link in developers],
        "artifact_sha256": version.artifact_sha256,
        "artifact_format": version.artifact_format,
        "artifact_size": version.artifact_size,
        "framework": version.framework,
        "framework_version": version.framework_version,
        "library_versions": dict(sorted(version.library_versions.items())),
        "training_code_repository": version.training_code_repository,
        "training_code_commit": version.training_code_commit,
        "hyperparameters": dict(sorted(version.hyperparameters.items())),
        "features": list(version.features),
        "intended_use": version.intended_use,
        "out_of_scope_uses": version.out_of_scope_uses,
        "limitations": version.limitations,
        "parent": None if version.parent_id is None else version.parent.number,
        "datasets": [dataset_version_facts(link.dataset_version, role=link.role) for link in links],
        "claimed_metrics": [{"name": claim.name, "value": claim.value, "dataset": str(claim.dataset_version),
                             "higher_is_better": claim.higher_is_better, "threshold_note": claim.threshold_note}
                            for claim in claims],
    }


def model_history_facts(version: ModelVersion, snap: Snapshot) -> dict:
    """Every version of the version's model registered by the checkpoint, and its deployments."""
    versions = (ModelVersion.objects.filter(model=version.model, registered_at__lte=snap.as_of)
                .select_related("parent", "registered_by").order_by("number"))
    deployments = (Deployment.objects.filter(model=version.model, created_at__lte=snap.as_of)
                   .select_related("model_version", "deployed_by").order_by("deployed_at", "pk"))
    return {
        "versions": [{"number": item.number, "registered_at": when(item.registered_at),
                      "registered_by": _person(item.registered_by) or "Docket",
                      "artifact_sha256": item.artifact_sha256,
                      "parent": None if item.parent_id is None else item.parent.number}
                     for item in versions],
        "deployments": [{"version": item.model_version.number, "environment": item.environment,
                         "deployed_at": when(item.deployed_at), "deployed_by": _person(item.deployed_by) or "Docket",
                         "pipeline_run": item.pipeline_run,
                         "status": item.status if item.status_changed_at is None or item.status_changed_at <= snap.as_of
                         else "active"}
                        for item in deployments],
    }


# --- reviews ----------------------------------------------------------------------------------------


def _case_status_at(case: ReviewCase, snap: Snapshot) -> str:
    if case.status_changed_at <= snap.as_of:
        return case.status
    about_case = Q(subject_type="reviews.reviewcase", subject_id=str(case.pk)) | Q(
        action=Action.REVIEWS_DECISION_SIGNED, data__case=case.pk)
    for data in (AuditEntry.objects.filter(about_case, index__lt=snap.tree_size).order_by("-index")
                 .values_list("data", flat=True)):
        status = data.get("status")
        if isinstance(status, dict) and status.get("after"):
            return status["after"]
    return "open"


def _check_facts(result: CheckResult, snap: Snapshot) -> dict:
    finished = result.finished_at is not None and result.finished_at <= snap.as_of
    acceptance = RiskAcceptance.objects.filter(check_result=result, accepted_at__lte=snap.as_of).select_related(
        "accepted_by").first()
    facts = {"kind": result.kind, "label": CheckKind(result.kind).label,
             "status": result.status if finished else ("running" if result.started_at and result.started_at
                                                        <= snap.as_of else "pending")}
    if finished:
        facts.update({
            "summary": result.summary,
            "failure_reasons": list(result.failure_reasons),
            "metrics": result.metrics,
            "thresholds_applied": result.thresholds_applied,
            "library_versions": dict(sorted(result.library_versions.items())),
            "random_seed": result.random_seed,
            "sample_sizes": result.sample_sizes,
            "model_sha256": result.model_sha256,
            "data_sha256": dict(sorted(result.data_sha256.items())),
            "result_sha256": result.result_sha256,
            "finished_at": when(result.finished_at),
            "plots": [{"name": plot.name, "sha256": plot.sha256, "path": plot.image.name}
                      for plot in CheckPlot.objects.filter(check_result=result).order_by("name")],
        })
    facts["risk_acceptance"] = None if acceptance is None else {
        "rationale": acceptance.rationale, "accepted_by": _person(acceptance.accepted_by),
        "accepted_at": when(acceptance.accepted_at)}
    return facts


def review_case_facts(case: ReviewCase, snap: Snapshot) -> dict:
    """A review case as it stood at the checkpoint: policy, locked thresholds, checks, findings,
    risk acceptances, signatures and approval."""
    findings = []
    for finding in (Finding.objects.filter(case=case, raised_at__lte=snap.as_of)
                    .select_related("owner", "raised_by", "resolved_by").order_by("raised_at", "pk")):
        resolved = finding.resolved_at is not None and finding.resolved_at <= snap.as_of
        findings.append({
            "id": finding.pk, "severity": finding.severity, "title": finding.title,
            "description": finding.description, "owner": _person(finding.owner), "due_date": when(finding.due_date),
            "raised_by": _person(finding.raised_by), "raised_at": when(finding.raised_at),
            "status": "resolved" if resolved else "open",
            "resolution": finding.resolution if resolved else "",
            "resolved_by": _person(finding.resolved_by) if resolved else None,
            "resolved_at": when(finding.resolved_at) if resolved else None,
        })
    signatures = [{
        "meaning": decision.meaning, "statement": SignatureMeaning(decision.meaning).label,
        "printed_name": decision.signer_printed_name, "signer": decision.signer.get_username(),
        "signed_at": when(decision.signed_at), "comment": decision.comment,
        "manifest_sha256": decision.manifest_sha256, "audit_index": decision.audit_index,
    } for decision in (Decision.objects.filter(case=case, signed_at__lte=snap.as_of).select_related("signer")
                       .order_by("signed_at", "pk"))]
    approval = getattr(case, "approval", None) if hasattr(case, "approval") else None
    if approval is not None and approval.approved_at > snap.as_of:
        approval = None
    revoked = approval is not None and approval.revoked_at is not None and approval.revoked_at <= snap.as_of
    policy = case.policy_snapshot
    return {
        "id": case.pk,
        "model_version": str(case.model_version),
        "artifact_sha256": case.model_version.artifact_sha256,
        "environment": case.environment,
        "status": _case_status_at(case, snap),
        "opened_at": when(case.opened_at),
        "submitted_by": _person(case.submitted_by),
        "previous_case": case.previous_case_id,
        "policy": {"key": policy["key"], "version": policy["version"], "name": policy.get("name", ""),
                   "required_checks": policy.get("required_checks", []),
                   "validations_required": policy.get("validations_required"),
                   "approvals_required": policy.get("approvals_required"),
                   "approval_validity_days": policy.get("approval_validity_days"),
                   "required_documentation_fields": policy.get("required_documentation_fields", []),
                   "snapshot_sha256": case.policy_snapshot_sha256},
        "thresholds": case.thresholds,
        "evaluation": case.evaluation,
        "documentation": dict(sorted(case.documentation.items())),
        "checks": [_check_facts(result, snap) for result in case.check_results.order_by("kind")
                   if result.queued_at <= snap.as_of],
        "findings": findings,
        "signatures": signatures,
        "approval": None if approval is None else {
            "environment": approval.environment, "artifact_sha256": approval.artifact_sha256,
            "approved_at": when(approval.approved_at), "expires_at": when(approval.expires_at),
            "conditions": list(approval.conditions),
            "revoked_at": when(approval.revoked_at) if revoked else None,
            "revocation_reason": approval.revocation_reason if revoked else "",
        },
    }


def cases_of(version: ModelVersion, snap: Snapshot) -> list[ReviewCase]:
    return list(ReviewCase.objects.filter(model_version=version, opened_at__lte=snap.as_of)
                .select_related("model_version__model__use_case", "submitted_by", "policy")
                .order_by("opened_at", "pk"))


def fairness_of(case_facts: dict | None) -> dict | None:
    """The fairness check's per-attribute results of a case, if it finished with groups."""
    for check in (case_facts or {}).get("checks", []):
        if check["kind"] == CheckKind.FAIRNESS and isinstance(check.get("metrics"), dict):
            by_attribute = check["metrics"].get("by_attribute")
            if by_attribute:
                locked = (case_facts.get("thresholds") or {}).get("fairness") or {}
                return {"by_attribute": by_attribute, "status": check["status"],
                        "thresholds": check.get("thresholds_applied") or locked}
    return None


def check_of(case_facts: dict | None, kind: str) -> dict | None:
    return next((check for check in (case_facts or {}).get("checks", []) if check["kind"] == kind), None)


def merged_documentation(cases: list[dict]) -> dict:
    """Documentation given with the submissions, the latest case's value winning for each field."""
    merged: dict = {}
    for case in cases:
        merged.update({key: value for key, value in case["documentation"].items() if value not in ("", None)})
    return dict(sorted(merged.items()))


def resolve_model_version(version_id) -> ModelVersion:
    version = (ModelVersion.objects.select_related("model__use_case__owner_team", "parent", "registered_by")
               .prefetch_related("dataset_links__dataset_version__dataset", "claimed_metrics__dataset_version__dataset",
                                 "developer_links__user")
               .filter(pk=version_id).first())
    if version is None:
        raise NotFound(f"No model version {version_id}.")
    return version
