"""Every change to reviews: policies, cases and their transitions, check runs, findings, risk acceptances
and signed decisions. Each service checks permission, validates (changing nothing when it refuses),
makes the change and writes its audit entry in one transaction; Celery work is queued on commit."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import can_review_use_case, can_submit_to_use_case
from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.audit.encoding import canonical_json, normalise
from apps.audit.services import SYSTEM, record
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, validation_error
from apps.common.hashing import sha256_of_file
from apps.lineage import services as lineage_services
from apps.registry.models import DATASHEET_FIELDS, DatasetRole, DatasetVersion, ModelVersion, RiskClass

from . import sandbox, selectors
from .checks import governance
from .models import (
    Approval,
    CheckKind,
    CheckPlot,
    CheckResult,
    CheckStatus,
    Decision,
    Finding,
    FindingSeverity,
    FindingStatus,
    ReviewCase,
    ReviewPolicy,
    ReviewStatus,
    RiskAcceptance,
    SignatureMeaning,
)

MODEL_CHECKS = frozenset({CheckKind.EXPLAINABILITY, CheckKind.FAIRNESS, CheckKind.PERFORMANCE})
THRESHOLD_SECTIONS = {
    CheckKind.FAIRNESS: "fairness",
    CheckKind.PERFORMANCE: "performance",
    CheckKind.EXPLAINABILITY: "explainability",
    CheckKind.DATA_GOVERNANCE: "data_governance",
    CheckKind.DOCUMENTATION: "documentation",
}
# Model-version fields the documentation check can find; anything else comes from the submission.
MODEL_VERSION_DOCUMENTATION_FIELDS = (
    "intended_use", "out_of_scope_uses", "limitations", "features", "training_code_repository",
    "training_code_commit", "hyperparameters",
)


def sha256_of_data(value) -> str:
    """Hex SHA-256 of the audit log's canonical JSON encoding of `value`."""
    return hashlib.sha256(canonical_json(normalise(value))).hexdigest()


def _is_admin(actor) -> bool:
    return actor is SYSTEM or bool(
        getattr(actor, "pk", None) and actor.is_active and (actor.is_superuser or actor.has_role(Role.ADMIN))
    )


def _require_person(actor, *, doing: str) -> None:
    if actor is SYSTEM or not getattr(actor, "pk", None) or not actor.is_active:
        raise PermissionDenied(f"Only an active, signed-in person may {doing}.")
    if actor.is_service_account:
        raise PermissionDenied(f"A service account cannot {doing}: it needs a person who can sign.")
    if actor.has_role(Role.AUDITOR) and not actor.has_role(Role.ADMIN):
        raise PermissionDenied("Auditors read reviews; they cannot change them.")


# --- policies ---------------------------------------------------------------------------------------


def _clean_policy(data: Mapping, *, errors: dict[str, list[str]]) -> dict:
    def add(name, message):
        errors.setdefault(name, []).append(message)

    cleaned = {}
    for name in ("key", "name", "change_reason"):
        value = str(data.get(name) or "").strip()
        if not value:
            add(name, "This field is required.")
        cleaned[name] = value
    risk_class = str(data.get("risk_class") or "")
    if risk_class and risk_class not in RiskClass.values:
        add("risk_class", f"Unknown risk class {risk_class!r}.")
    if risk_class == RiskClass.PROHIBITED:
        add("risk_class", "Prohibited AI practices (Art. 5) are never reviewed for use.")
    tier = str(data.get("model_risk_tier") or "")
    if tier and tier not in ("1", "2", "3"):
        add("model_risk_tier", "The model-risk tier is 1, 2 or 3, or blank for any.")
    checks = data.get("required_checks")
    if not isinstance(checks, (list, tuple)) or any(check not in CheckKind.values for check in checks):
        add("required_checks", f"A list of check kinds out of: {', '.join(CheckKind.values)}.")
        checks = []
    elif len(set(checks)) != len(checks):
        add("required_checks", "A check is listed twice.")
    thresholds = data.get("thresholds")
    if not isinstance(thresholds, dict) or any(not isinstance(value, dict) for value in thresholds.values()):
        add("thresholds", "An object with one object of thresholds per check kind.")
        thresholds = {}
    else:
        unknown = sorted(set(thresholds) - set(THRESHOLD_SECTIONS.values()))
        if unknown:
            add("thresholds", f"Unknown threshold sections: {', '.join(unknown)}.")
        try:
            normalise(thresholds)
            json.dumps(thresholds, allow_nan=False)
        except (ValueError, TypeError) as exc:
            add("thresholds", f"Thresholds must be plain JSON numbers, strings and lists: {exc}.")
    counts = {}
    for name in ("validations_required", "approvals_required", "approval_validity_days"):
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            add(name, "A whole number of at least 1.")
            value = 1
        counts[name] = value
    documentation = data.get("required_documentation_fields", [])
    if not isinstance(documentation, (list, tuple)) or not all(isinstance(item, str) and item for item in documentation):
        add("required_documentation_fields", "A list of field names.")
        documentation = []
    return {
        **cleaned, "risk_class": risk_class, "model_risk_tier": tier, "required_checks": list(checks),
        "thresholds": thresholds, **counts, "required_documentation_fields": list(documentation),
    }


def policy_version_create(*, actor, **fields) -> ReviewPolicy:
    """Creates the next version of the policy `key` (version 1 for a new key); earlier versions stay
    as they were, and open review cases keep the snapshot they locked. Administrators only.

    Fields: key, name, risk_class ("" = any), model_risk_tier ("" = any), required_checks, thresholds
    ({check kind: {...}}), validations_required, approvals_required, approval_validity_days,
    required_documentation_fields, change_reason. A key keeps its scope (risk class and tier) across
    versions, and no two keys share a scope.
    """
    if not _is_admin(actor):
        raise PermissionDenied("Only administrators may change review policies.")
    errors: dict[str, list[str]] = {}
    cleaned = _clean_policy(fields, errors=errors)
    if errors:
        raise ValidationFailed("The policy version was not created", field_errors=errors)
    with transaction.atomic():
        previous = (
            ReviewPolicy.objects.select_for_update().filter(key=cleaned["key"]).order_by("-version").first()
        )
        if previous is not None and (previous.risk_class, previous.model_risk_tier) != (
            cleaned["risk_class"], cleaned["model_risk_tier"]
        ):
            raise validation_error("risk_class", f"Policy {previous.key} applies to risk class "
                                                 f"{previous.risk_class or 'any'} and tier {previous.model_risk_tier or 'any'}; "
                                                 "create a new key for another scope.")
        clash = selectors.current_policies().filter(
            risk_class=cleaned["risk_class"], model_risk_tier=cleaned["model_risk_tier"]
        ).exclude(key=cleaned["key"]).first()
        if clash is not None:
            raise validation_error("key", f"Policy {clash.key} already covers this risk class and tier.")
        policy = ReviewPolicy(
            **cleaned,
            version=(previous.version + 1) if previous else 1,
            created_by=None if actor is SYSTEM else actor,
            created_at=timezone.now(),
        )
        policy.save()
        record(
            actor=actor,
            action=Action.REVIEWS_POLICY_VERSION_CREATED,
            subject=policy,
            data={
                "key": policy.key,
                "version": policy.version,
                "before": previous.snapshot() if previous else None,
                "after": policy.snapshot(),
                "change_reason": policy.change_reason,
            },
        )
    return policy


def policy_defaults_load(*, actor=SYSTEM, path: Path | None = None) -> list[ReviewPolicy]:
    """Creates version 1 of every default policy in fixtures/review_policies.json whose key does not
    exist yet. Existing keys are left as they are (an admin may have changed them). Idempotent."""
    path = path or Path(settings.BASE_DIR) / "fixtures" / "review_policies.json"
    created = []
    for entry in json.loads(Path(path).read_text(encoding="utf-8")):
        if not ReviewPolicy.objects.filter(key=entry["key"]).exists():
            created.append(policy_version_create(actor=actor, **entry))
    return created


# --- opening a case ---------------------------------------------------------------------------------


def _evaluation_dataset(model_version: ModelVersion) -> DatasetVersion | None:
    link = model_version.dataset_links.filter(role=DatasetRole.TEST).select_related("dataset_version").first()
    return link.dataset_version if link else None


def review_open(
    *,
    actor,
    model_version: ModelVersion,
    environment: str,
    label_column: str = "",
    positive_label: str | int = 1,
    documentation: Mapping[str, str] | None = None,
    previous_case: ReviewCase | None = None,
) -> ReviewCase:
    """Opens a review of `model_version` for `environment` under the current policy for its use case's
    risk class and tier. The policy snapshot, its thresholds and the evaluation spec (the version's test
    dataset, its label column and positive label) are locked now, before any result exists. The checks
    are queued once the transaction commits.

    A resubmission names the case that requested changes (`previous_case`: same model and environment)."""
    use_case = model_version.model.use_case
    if actor is SYSTEM or not can_submit_to_use_case(actor, use_case):
        raise PermissionDenied(f"You may not submit versions of use case '{use_case.key}' for review.")
    if actor.has_role(Role.AUDITOR) and not actor.has_role(Role.ADMIN):
        raise PermissionDenied("Auditors read reviews; they cannot submit.")
    errors: dict[str, list[str]] = {}
    environment = str(environment or "").strip()
    if environment not in settings.DOCKET_ENVIRONMENTS:
        errors["environment"] = [f"Choose one of: {', '.join(settings.DOCKET_ENVIRONMENTS)}."]
    documentation = dict(documentation or {})
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in documentation.items()):
        errors["documentation"] = ["Documentation is a mapping of field names to text."]
    if not use_case.risk_class:
        errors["model_version"] = [f"Use case '{use_case.key}' has not been classified under the EU AI Act yet."]
    elif use_case.risk_class == RiskClass.PROHIBITED:
        errors["model_version"] = [f"Use case '{use_case.key}' is a prohibited practice (Art. 5); it cannot be "
                                   "reviewed for use."]
    policy = selectors.policy_for(risk_class=use_case.risk_class, model_risk_tier=use_case.model_risk_tier)
    if policy is None and "model_version" not in errors:
        errors["model_version"] = [f"No review policy covers risk class {use_case.risk_class} and tier "
                                   f"{use_case.model_risk_tier or 'unset'}; an administrator must create one."]
    evaluation_dataset = _evaluation_dataset(model_version)
    label_column = str(label_column or "").strip()
    if evaluation_dataset is not None:
        if not label_column:
            errors["label_column"] = [f"Name the label column of the test dataset {evaluation_dataset}."]
        elif label_column not in evaluation_dataset.column_names:
            errors["label_column"] = [f"{evaluation_dataset} has no column {label_column!r}."]
        elif label_column in (model_version.features or []):
            errors["label_column"] = [f"{label_column!r} is one of the model's input features."]
    if not isinstance(positive_label, (str, int)) or isinstance(positive_label, bool):
        errors["positive_label"] = ["The positive label is a string or an integer."]
    if previous_case is not None:
        if previous_case.status != ReviewStatus.CHANGES_REQUESTED:
            errors["previous_case"] = [f"Review {previous_case.pk} did not request changes; only such a case can "
                                       "be resubmitted."]
        elif previous_case.model_version.model_id != model_version.model_id or previous_case.environment != environment:
            errors["previous_case"] = [f"Review {previous_case.pk} is for another model or environment."]
        elif ReviewCase.objects.filter(previous_case=previous_case).exists():
            errors["previous_case"] = [f"Review {previous_case.pk} has already been resubmitted."]
    if errors:
        raise ValidationFailed("The review was not opened", field_errors=errors)
    if ReviewCase.objects.filter(model_version=model_version, environment=environment).exclude(
        status__in=[s.value for s in (ReviewStatus.APPROVED, ReviewStatus.REJECTED, ReviewStatus.CHANGES_REQUESTED,
                                      ReviewStatus.WITHDRAWN)]
    ).exists():
        raise Conflict(f"{model_version} already has a review in progress for {environment}.")

    snapshot = policy.snapshot()
    evaluation = {
        "dataset_version_id": evaluation_dataset.pk if evaluation_dataset else None,
        "dataset": str(evaluation_dataset) if evaluation_dataset else None,
        "content_sha256": evaluation_dataset.content_sha256 if evaluation_dataset else None,
        "label_column": label_column,
        "positive_label": positive_label,
        "protected_attributes": list(evaluation_dataset.protected_attributes) if evaluation_dataset else [],
    }
    with transaction.atomic():
        case = ReviewCase(
            model_version=model_version,
            environment=environment,
            status=ReviewStatus.OPEN,
            policy=policy,
            policy_snapshot=snapshot,
            policy_snapshot_sha256=sha256_of_data(snapshot),
            thresholds=snapshot["thresholds"],
            evaluation=evaluation,
            documentation=documentation,
            previous_case=previous_case,
            submitted_by=actor,
            opened_at=timezone.now(),
        )
        case.save()
        record(
            actor=actor,
            action=Action.REVIEWS_CASE_OPENED,
            subject=case,
            data={
                "model_version": {"id": model_version.pk, "label": str(model_version),
                                  "artifact_sha256": model_version.artifact_sha256},
                "environment": environment,
                "policy": {"key": policy.key, "version": policy.version, "snapshot_sha256": case.policy_snapshot_sha256},
                "thresholds": case.thresholds,
                "required_checks": snapshot["required_checks"],
                "evaluation": evaluation,
                "documentation_fields": sorted(documentation),
                "previous_case": previous_case.pk if previous_case else None,
            },
        )
        transaction.on_commit(lambda: _queue_checks_start(case.pk))
    return case


def _queue_checks_start(case_id: int) -> None:
    from .tasks import review_checks_start_task

    review_checks_start_task.delay(case_id)


def _queue_check_run(check_result_id: int) -> None:
    from .tasks import check_run_task

    wall = settings.DOCKET_REVIEW_CHECK_WALL_SECONDS
    check_run_task.apply_async(args=[check_result_id], soft_time_limit=wall + 60, time_limit=wall + 120)


def _set_status(case: ReviewCase, status: str, *, reason: str = "") -> str:
    before = case.status
    case.status = status
    case.status_changed_at = timezone.now()
    case.status_reason = reason
    case.save()
    return before


def _locked_case(case: ReviewCase) -> ReviewCase:
    return ReviewCase.objects.select_for_update().select_related("model_version__model__use_case").get(pk=case.pk)


def review_checks_start(*, case: ReviewCase, actor=SYSTEM) -> ReviewCase:
    """Moves an open case to "checks running", creates one pending result per required check and queues
    them on commit. Does nothing for a case that is no longer open (safe to run twice)."""
    if actor is not SYSTEM:
        raise PermissionDenied("Docket itself starts the checks of a review.")
    with transaction.atomic():
        case = _locked_case(case)
        if case.status != ReviewStatus.OPEN:
            return case
        kinds = list(case.policy_snapshot["required_checks"])
        results = [CheckResult.objects.create(case=case, kind=kind, queued_at=timezone.now()) for kind in kinds]
        before = _set_status(case, ReviewStatus.CHECKS_RUNNING)
        record(
            actor=actor,
            action=Action.REVIEWS_CASE_CHECKS_STARTED,
            subject=case,
            data={"status": {"before": before, "after": case.status},
                  "checks": [{"id": result.pk, "kind": result.kind} for result in results]},
        )
        for result in results:
            transaction.on_commit(lambda result_id=result.pk: _queue_check_run(result_id))
        if not results:
            _complete_checks_if_done(case)
    return case


def review_withdraw(*, actor, case: ReviewCase, reason: str) -> ReviewCase:
    """The submitter (or an administrator) withdraws a case that has no final decision yet."""
    reason = str(reason or "").strip()
    use_case = case.model_version.model.use_case
    if not (_is_admin(actor) or (getattr(actor, "pk", None) == case.submitted_by_id
                                 and can_submit_to_use_case(actor, use_case))):
        raise PermissionDenied("Only the submitter or an administrator may withdraw a review.")
    if not reason:
        raise validation_error("reason", "Say why the review is withdrawn.")
    with transaction.atomic():
        case = _locked_case(case)
        if case.is_final:
            raise Conflict(f"Review {case.pk} is already {case.status}; it cannot be withdrawn.")
        before = _set_status(case, ReviewStatus.WITHDRAWN, reason=reason)
        record(actor=actor, action=Action.REVIEWS_CASE_WITHDRAWN, subject=case,
               data={"status": {"before": before, "after": case.status}, "reason": reason})
    return case


# --- running checks ---------------------------------------------------------------------------------


@dataclass
class CheckOutcome:
    """What a check found, before it is stored."""

    status: str
    summary: str
    failure_reasons: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    thresholds_applied: dict = field(default_factory=dict)
    library_versions: dict = field(default_factory=dict)
    random_seed: int | None = None
    sample_sizes: dict = field(default_factory=dict)
    model_sha256: str = ""
    data_sha256: dict = field(default_factory=dict)
    plots: dict[str, bytes] = field(default_factory=dict)


def check_progress_report(*, check_result_id: int, percent: int, message: str) -> None:
    """Updates the progress shown for a running check. Display telemetry only: not evidence, not audited."""
    CheckResult.objects.filter(pk=check_result_id, status=CheckStatus.RUNNING).update(
        progress=max(0, min(100, int(percent))), progress_message=message[:200]
    )


def _check_begin(check_result_id: int) -> CheckResult | None:
    with transaction.atomic():
        result = CheckResult.objects.select_for_update().select_related("case").filter(pk=check_result_id).first()
        if result is None:
            raise NotFound(f"There is no check result {check_result_id}.")
        if result.is_finished:
            return None
        before = result.status
        result.status = CheckStatus.RUNNING
        result.attempts += 1
        result.started_at = timezone.now()
        result.progress, result.progress_message = 1, "started"
        result.save()
        record(actor=SYSTEM, action=Action.REVIEWS_CHECK_STARTED, subject=result,
               data={"case": result.case_id, "kind": result.kind, "attempt": result.attempts,
                     "status": {"before": before, "after": result.status}})
    return result


def check_run(*, check_result_id: int) -> CheckResult:
    """Runs one check of a review and stores its outcome. Safe to run twice: a finished check is left
    as it is; a check found "running" (its worker died) is run again from the start."""
    result = _check_begin(check_result_id)
    if result is None:
        return CheckResult.objects.get(pk=check_result_id)
    started = time.perf_counter()
    outcome = _compute(result)
    return check_result_record(check_result_id=check_result_id, outcome=outcome,
                               duration_seconds=time.perf_counter() - started)


def check_fail(*, check_result_id: int, reason: str) -> CheckResult:
    """Finishes a check as "could not be completed" with the reason (e.g. its time limit)."""
    return check_result_record(
        check_result_id=check_result_id,
        outcome=CheckOutcome(status=CheckStatus.ERROR, summary=reason, failure_reasons=[reason]),
        duration_seconds=None,
    )


def _result_document(result: CheckResult, plot_hashes: dict[str, str]) -> dict:
    return {
        "case": result.case_id, "kind": result.kind, "status": result.status, "summary": result.summary,
        "failure_reasons": result.failure_reasons, "metrics": result.metrics,
        "thresholds_applied": result.thresholds_applied, "library_versions": result.library_versions,
        "random_seed": result.random_seed, "sample_sizes": result.sample_sizes, "model_sha256": result.model_sha256,
        "data_sha256": result.data_sha256, "plots": plot_hashes,
    }


def check_result_record(*, check_result_id: int, outcome: CheckOutcome, duration_seconds: float | None) -> CheckResult:
    """Stores a finished check's outcome (once: a finished result is never overwritten) with its plots
    and hash, and moves the case to "awaiting validation" when it was the last check to finish."""
    with transaction.atomic():
        result = CheckResult.objects.select_for_update().filter(pk=check_result_id).first()
        if result is None:
            raise NotFound(f"There is no check result {check_result_id}.")
        if result.is_finished:
            return result
        case = _locked_case(result.case)
        result.status = outcome.status
        result.summary = outcome.summary
        result.failure_reasons = outcome.failure_reasons
        result.metrics = normalise_for_json(outcome.metrics)
        result.thresholds_applied = outcome.thresholds_applied
        result.library_versions = outcome.library_versions
        result.random_seed = outcome.random_seed
        result.sample_sizes = outcome.sample_sizes
        result.model_sha256 = outcome.model_sha256
        result.data_sha256 = outcome.data_sha256
        result.finished_at = timezone.now()
        result.duration_seconds = duration_seconds
        result.progress, result.progress_message = 100, "finished"
        plot_hashes = {}
        for name, png in sorted(outcome.plots.items()):
            digest = hashlib.sha256(png).hexdigest()
            plot = CheckPlot(check_result=result, name=name, sha256=digest)
            plot.image.save(f"{result.kind}-{name}.png", ContentFile(png), save=False)
            plot.save()
            plot_hashes[name] = digest
        result.result_sha256 = sha256_of_data(_result_document(result, plot_hashes))
        result.save()
        record(
            actor=SYSTEM,
            action=Action.REVIEWS_CHECK_COMPLETED,
            subject=result,
            data={
                "case": case.pk, "kind": result.kind, "status": result.status, "summary": result.summary,
                "failure_reasons": result.failure_reasons, "thresholds_applied": result.thresholds_applied,
                "model_sha256": result.model_sha256, "data_sha256": result.data_sha256,
                "random_seed": result.random_seed, "sample_sizes": result.sample_sizes,
                "library_versions": result.library_versions, "plots": plot_hashes,
                "result_sha256": result.result_sha256,
            },
        )
        _complete_checks_if_done(case)
    return result


def normalise_for_json(value):
    """Check metrics as stored: plain JSON (NaN and infinities become null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): normalise_for_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise_for_json(item) for item in value]
    return value


def _complete_checks_if_done(case: ReviewCase) -> None:
    """Inside a transaction holding the case's lock."""
    if case.status != ReviewStatus.CHECKS_RUNNING:
        return
    results = list(case.check_results.all())
    if any(not result.is_finished for result in results):
        return
    before = _set_status(case, ReviewStatus.AWAITING_VALIDATION)
    record(
        actor=SYSTEM,
        action=Action.REVIEWS_CASE_CHECKS_COMPLETED,
        subject=case,
        data={"status": {"before": before, "after": case.status},
              "checks": {result.kind: {"status": result.status, "result_sha256": result.result_sha256}
                         for result in results}},
    )


@contextlib.contextmanager
def _local_path(field_file) -> Iterator[str]:
    """A local filesystem path for a stored file (a temporary copy when the storage is remote)."""
    try:
        yield field_file.storage.path(field_file.name)
        return
    except NotImplementedError:
        pass
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / Path(field_file.name).name
        with field_file.open("rb") as source, open(target, "wb") as copy:
            shutil.copyfileobj(source, copy)
        yield str(target)


class _EvidenceProblem(Exception):
    """The registered evidence a check needs is missing or does not match its hash."""


def _verified(field_file, expected_sha256: str, what: str) -> str:
    if not field_file:
        raise _EvidenceProblem(f"{what} has no stored file to check.")
    with field_file.open("rb") as stored:
        digest, _size = sha256_of_file(stored)
    if digest != expected_sha256:
        raise _EvidenceProblem(f"The stored file of {what} does not match its registered SHA-256 "
                               f"({digest[:12]}… ≠ {expected_sha256[:12]}…); it was not used.")
    return digest


def _compute(result: CheckResult) -> CheckOutcome:
    case = ReviewCase.objects.select_related("model_version__model__use_case").get(pk=result.case_id)
    section = case.thresholds.get(THRESHOLD_SECTIONS[CheckKind(result.kind)], {})
    try:
        if result.kind == CheckKind.DATA_GOVERNANCE:
            return _data_governance(case, section)
        if result.kind == CheckKind.DOCUMENTATION:
            return _documentation(case)
        return _model_check(result, case, section)
    except _EvidenceProblem as problem:
        return CheckOutcome(status=CheckStatus.FAILED, summary=str(problem), failure_reasons=[str(problem)],
                            thresholds_applied=section)


def _outcome(kind: str, reasons: list[str], **kwargs) -> CheckOutcome:
    label = CheckKind(kind).label
    status = CheckStatus.FAILED if reasons else CheckStatus.PASSED
    summary = f"{label}: {len(reasons)} problem(s)." if reasons else f"{label}: every requirement is met."
    return CheckOutcome(status=status, summary=summary, failure_reasons=reasons, **kwargs)


def _linked_datasets(case: ReviewCase) -> list:
    return list(case.model_version.dataset_links.select_related("dataset_version__dataset").order_by("role", "pk"))


def _data_governance(case: ReviewCase, section: dict) -> CheckOutcome:
    datasets = []
    for link in _linked_datasets(case):
        version = link.dataset_version
        datasets.append({
            "label": str(version), "role": link.role, "lifecycle_state": version.lifecycle_state,
            "contains_personal_data": version.contains_personal_data, "legal_basis": version.legal_basis,
            "retention_until": version.retention_until.isoformat() if version.retention_until else None,
            "contains_special_category_data": version.contains_special_category_data,
            "special_category_justification": version.special_category_justification,
            "protected_attributes": version.protected_attributes,
            "datasheet": {name: getattr(version, name) for name in DATASHEET_FIELDS},
        })
    assessed = governance.assess_data_governance(datasets, thresholds=section, today=timezone.localdate())
    return _outcome(CheckKind.DATA_GOVERNANCE, assessed.pop("reasons"), metrics=assessed, thresholds_applied=section,
                    data_sha256={item["label"]: link.dataset_version.content_sha256
                                 for item, link in zip(datasets, _linked_datasets(case), strict=True)})


def _documentation(case: ReviewCase) -> CheckOutcome:
    version = case.model_version
    documentation = {name: getattr(version, name) for name in MODEL_VERSION_DOCUMENTATION_FIELDS}
    documentation = {name: (json.dumps(value) if value not in ("", [], {}, None) and not isinstance(value, str)
                            else (value or "")) for name, value in documentation.items()}
    documentation.update({name: text for name, text in case.documentation.items() if text.strip()})
    required = case.policy_snapshot["required_documentation_fields"]
    assessed = governance.assess_documentation(documentation, required_fields=required)
    return _outcome(CheckKind.DOCUMENTATION, assessed.pop("reasons"), metrics=assessed,
                    thresholds_applied={"required_documentation_fields": required},
                    model_sha256=version.artifact_sha256)


def _limits() -> sandbox.Limits:
    return sandbox.Limits(
        memory_bytes=settings.DOCKET_REVIEW_CHECK_MEMORY_MB * 1024 * 1024,
        cpu_seconds=settings.DOCKET_REVIEW_CHECK_CPU_SECONDS,
        wall_seconds=float(settings.DOCKET_REVIEW_CHECK_WALL_SECONDS),
    )


def _model_check(result: CheckResult, case: ReviewCase, section: dict) -> CheckOutcome:
    version = case.model_version
    evaluation = case.evaluation
    data_versions: dict[str, DatasetVersion] = {}
    if evaluation.get("dataset_version_id"):
        data_versions["evaluation"] = DatasetVersion.objects.get(pk=evaluation["dataset_version_id"])
    claims = []
    if result.kind == CheckKind.PERFORMANCE:
        for claim in version.claimed_metrics.select_related("dataset_version__dataset"):
            key = "evaluation" if claim.dataset_version_id == evaluation.get("dataset_version_id") else str(
                claim.dataset_version)
            data_versions.setdefault(key, claim.dataset_version)
            claims.append({"name": claim.name, "value": claim.value, "dataset": key})
    if "evaluation" not in data_versions:
        raise _EvidenceProblem("The model version has no test dataset version, so Docket cannot evaluate it.")
    if result.kind == CheckKind.FAIRNESS and not evaluation.get("protected_attributes"):
        raise _EvidenceProblem(f"The evaluation dataset {evaluation['dataset']} declares no protected attributes, "
                               "so fairness cannot be measured.")
    model_sha256 = _verified(version.artifact, version.artifact_sha256, str(version))
    data_sha256 = {}
    for key, data_version in data_versions.items():
        if data_version.lifecycle_state != "active":
            raise _EvidenceProblem(f"{data_version} is {data_version.lifecycle_state}; its data cannot be used.")
        data_sha256[str(data_version)] = _verified(data_version.file, data_version.content_sha256, str(data_version))
    seed = int(section.get("seed", 0))
    check_progress_report(check_result_id=result.pk, percent=10, message="evidence verified; starting the model")
    with contextlib.ExitStack() as stack:
        request = {
            "kind": result.kind,
            "model": {"path": stack.enter_context(_local_path(version.artifact)), "format": version.artifact_format,
                      "trusted_types": list(settings.DOCKET_SKOPS_TRUSTED_TYPES)},
            "datasets": {key: {"path": stack.enter_context(_local_path(data_version.file)),
                               "format": data_version.file_format or "csv"}
                         for key, data_version in data_versions.items()},
            "evaluation_dataset": "evaluation",
            "features": list(version.features or []),
            "label_column": evaluation["label_column"],
            "positive_label": evaluation["positive_label"],
            "protected_attributes": list(evaluation.get("protected_attributes") or []),
            "thresholds": section,
            "claims": claims,
            "seed": seed,
        }
        try:
            answer = sandbox.run_check_process(request, limits=_limits())
        except sandbox.SandboxFailure as failure:
            reason = str(failure)
            return CheckOutcome(status=CheckStatus.ERROR, summary=f"The check could not be completed: {reason}",
                                failure_reasons=[reason], thresholds_applied=section, model_sha256=model_sha256,
                                data_sha256=data_sha256, random_seed=seed)
    metrics = answer.result
    reasons = list(metrics.pop("reasons", []))
    sample_sizes = metrics.pop("sample_sizes", {})
    return _outcome(result.kind, reasons, metrics=metrics, thresholds_applied=section,
                    library_versions=answer.library_versions, random_seed=seed, sample_sizes=sample_sizes,
                    model_sha256=model_sha256, data_sha256=data_sha256, plots=answer.plots)


# --- findings and risk acceptance -------------------------------------------------------------------


def _require_reviewer(actor, case: ReviewCase, *, roles: Sequence[Role], doing: str) -> None:
    """A person holding one of `roles` and review permission on the case's use case, who neither
    submitted, registered nor developed the version under review."""
    _require_person(actor, doing=doing)
    if not any(actor.has_role(role) for role in roles):
        raise PermissionDenied(f"Only a {' or '.join(str(role) for role in roles)} may {doing}.")
    use_case = case.model_version.model.use_case
    if not can_review_use_case(actor, use_case):
        raise PermissionDenied(f"You may not {doing}: it needs permission to review use case '{use_case.key}'.")
    version = case.model_version
    if (actor.pk in (case.submitted_by_id, version.registered_by_id)
            or version.developer_links.filter(user_id=actor.pk).exists()):
        raise PermissionDenied(f"Separation of duties: the submitter or developer of {case.model_version} cannot "
                               f"{doing}.")


def finding_raise(
    *, actor, case: ReviewCase, severity: str, title: str, description: str, owner, due_date: dt.date,
    check_result: CheckResult | None = None,
) -> Finding:
    """A validator or approver records a finding on a case under review; open high-severity findings
    block approval."""
    _require_reviewer(actor, case, roles=(Role.VALIDATOR, Role.APPROVER), doing="raise findings on this review")
    errors: dict[str, list[str]] = {}
    if severity not in FindingSeverity.values:
        errors["severity"] = [f"One of: {', '.join(FindingSeverity.values)}."]
    title, description = str(title or "").strip(), str(description or "").strip()
    if not title:
        errors["title"] = ["This field is required."]
    elif len(title) > 200:
        errors["title"] = ["At most 200 characters."]
    if not description:
        errors["description"] = ["This field is required."]
    if owner is None or not getattr(owner, "pk", None) or not owner.is_active:
        errors["owner"] = ["An active user must own the finding."]
    if not isinstance(due_date, dt.date) or isinstance(due_date, dt.datetime):
        errors["due_date"] = ["A date."]
    elif due_date < timezone.localdate():
        errors["due_date"] = ["The due date is in the past."]
    if check_result is not None and check_result.case_id != case.pk:
        errors["check_result"] = ["That check result belongs to another review."]
    if errors:
        raise ValidationFailed("The finding was not raised", field_errors=errors)
    with transaction.atomic():
        case = _locked_case(case)
        if case.status not in (ReviewStatus.CHECKS_RUNNING, ReviewStatus.AWAITING_VALIDATION,
                               ReviewStatus.AWAITING_APPROVAL):
            raise Conflict(f"Review {case.pk} is {case.status}; findings are raised while it is under review.")
        finding = Finding.objects.create(
            case=case, check_result=check_result, severity=severity, title=title, description=description,
            owner=owner, due_date=due_date, raised_by=actor, raised_at=timezone.now(),
        )
        record(actor=actor, action=Action.REVIEWS_FINDING_RAISED, subject=finding,
               data={"case": case.pk, "severity": severity, "title": title, "description": description,
                     "owner": owner.display_name, "due_date": due_date,
                     "check_result": check_result.kind if check_result else None})
    return finding


def finding_resolve(*, actor, finding: Finding, resolution: str) -> Finding:
    """A validator or approver closes an open finding with the resolution."""
    case = finding.case
    _require_reviewer(actor, case, roles=(Role.VALIDATOR, Role.APPROVER), doing="resolve findings on this review")
    resolution = str(resolution or "").strip()
    if not resolution:
        raise validation_error("resolution", "Say how the finding was resolved.")
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding.pk)
        if finding.status != FindingStatus.OPEN:
            raise Conflict(f"Finding {finding.pk} is already {finding.status}.")
        finding.status, finding.resolution = FindingStatus.RESOLVED, resolution
        finding.resolved_by, finding.resolved_at = actor, timezone.now()
        finding.save()
        record(actor=actor, action=Action.REVIEWS_FINDING_RESOLVED, subject=finding,
               data={"case": case.pk, "status": {"before": FindingStatus.OPEN, "after": finding.status},
                     "resolution": resolution})
    return finding


def finding_reassign(*, actor, finding: Finding, reason: str, owner=None, due_date: dt.date | None = None) -> Finding:
    """A validator or approver gives an open finding a new owner and/or due date, saying why."""
    case = finding.case
    _require_reviewer(actor, case, roles=(Role.VALIDATOR, Role.APPROVER), doing="reassign findings on this review")
    errors: dict[str, list[str]] = {}
    reason = str(reason or "").strip()
    if not reason:
        errors["reason"] = ["Say why the finding is reassigned."]
    if owner is None and due_date is None:
        errors["__all__"] = ["Give a new owner, a new due date, or both."]
    if owner is not None and (not getattr(owner, "pk", None) or not owner.is_active):
        errors["owner"] = ["An active user must own the finding."]
    if due_date is not None:
        if not isinstance(due_date, dt.date) or isinstance(due_date, dt.datetime):
            errors["due_date"] = ["A date."]
        elif due_date < timezone.localdate():
            errors["due_date"] = ["The due date is in the past."]
    if errors:
        raise ValidationFailed("The finding was not reassigned", field_errors=errors)
    with transaction.atomic():
        finding = Finding.objects.select_for_update().select_related("owner").get(pk=finding.pk)
        if finding.status != FindingStatus.OPEN:
            raise Conflict(f"Finding {finding.pk} is {finding.status}; only open findings are reassigned.")
        changes = {}
        if owner is not None and owner.pk != finding.owner_id:
            changes["owner"] = {"before": finding.owner.display_name, "after": owner.display_name}
            finding.owner = owner
        if due_date is not None and due_date != finding.due_date:
            changes["due_date"] = {"before": finding.due_date, "after": due_date}
            finding.due_date = due_date
        if not changes:
            raise Conflict(f"Finding {finding.pk} already has that owner and due date.")
        finding.save(update_fields=["owner", "due_date"])
        record(actor=actor, action=Action.REVIEWS_FINDING_REASSIGNED, subject=finding,
               data={"case": case.pk, **changes, "reason": reason})
    return finding


def risk_accept(*, actor, check_result: CheckResult, rationale: str) -> RiskAcceptance:
    """An approver accepts the risk of a failed (or uncompleted) check with a written rationale."""
    case = check_result.case
    _require_reviewer(actor, case, roles=(Role.APPROVER,), doing="accept the risk of a failed check")
    rationale = str(rationale or "").strip()
    if not rationale:
        raise validation_error("rationale", "A risk acceptance needs a written rationale.")
    with transaction.atomic():
        case = _locked_case(case)
        check_result = CheckResult.objects.select_for_update().get(pk=check_result.pk)
        if case.status not in (ReviewStatus.AWAITING_VALIDATION, ReviewStatus.AWAITING_APPROVAL):
            raise Conflict(f"Review {case.pk} is {case.status}; risks are accepted once its checks have finished.")
        if not check_result.needs_acceptance:
            raise Conflict(f"The {check_result.kind} check {check_result.status}; only a failed or uncompleted "
                           "check needs a risk acceptance.")
        if RiskAcceptance.objects.filter(check_result=check_result).exists():
            raise Conflict(f"The risk of the {check_result.kind} check has already been accepted.")
        acceptance = RiskAcceptance(check_result=check_result, rationale=rationale, accepted_by=actor,
                                    accepted_at=timezone.now())
        acceptance.save()
        record(actor=actor, action=Action.REVIEWS_RISK_ACCEPTED, subject=acceptance,
               data={"case": case.pk, "check": check_result.kind, "check_status": check_result.status,
                     "result_sha256": check_result.result_sha256, "failure_reasons": check_result.failure_reasons,
                     "rationale": rationale})
    return acceptance


# --- signed decisions -------------------------------------------------------------------------------


def _check_signature_password(actor, password: str) -> None:
    """21 CFR Part 11 §11.200: each signing re-enters the password (the second component)."""
    if not isinstance(password, str) or not password or not actor.has_usable_password() \
            or not actor.check_password(password):
        raise PermissionDenied("The password is not correct; nothing was signed.")


def signing_manifest(case: ReviewCase, *, meaning: str, signer, signed_at: dt.datetime) -> dict:
    """What a signature covers: the artifact, the policy snapshot, every check result (with its risk
    acceptance), the findings and the earlier signatures of the case."""
    version = case.model_version
    results = case.check_results.select_related("risk_acceptance").order_by("kind") if case.pk else []
    checks = []
    for result in results:
        acceptance = getattr(result, "risk_acceptance", None)
        checks.append({
            "kind": result.kind, "status": result.status, "result_sha256": result.result_sha256,
            "risk_acceptance": None if acceptance is None else {
                "accepted_by": acceptance.accepted_by.display_name, "rationale": acceptance.rationale,
                "accepted_at": acceptance.accepted_at,
            },
        })
    return {
        "meaning": meaning,
        "statement": SignatureMeaning(meaning).label,
        "case": case.pk,
        "environment": case.environment,
        "model_version": {"use_case": version.model.use_case.key, "model": version.model.key,
                          "number": version.number, "artifact_sha256": version.artifact_sha256},
        "policy": {"key": case.policy_snapshot["key"], "version": case.policy_snapshot["version"],
                   "snapshot_sha256": case.policy_snapshot_sha256},
        "checks": checks,
        "findings": [{"id": finding.pk, "severity": finding.severity, "status": finding.status}
                     for finding in case.findings.order_by("pk")],
        "earlier_signatures": list(case.decisions.order_by("signed_at", "pk").values_list("manifest_sha256", flat=True)),
        "signer": {"id": signer.pk, "username": signer.get_username(), "printed_name": signer.display_name},
        "signed_at": signed_at,
    }


def _sign(actor, case: ReviewCase, meaning: str, comment: str, *, status_before: str,
          conditions: Sequence[str] = ()) -> Decision:
    """Inside the service's transaction, after the case's status was set: stores the decision and binds
    it, with the status change, into the audit log."""
    signed_at = timezone.now()
    manifest = signing_manifest(case, meaning=meaning, signer=actor, signed_at=signed_at)
    if meaning == SignatureMeaning.APPROVED:
        manifest["conditions"] = list(conditions)
    manifest = normalise(manifest)
    decision = Decision(case=case, meaning=meaning, signer=actor, signer_printed_name=actor.display_name,
                        signed_at=signed_at, comment=comment, manifest=manifest,
                        manifest_sha256=sha256_of_data(manifest))
    decision.save()
    entry = record(
        sequenced=True,  # the index is stored/signed below
        actor=actor,
        action=Action.REVIEWS_DECISION_SIGNED,
        subject=decision,
        data={"case": case.pk, "meaning": meaning, "statement": SignatureMeaning(meaning).label,
              "printed_name": decision.signer_printed_name, "signed_at": signed_at,
              "manifest_sha256": decision.manifest_sha256, "artifact_sha256": case.model_version.artifact_sha256,
              "comment": comment, "status": {"before": status_before, "after": case.status}},
    )
    decision.audit_index = entry.index
    decision.save()
    return decision


def _signers(case: ReviewCase, meaning: str) -> set[int]:
    return set(case.decisions.filter(meaning=meaning).values_list("signer_id", flat=True))


def review_validate(*, actor, case: ReviewCase, password: str, comment: str = "") -> Decision:
    """A validator signs "validated". Once the policy's number of distinct validators have signed, the
    case awaits approval. Every check must have finished."""
    _require_reviewer(actor, case, roles=(Role.VALIDATOR,), doing="validate this review")
    _check_signature_password(actor, password)
    with transaction.atomic():
        case = _locked_case(case)
        if case.status != ReviewStatus.AWAITING_VALIDATION:
            raise Conflict(f"Review {case.pk} is {case.status}; only a case awaiting validation can be validated.")
        if actor.pk in _signers(case, SignatureMeaning.VALIDATED):
            raise Conflict("You have already validated this review; another validator must sign.")
        before = case.status
        if len(_signers(case, SignatureMeaning.VALIDATED)) + 1 >= case.policy_snapshot["validations_required"]:
            _set_status(case, ReviewStatus.AWAITING_APPROVAL)
        decision = _sign(actor, case, SignatureMeaning.VALIDATED, str(comment or "").strip(), status_before=before)
    return decision


def approval_blockers(case: ReviewCase) -> list[str]:
    """Why the case cannot be approved now: open high-severity findings and failed or uncompleted
    checks without a risk acceptance."""
    blockers = [f"Open high-severity finding: {finding.title}"
                for finding in case.findings.filter(status=FindingStatus.OPEN, severity=FindingSeverity.HIGH)]
    for result in case.check_results.select_related("risk_acceptance").order_by("kind"):
        if result.needs_acceptance and not hasattr(result, "risk_acceptance"):
            blockers.append(f"The {result.kind} check {result.status} and no approver has accepted the risk.")
        elif not result.is_finished:
            blockers.append(f"The {result.kind} check has not finished.")
    return blockers


def review_approve(*, actor, case: ReviewCase, password: str, conditions: Sequence[str] = (),
                   comment: str = "") -> Decision:
    """An approver signs "approved". The approver has not validated this case. Once the policy's number
    of distinct approvers have signed, the case is approved and an Approval for (artifact SHA-256,
    environment) is created, valid for the policy's validity period with the approvers' conditions."""
    _require_reviewer(actor, case, roles=(Role.APPROVER,), doing="approve this review")
    if actor.pk in _signers(case, SignatureMeaning.VALIDATED):
        raise PermissionDenied("Separation of duties: you validated this review, so another person must approve it.")
    _check_signature_password(actor, password)
    conditions = [str(condition).strip() for condition in conditions if str(condition).strip()]
    with transaction.atomic():
        case = _locked_case(case)
        if case.status != ReviewStatus.AWAITING_APPROVAL:
            raise Conflict(f"Review {case.pk} is {case.status}; only a case awaiting approval can be approved.")
        if actor.pk in _signers(case, SignatureMeaning.APPROVED):
            raise Conflict("You have already approved this review; another approver must sign.")
        blockers = approval_blockers(case)
        if blockers:
            raise Conflict("The review cannot be approved yet: " + " ".join(blockers), blockers=blockers)
        before = case.status
        completes = len(_signers(case, SignatureMeaning.APPROVED)) + 1 >= case.policy_snapshot["approvals_required"]
        if completes:
            _set_status(case, ReviewStatus.APPROVED)
        decision = _sign(actor, case, SignatureMeaning.APPROVED, str(comment or "").strip(), status_before=before,
                         conditions=conditions)
        if completes:
            all_conditions = conditions + [
                condition for earlier in case.decisions.filter(meaning=SignatureMeaning.APPROVED).exclude(pk=decision.pk)
                for condition in earlier.manifest.get("conditions", [])
            ]
            approved_at = decision.signed_at
            approval = Approval(
                case=case, model_version=case.model_version, artifact_sha256=case.model_version.artifact_sha256,
                environment=case.environment, approved_at=approved_at,
                expires_at=approved_at + dt.timedelta(days=case.policy_snapshot["approval_validity_days"]),
                conditions=all_conditions,
            )
            approval.save()
            lineage_services.edges_for_approval(approval=approval)
            record(actor=actor, action=Action.REVIEWS_APPROVAL_GRANTED, subject=approval,
                   data={"case": case.pk, "artifact_sha256": approval.artifact_sha256,
                         "environment": approval.environment, "approved_at": approval.approved_at,
                         "expires_at": approval.expires_at, "conditions": approval.conditions,
                         "decisions": list(case.decisions.values_list("manifest_sha256", flat=True))})
    return decision


def _close(*, actor, case: ReviewCase, password: str, reason: str, meaning: str, status: str) -> Decision:
    _require_reviewer(actor, case, roles=(Role.VALIDATOR, Role.APPROVER), doing=f"sign '{meaning}' on this review")
    reason = str(reason or "").strip()
    if not reason:
        raise validation_error("reason", "Say why; the submitter and auditors read it.")
    _check_signature_password(actor, password)
    with transaction.atomic():
        case = _locked_case(case)
        allowed = {ReviewStatus.AWAITING_VALIDATION: Role.VALIDATOR, ReviewStatus.AWAITING_APPROVAL: Role.APPROVER}
        if case.status not in allowed:
            raise Conflict(f"Review {case.pk} is {case.status}; it can be {status.replace('_', ' ')} only while "
                           "awaiting validation or approval.")
        if not actor.has_role(allowed[case.status]):
            raise PermissionDenied(f"While the review is {case.status.replace('_', ' ')}, only a "
                                   f"{allowed[case.status]} may sign '{meaning}'.")
        if case.status == ReviewStatus.AWAITING_APPROVAL and actor.pk in _signers(case, SignatureMeaning.VALIDATED):
            raise PermissionDenied("Separation of duties: you validated this review, so you cannot also decide it.")
        before = _set_status(case, status, reason=reason)
        decision = _sign(actor, case, meaning, reason, status_before=before)
    return decision


def review_reject(*, actor, case: ReviewCase, password: str, reason: str) -> Decision:
    """A validator (while awaiting validation) or an approver (while awaiting approval) rejects the case."""
    return _close(actor=actor, case=case, password=password, reason=reason, meaning=SignatureMeaning.REJECTED,
                  status=ReviewStatus.REJECTED)


def review_request_changes(*, actor, case: ReviewCase, password: str, reason: str) -> Decision:
    """Like review_reject, but the submitter may resubmit a new version (review_open(previous_case=...))."""
    return _close(actor=actor, case=case, password=password, reason=reason,
                  meaning=SignatureMeaning.CHANGES_REQUESTED, status=ReviewStatus.CHANGES_REQUESTED)
