"""The promotion gate: decisions for pipelines (allow/deny with stable reasons, audited and signed),
revocation of approvals, emergency overrides, and deployments recorded against the gate's decisions.

`gate_check` fails closed: whatever goes wrong once its input is valid (a database error, a statement
timeout, a missing signing key, a bug), the answer is "deny" with `internal_error`, and the failure is
logged (and audited when the database still takes writes).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.accounts.permissions import api_key_of, can_review_use_case, visible_use_case_condition
from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.audit.encoding import SubjectRef
from apps.audit.models import Checkpoint
from apps.audit.services import record
from apps.common import rawsql
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed, validation_error
from apps.lineage import services as lineage_services
from apps.registry import permissions as registry_permissions
from apps.registry import services as registry_services
from apps.registry.models import Deployment, Model, ModelVersion, RiskClass, UseCase
from apps.reviews.models import (
    Approval,
    CheckStatus,
    Finding,
    FindingSeverity,
    FindingStatus,
    ReviewCase,
    ReviewPolicy,
    ReviewStatus,
    SignatureMeaning,
)
from apps.reviews.models import Decision as SignedDecision

from . import attestation
from .keys import attestation_signer
from .models import EmergencyOverride, GateDecision, OverrideUse, ReasonCode, Requirement, Verdict

logger = logging.getLogger(__name__)

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MODEL_REFERENCE = re.compile(r"^(?P<use_case>[-a-zA-Z0-9_]{1,64})/(?P<model>[-a-zA-Z0-9_]{1,64})$")
MAX_CONTEXT_BYTES = 8 * 1024
MAX_VERSION_NUMBER = 2_147_483_647  # the version column's range
ALLOW_BASIS = frozenset({ReasonCode.APPROVAL_VALID, ReasonCode.CHECKS_PASSED})
# Review states in which a case's check results count as "automated checks passed".
CHECKED_CASE_STATES = (ReviewStatus.AWAITING_VALIDATION, ReviewStatus.AWAITING_APPROVAL, ReviewStatus.APPROVED)


# --- the decision -----------------------------------------------------------------------------------


@dataclass
class Decision:
    """What the gate answers. `http_status` is 200, or 503 when it failed closed."""

    verdict: str
    reasons: list[dict[str, str]]
    environment: str
    artifact_sha256: str
    requested: dict[str, Any]
    decided_at: dt.datetime
    policy: dict[str, Any]
    decision_id: str | None = None
    audit_index: int | None = None
    approval: dict[str, Any] | None = None
    rollback_to: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    attestation: dict[str, Any] | None = None
    http_status: int = 200
    model_version: ModelVersion | None = field(default=None, repr=False)

    @property
    def allowed(self) -> bool:
        return self.verdict == Verdict.ALLOW

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.verdict,
            "reasons": self.reasons,
            "decision_id": self.decision_id,
            "model": self.requested["model"],
            "version": self.requested["version"],
            "artifact_sha256": self.artifact_sha256,
            "environment": self.environment,
            "decided_at": _timestamp(self.decided_at),
            "approval": self.approval,
            "rollback_to": self.rollback_to,
            "policy": self.policy,
            "audit_index": self.audit_index,
            "checkpoint": self.checkpoint,
            "attestation": self.attestation,
        }


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _reason(code: ReasonCode, detail: str) -> dict[str, str]:
    return {"code": code.value, "detail": detail}


def gate_policy() -> dict[str, Any]:
    """The gate's policy as configured: each environment's requirement, and a version (a digest of it)
    that changes whenever the configuration does; attestations name it."""
    requirements = {
        environment: settings.DOCKET_GATE_REQUIREMENTS.get(environment, Requirement.APPROVAL)
        for environment in settings.DOCKET_ENVIRONMENTS
    }
    digest = hashlib.sha256(json.dumps(requirements, sort_keys=True).encode()).hexdigest()[:16]
    return {"version": f"gate-policy-1:{digest}", "requirements": requirements}


def requirement_for(environment: str) -> str:
    """What `environment` requires; anything other than "checks" (including a typo) means an approval."""
    configured = settings.DOCKET_GATE_REQUIREMENTS.get(environment)
    return Requirement.CHECKS if configured == Requirement.CHECKS else Requirement.APPROVAL


def _clean_request(*, model: str, version, artifact_sha256: str, environment: str, context) -> dict:
    errors: dict[str, list[str]] = {}
    model = str(model or "").strip()
    match = MODEL_REFERENCE.match(model)
    if match is None:
        errors["model"] = ["Name the model as <use-case>/<model>, e.g. credit-scoring/default-lr."]
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION_NUMBER:
        errors["version"] = [f"The version is a whole number from 1 to {MAX_VERSION_NUMBER}."]
    sha = str(artifact_sha256 or "").strip().lower()
    sha = sha.removeprefix("sha256:")
    if not SHA256_PATTERN.match(sha):
        errors["artifact_sha256"] = ["Give the artifact's SHA-256 as 64 hexadecimal digits."]
    environment = str(environment or "").strip()
    if environment not in settings.DOCKET_ENVIRONMENTS:
        errors["environment"] = [(f"Unknown environment {environment!r}; environments are "
                                  f"{', '.join(settings.DOCKET_ENVIRONMENTS)}.")]
    context = {} if context is None else context
    if not isinstance(context, dict):
        errors["context"] = ["The context is a JSON object (pipeline, run_url, commit, ...)."]
    else:
        try:
            encoded = json.dumps(context, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError):
            errors["context"] = ["The context must be plain JSON."]
        else:
            if len(encoded.encode("utf-8")) > MAX_CONTEXT_BYTES:
                errors["context"] = [f"The context is larger than {MAX_CONTEXT_BYTES} bytes."]
            elif "\x00" in encoded or "\\u0000" in encoded:
                errors["context"] = ["The context must not contain NUL characters."]
    if errors:
        raise ValidationFailed("The gate check request is not valid: " + " ".join(
            message for messages in errors.values() for message in messages), field_errors=errors)
    return {"model": model, "use_case_key": match["use_case"], "model_key": match["model"], "version": version,
            "artifact_sha256": sha, "environment": environment, "context": context}


def gate_check(*, actor, auth=None, model: str, version: int, artifact_sha256: str, environment: str,
               context: dict | None = None) -> Decision:
    """Decides whether the artifact with `artifact_sha256`, registered as `model` ("use-case/model")
    version `version`, may be deployed to `environment` now; records the decision in the audit log
    (allow and deny) with the caller and `context`, and signs an attestation of it.

    Malformed input raises ValidationFailed (nothing is recorded). A well-formed request about
    something that is not approved is a "deny" with reasons. Any failure after that is a "deny" with
    `internal_error` and `http_status` 503 (fails closed)."""
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("Only a signed-in person or service account may ask the gate.")
    request = _clean_request(model=model, version=version, artifact_sha256=artifact_sha256,
                             environment=environment, context=context)
    try:
        return _decide(actor=actor, auth=auth, request=request)
    except Exception as exc:  # noqa: BLE001 - the gate fails closed on anything
        return gate_fail_closed(actor=actor, auth=auth, request=request, error=exc)


def _version_query(actor, auth, request) -> tuple[str, list]:
    """The model and version the request names, if the caller may see its use case, and the number of
    open high-severity findings on the version: one hand-written statement (the gate's hottest read),
    with `visible_use_case_condition` standing in for `visible_use_cases`."""
    visible, visible_params = visible_use_case_condition(user=actor, auth=auth, use_case_id="uc.id")
    sql = (
        f"SELECT uc.id, uc.key, uc.risk_class, m.id, m.key, m.name, mv.id, mv.number, mv.artifact_sha256, "
        f"(SELECT COUNT(*) FROM {Finding._meta.db_table} f JOIN {ReviewCase._meta.db_table} c ON c.id = f.case_id "
        f"WHERE c.model_version_id = mv.id AND f.status = %s AND f.severity = %s) "
        f"FROM {UseCase._meta.db_table} uc JOIN {Model._meta.db_table} m ON m.use_case_id = uc.id "
        f"LEFT JOIN {ModelVersion._meta.db_table} mv ON mv.model_id = m.id AND mv.number = %s "
        f"WHERE uc.key = %s AND m.key = %s AND {visible}"
    )
    return sql, [str(FindingStatus.OPEN), str(FindingSeverity.HIGH), request["version"], request["use_case_key"],
                 request["model_key"], *visible_params]


def _version_from_row(row) -> tuple[Model | None, ModelVersion | None, int]:
    """`_version_query`'s answer as instances carrying only the fields the gate reads (others load on
    access), and the open high-severity finding count."""
    if row is None:
        return None, None, 0
    db = connection.alias
    use_case = UseCase.from_db(db, ["id", "key", "risk_class"], row[0:3])
    model = Model.from_db(db, ["id", "use_case_id", "key", "name"], [row[3], row[0], row[4], row[5]])
    model.use_case = use_case
    if row[6] is None:
        return model, None, 0
    version = ModelVersion.from_db(db, ["id", "model_id", "number", "artifact_sha256"], [row[6], row[3], *row[7:9]])
    version.model = model
    return model, version, row[9]


def _open_high_findings(version: ModelVersion) -> list[str]:
    """The titles of the version's open high-severity findings (read only when `_version_query` counted some)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT f.title FROM {Finding._meta.db_table} f JOIN {ReviewCase._meta.db_table} c ON c.id = f.case_id "
            "WHERE c.model_version_id = %s AND f.status = %s AND f.severity = %s ORDER BY f.id",
            [version.pk, str(FindingStatus.OPEN), str(FindingSeverity.HIGH)],
        )
        return [title for (title,) in cursor.fetchall()]


def _approvals_query(request) -> tuple[str, list]:
    """Approvals of the registered artifact of the version the request names, newest first, each with
    what `_approval_summary` reports — the approving signatures and the review policy — in one
    hand-written query: a row per approving signature, or one row for an approval without any.

    It names the version by its keys, so it can be sent together with `_version_query`; its rows count
    only when that query found the version (the visibility check is there)."""
    sql = (
        f"SELECT {rawsql.columns(Approval, 'a')}, d.signer_printed_name, d.signed_at, p.key, p.version "
        f"FROM {Approval._meta.db_table} a "
        f"JOIN {ModelVersion._meta.db_table} mv ON mv.id = a.model_version_id AND mv.artifact_sha256 = a.artifact_sha256 "
        f"JOIN {Model._meta.db_table} m ON m.id = mv.model_id JOIN {UseCase._meta.db_table} uc ON uc.id = m.use_case_id "
        f"JOIN {ReviewCase._meta.db_table} c ON c.id = a.case_id JOIN {ReviewPolicy._meta.db_table} p ON p.id = c.policy_id "
        f"LEFT JOIN {SignedDecision._meta.db_table} d ON d.case_id = c.id AND d.meaning = %s "
        "WHERE uc.key = %s AND m.key = %s AND mv.number = %s "
        "ORDER BY a.approved_at DESC, a.id DESC, d.signed_at, d.id"
    )
    return sql, [str(SignatureMeaning.APPROVED), request["use_case_key"], request["model_key"], request["version"]]


def _approvals_from_rows(rows, version: ModelVersion) -> list[Approval]:
    """`_approvals_query`'s rows as Approvals of `version`, each with `approving_signers` (printed name
    and time, in signing order) and `review_policy` (key and version)."""
    width = len(Approval._meta.concrete_fields)
    approvals: list[Approval] = []
    for row in rows:
        if not approvals or approvals[-1].pk != row[0]:
            (approval,) = rawsql.instances(row[:width], [Approval])
            approval.model_version = version
            approval.approving_signers, approval.review_policy = [], {"key": row[width + 2],
                                                                       "version": row[width + 3]}
            approvals.append(approval)
        if row[width] is not None:
            approvals[-1].approving_signers.append((row[width], row[width + 1]))
    return approvals


def _checks_passed(version: ModelVersion) -> bool:
    cases = (
        ReviewCase.objects.filter(model_version=version, status__in=CHECKED_CASE_STATES)
        .annotate(total=Count("check_results"),
                  passed=Count("check_results", filter=Q(check_results__status=CheckStatus.PASSED)))
        .values_list("total", "passed")
    )
    return any(total > 0 and total == passed for total, passed in cases)


def _approval_problem(version: ModelVersion, approvals: list[Approval], environment: str,
                      requirement: str, now: dt.datetime) -> dict[str, str]:
    """The reason no approval lets `version` into `environment` now."""
    label = f"{version.model}@{version.number}"
    for_environment = [approval for approval in approvals if approval.environment == environment]
    if requirement == Requirement.CHECKS and not for_environment:
        return _reason(ReasonCode.CHECKS_NOT_PASSED,
                       f"{environment} needs passing automated review checks (or an approval); {label} has no "
                       "review whose checks all passed.")
    if for_environment:
        latest = for_environment[0]
        if latest.revoked_at is not None:
            return _reason(ReasonCode.APPROVAL_REVOKED,
                           f"The approval of {label} for {environment} was revoked at "
                           f"{_timestamp(latest.revoked_at)}: {latest.revocation_reason}")
        if latest.expires_at <= now:
            return _reason(ReasonCode.APPROVAL_EXPIRED,
                           f"The approval of {label} for {environment} expired at {_timestamp(latest.expires_at)}.")
        return _reason(ReasonCode.NO_APPROVAL, f"The approval of {label} for {environment} is not valid yet.")
    if approvals:
        others = sorted({approval.environment for approval in approvals})
        return _reason(ReasonCode.ENVIRONMENT_NOT_APPROVED,
                       f"{label} is approved for {', '.join(others)}, not for {environment}.")
    return _reason(ReasonCode.NO_APPROVAL, f"{label} has no approval; submit it for review "
                                           f"(`docket review submit`) for {environment}.")


def _approval_summary(approval: Approval) -> dict[str, Any]:
    """What the gate says about the approval it relied on (as read by `_approvals_query`): who signed it and
    when, its expiry, its conditions of use and the review policy (key and version, as snapshotted when
    the review opened; from the snapshot itself when no approving signature is left to join it)."""
    signers = approval.approving_signers
    if signers:
        policy = approval.review_policy
    else:
        snapshot = approval.case.policy_snapshot
        policy = {"key": snapshot.get("key"), "version": snapshot.get("version")}
    return {
        "id": approval.pk,
        "review_case": approval.case_id,
        "environment": approval.environment,
        "artifact_sha256": approval.artifact_sha256,
        "approved_at": _timestamp(approval.approved_at),
        "expires_at": _timestamp(approval.expires_at),
        "conditions": list(approval.conditions),
        "signed_by": [{"name": name, "signed_at": _timestamp(signed_at)} for name, signed_at in signers],
        "review_policy": policy,
    }


def last_valid_approved_version(*, model: Model, environment: str, excluding: ModelVersion | None,
                                at: dt.datetime) -> Approval | None:
    """The approval of the highest-numbered other version of `model` still valid for `environment`."""
    approvals = Approval.objects.select_related("model_version").filter(
        model_version__model=model, environment=environment, revoked_at__isnull=True,
        approved_at__lte=at, expires_at__gt=at,
    )
    if excluding is not None:
        approvals = approvals.exclude(model_version=excluding)
    return approvals.order_by("-model_version__number", "-approved_at").first()


def _limit_and_checkpoint_query() -> tuple[str, list]:
    """Bounds every later statement of the decision's transaction by DOCKET_GATE_STATEMENT_TIMEOUT_MS
    (PostgreSQL; a timeout fails closed) and reads the latest signed checkpoint."""
    postgresql = connection.vendor == "postgresql"
    return (f"SELECT {'set_config(%s, %s, true)' if postgresql else 'NULL'}, latest.tree_size, latest.root_hash "
            f"FROM (SELECT 1) AS one LEFT JOIN (SELECT tree_size, root_hash FROM {Checkpoint._meta.db_table} "
            "ORDER BY tree_size DESC LIMIT 1) AS latest ON true",
            ["statement_timeout", str(int(settings.DOCKET_GATE_STATEMENT_TIMEOUT_MS))] if postgresql else [])


def _checkpoint_from_row(row) -> dict[str, Any] | None:
    if row[1] is None:
        return None
    return {"tree_size": row[1], "root_hash": base64.b64encode(bytes(row[2])).decode("ascii"),
            "origin": settings.DOCKET_AUDIT_ORIGIN}


def _read_decision_inputs(actor, auth, request) -> tuple[dict[str, Any] | None, Model | None, ModelVersion | None,
                                                         int, list[Approval]]:
    """The latest checkpoint, the model and version (with its open high-severity finding count) and the
    version's approvals, in one round trip (`rawsql.pipelined`). The statement timeout goes first, so it
    bounds the reads after it and the rest of the transaction."""
    queries = [_limit_and_checkpoint_query(), _version_query(actor, auth, request), _approvals_query(request)]
    with ExitStack() as stack:
        cursors = [stack.enter_context(connection.cursor()) for _ in queries]
        with rawsql.pipelined():
            for cursor, (sql, params) in zip(cursors, queries, strict=True):
                cursor.execute(sql, params)
        checkpoint = _checkpoint_from_row(cursors[0].fetchone())
        model, version, open_high_count = _version_from_row(cursors[1].fetchone())
        approval_rows = cursors[2].fetchall()
    approvals = _approvals_from_rows(approval_rows, version) if version is not None else []
    return checkpoint, model, version, open_high_count, approvals


def _caller(actor, auth) -> dict[str, Any]:
    api_key = api_key_of(auth)
    caller = {"username": actor.get_username(), "kind": "service_account" if actor.is_service_account else "person"}
    if api_key is not None:
        caller["api_key"] = api_key.prefix
        caller["service_account"] = api_key.service_account.name
    return caller


def _decide(*, actor, auth, request: dict) -> Decision:
    environment, sha = request["environment"], request["artifact_sha256"]
    requirement = requirement_for(environment)
    policy = gate_policy()
    with transaction.atomic():
        checkpoint, model, version, open_high_count, approvals = _read_decision_inputs(actor, auth, request)
        now = timezone.now()
        reasons: list[dict[str, str]] = []
        approval = None
        if model is None:
            reasons.append(_reason(ReasonCode.UNKNOWN_MODEL,
                                   f"There is no model {request['model']} that you may see."))
        elif version is None:
            reasons.append(_reason(ReasonCode.UNKNOWN_VERSION, f"{model} has no version {request['version']}."))
        else:
            label = f"{model}@{version.number}"
            if version.artifact_sha256 != sha:
                reasons.append(_reason(ReasonCode.ARTIFACT_MISMATCH,
                                       f"The registered artifact of {label} is sha256:{version.artifact_sha256}, "
                                       f"not sha256:{sha}; only the registered, reviewed bytes may be deployed."))
            if model.use_case.risk_class == RiskClass.PROHIBITED:
                reasons.append(_reason(ReasonCode.USE_CASE_PROHIBITED,
                                       f"Use case {model.use_case.key} is a prohibited AI practice (EU AI Act "
                                       "Art. 5); nothing in it may be deployed."))
            open_high = _open_high_findings(version) if open_high_count else []
            if open_high:
                reasons.append(_reason(ReasonCode.OPEN_HIGH_FINDING,
                                       f"Open high-severity finding(s) on {label}: {'; '.join(open_high)}"))
            approval = next((candidate for candidate in approvals
                             if candidate.environment == environment and candidate.is_valid_at(now)), None)
            if approval is not None:
                basis = _reason(ReasonCode.APPROVAL_VALID,
                                f"Approved for {environment} until {_timestamp(approval.expires_at)} "
                                f"(review {approval.case_id}).")
            elif requirement == Requirement.CHECKS and _checks_passed(version):
                basis = _reason(ReasonCode.CHECKS_PASSED,
                                f"{environment} needs passing automated checks only, and every check of a "
                                f"review of {label} passed.")
            else:
                basis = None
                reasons.append(_approval_problem(version, approvals, environment, requirement, now))
        verdict = Verdict.DENY if reasons else Verdict.ALLOW
        if verdict == Verdict.ALLOW:
            reasons = [basis]
        else:
            approval = None
        rollback = None
        if verdict == Verdict.DENY and model is not None:
            rollback = last_valid_approved_version(model=model, environment=environment, excluding=version, at=now)
        approval_summary = _approval_summary(approval) if approval is not None else None
        rollback_summary = None if rollback is None else {
            "version": rollback.model_version.number,
            "artifact_sha256": rollback.artifact_sha256,
            "approval": rollback.pk,
            "expires_at": _timestamp(rollback.expires_at),
        }
        policy = {**policy, "environment_requirement": requirement}
        decision_id = uuid.uuid4()
        entry = record(
            sequenced=True,  # the index is stored/signed below
            actor=actor,
            action=Action.GATE_DECISION_RECORDED,
            subject=SubjectRef(type="gate.gatedecision", id=str(decision_id),
                               label=f"{verdict} {request['model']}@{request['version']} for {environment}"),
            data={
                "decision": verdict,
                "reasons": reasons,
                "model": request["model"],
                "version": request["version"],
                "model_version_id": version.pk if version else None,
                "artifact_sha256": sha,
                "environment": environment,
                "approval": approval.pk if approval else None,
                "rollback_to": rollback_summary,
                "policy_version": policy["version"],
                "caller": _caller(actor, auth),
                "context": request["context"],
            },
        )
        decision = Decision(
            verdict=verdict, reasons=reasons, environment=environment, artifact_sha256=sha,
            requested={"model": request["model"], "version": request["version"]}, decided_at=entry.timestamp,
            policy=policy, decision_id=str(decision_id), audit_index=entry.index, approval=approval_summary,
            rollback_to=rollback_summary, checkpoint=checkpoint, model_version=version,
        )
        decision.attestation = _sign(decision, context=request["context"])
        gate_decision = GateDecision(
            id=decision_id, decided_at=entry.timestamp, actor=actor, requested_model=request["model"],
            requested_version=request["version"], artifact_sha256=sha, environment=environment,
            model_version=version, verdict=verdict, reasons=reasons, approval=approval,
            rollback_to=rollback.model_version if rollback else None, policy_version=policy["version"],
            context=request["context"], audit_index=entry.index, attestation=decision.attestation,
        )
        # Append-only and without signal receivers: one cached INSERT instead of the ORM's save.
        rawsql.insert(gate_decision)
    return decision


def _predicate(decision: Decision, *, context: dict) -> dict[str, Any]:
    return {
        "decision": decision.verdict,
        "reasons": decision.reasons,
        "decision_id": decision.decision_id,
        "model": decision.requested["model"],
        "version": decision.requested["version"],
        "environment": decision.environment,
        "decided_at": _timestamp(decision.decided_at),
        "approval": decision.approval,
        "rollback_to": decision.rollback_to,
        "policy": {"version": decision.policy["version"],
                   "environment_requirement": decision.policy.get("environment_requirement")},
        "audit_index": decision.audit_index,
        "audit_log": {"origin": settings.DOCKET_AUDIT_ORIGIN, "checkpoint": decision.checkpoint},
        "context": context,
    }


def _sign(decision: Decision, *, context: dict) -> dict[str, Any]:
    signer = attestation_signer()
    statement = attestation.statement(
        subject_name=f"{decision.requested['model']}@{decision.requested['version']}",
        artifact_sha256=decision.artifact_sha256,
        predicate=_predicate(decision, context=context),
    )
    return attestation.sign_envelope(statement, private_key=signer.private_key, key_id=signer.key_id)


def gate_fail_closed(*, actor, auth, request: dict | None, error: BaseException) -> Decision:
    """The gate's answer when it could not decide: deny with `internal_error` (HTTP 503). The failure is
    logged, audited as `gate.check.failed` when the database takes the write, and the deny is signed
    when the key is available. Never raises."""
    request = request or {"model": "", "version": 0, "artifact_sha256": "", "environment": "", "context": {}}
    logger.error("Gate check failed closed for %s@%s (%s, %s): %s: %s", request.get("model"),
                 request.get("version"), request.get("environment"), request.get("artifact_sha256"),
                 type(error).__name__, error, exc_info=error)
    reasons = [_reason(ReasonCode.INTERNAL_ERROR,
                       f"Docket could not decide ({type(error).__name__}); the gate fails closed. The failure "
                       "has been logged; retry, and contact the Docket operators if it persists.")]
    decision = Decision(
        verdict=Verdict.DENY, reasons=reasons, environment=request.get("environment", ""),
        artifact_sha256=request.get("artifact_sha256", ""),
        requested={"model": request.get("model", ""), "version": request.get("version", 0)},
        decided_at=timezone.now(), policy={"version": None}, http_status=503,
    )
    if actor is not None:
        try:
            decision.policy = {**gate_policy(), "environment_requirement": requirement_for(decision.environment)}
            with transaction.atomic():
                entry = record(
                    sequenced=True,  # the index is stored/signed below
                    actor=actor, action=Action.GATE_CHECK_FAILED,
                    subject=SubjectRef(type="gate.gatedecision", id=str(uuid.uuid4()),
                                       label=f"failed check of {decision.requested['model']}@"
                                             f"{decision.requested['version']}"),
                    data={"decision": Verdict.DENY, "reasons": reasons, **{
                        key: request.get(key) for key in ("model", "version", "artifact_sha256", "environment",
                                                          "context")},
                        "error": type(error).__name__, "message": str(error)[:500],
                        "caller": _caller(actor, auth)},
                )
            decision.audit_index, decision.decided_at = entry.index, entry.timestamp
        except Exception:
            logger.exception("The failed gate check could not be written to the audit log either.")
    if decision.artifact_sha256:
        try:
            decision.attestation = _sign(decision, context=request.get("context") or {})
        except Exception:
            logger.exception("The failed gate check's deny could not be signed.")
    return decision


# --- approvals: revocation --------------------------------------------------------------------------


def _require_approver(actor, use_case: UseCase, *, doing: str) -> None:
    if actor is None or not getattr(actor, "pk", None) or not actor.is_active:
        raise PermissionDenied(f"Only an active, signed-in approver may {doing}.")
    if actor.is_service_account:
        raise PermissionDenied(f"A service account cannot {doing}; an approver must.")
    if not actor.has_role(Role.APPROVER):
        raise PermissionDenied(f"Only an approver may {doing}.")
    if not can_review_use_case(actor, use_case):
        raise PermissionDenied(f"You may not {doing}: it needs permission to review use case '{use_case.key}'.")


def approval_revoke(*, actor, approval: Approval, reason: str) -> Approval:
    """An approver of the use case revokes an approval with a reason; the next gate check for that
    artifact and environment is denied with `approval_revoked`."""
    use_case = approval.model_version.model.use_case
    _require_approver(actor, use_case, doing="revoke approvals")
    reason = str(reason or "").strip()
    if not reason:
        raise validation_error("reason", "Say why the approval is revoked; pipelines and auditors read it.")
    with transaction.atomic():
        approval = Approval.objects.select_for_update().select_related("model_version__model").get(pk=approval.pk)
        if approval.revoked_at is not None:
            raise Conflict(f"The approval was already revoked at {_timestamp(approval.revoked_at)}.")
        approval.revoked_at = timezone.now()
        approval.revocation_reason = reason
        approval.save()
        lineage_services.approval_revoked(approval=approval)
        record(
            actor=actor, action=Action.GATE_APPROVAL_REVOKED, subject=approval,
            data={"model_version": str(approval.model_version), "artifact_sha256": approval.artifact_sha256,
                  "environment": approval.environment, "review_case": approval.case_id, "reason": reason,
                  "revoked_at": {"before": None, "after": approval.revoked_at},
                  "expires_at": approval.expires_at},
        )
    return approval


# --- emergency overrides and deployments ------------------------------------------------------------


def override_grant(*, actor, model_version: ModelVersion, environment: str, rationale: str) -> EmergencyOverride:
    """An approver of the use case lets one deployment of `model_version` to `environment` be recorded
    without an allow decision from the gate (an emergency). Valid for DOCKET_GATE_OVERRIDE_VALID_MINUTES,
    used once, audited and logged as a warning."""
    _require_approver(actor, model_version.model.use_case, doing="grant emergency deployment overrides")
    errors: dict[str, list[str]] = {}
    environment = str(environment or "").strip()
    if environment not in settings.DOCKET_ENVIRONMENTS:
        errors["environment"] = [(f"Unknown environment {environment!r}; environments are "
                                  f"{', '.join(settings.DOCKET_ENVIRONMENTS)}.")]
    rationale = str(rationale or "").strip()
    if not rationale:
        errors["rationale"] = ["An emergency override needs a written rationale."]
    if errors:
        raise ValidationFailed("The override was not granted", field_errors=errors)
    now = timezone.now()
    with transaction.atomic():
        override = EmergencyOverride(
            model_version=model_version, environment=environment, rationale=rationale, granted_by=actor,
            granted_at=now, expires_at=now + dt.timedelta(minutes=settings.DOCKET_GATE_OVERRIDE_VALID_MINUTES),
        )
        override.save()
        record(
            actor=actor, action=Action.GATE_OVERRIDE_GRANTED, subject=override,
            data={"model_version": str(model_version), "artifact_sha256": model_version.artifact_sha256,
                  "environment": environment, "rationale": rationale, "expires_at": override.expires_at},
        )
    logger.warning("EMERGENCY OVERRIDE granted by %s for %s in %s: %s", actor.get_username(), model_version,
                   environment, rationale)
    return override


def _allow_decision(model_version: ModelVersion, environment: str, now: dt.datetime) -> GateDecision | None:
    """The latest allow decision for the version's registered artifact in `environment` within the
    decision window whose approval (if it relied on one) is still valid."""
    window = dt.timedelta(seconds=settings.DOCKET_GATE_DECISION_VALID_SECONDS)
    candidates = GateDecision.objects.select_related("approval").filter(
        model_version=model_version, environment=environment, verdict=Verdict.ALLOW,
        artifact_sha256=model_version.artifact_sha256, decided_at__gte=now - window,
    ).order_by("-decided_at")
    for candidate in candidates[:20]:
        if candidate.approval is None or candidate.approval.is_valid_at(now):
            return candidate
    return None


def deployment_record(*, actor, model_version: ModelVersion, environment: str,
                      deployed_at: dt.datetime | None = None, pipeline_run: str = "") -> Deployment:
    """Records a deployment (registry.services.deployment_record) only when the gate allowed this
    version's artifact into `environment` within DOCKET_GATE_DECISION_VALID_SECONDS (and the approval
    it relied on is still valid), or an unused emergency override exists; otherwise Conflict. The
    basis is audited as `gate.deployment.authorized` in the same transaction."""
    registry_permissions.require_submit_to(actor, model_version.model.use_case,
                                           doing="record deployments in this use case")
    if environment not in settings.DOCKET_ENVIRONMENTS:
        raise validation_error("environment", f"Unknown environment {environment!r}; environments are "
                                              f"{', '.join(settings.DOCKET_ENVIRONMENTS)}.")
    now = timezone.now()
    with transaction.atomic():
        decision = _allow_decision(model_version, environment, now)
        override = None
        if decision is None:
            override = (EmergencyOverride.objects.select_for_update(of=("self",))
                        .filter(model_version=model_version, environment=environment, expires_at__gt=now,
                                use__isnull=True).order_by("-granted_at").first())
        if decision is None and override is None:
            raise Conflict(
                f"The gate has not allowed {model_version} into {environment} (no allow decision in the last "
                f"{settings.DOCKET_GATE_DECISION_VALID_SECONDS // 3600} h with a still-valid approval), and no "
                "emergency override exists. Run `docket gate check` first, or ask an approver for an emergency "
                "override.", code="no_allow_decision",
            )
        deployment = registry_services.deployment_record(
            actor=actor, model_version=model_version, environment=environment, deployed_at=deployed_at,
            pipeline_run=pipeline_run,
        )
        if decision is not None:
            basis = {"kind": "allow_decision", "decision_id": str(decision.pk), "audit_index": decision.audit_index,
                     "decided_at": decision.decided_at, "approval": decision.approval_id}
        else:
            try:
                with transaction.atomic():
                    OverrideUse.objects.create(override=override, deployment=deployment, used_at=now)
            except IntegrityError:
                raise Conflict("That emergency override has just been used by another deployment.") from None
            basis = {"kind": "emergency_override", "override": override.pk, "granted_by": override.granted_by.display_name,
                     "rationale": override.rationale, "granted_at": override.granted_at}
        record(actor=actor, action=Action.GATE_DEPLOYMENT_AUTHORIZED, subject=deployment,
               data={"model_version": str(model_version), "artifact_sha256": model_version.artifact_sha256,
                     "environment": environment, "basis": basis})
    if override is not None:
        logger.warning("Deployment %s of %s in %s recorded under EMERGENCY OVERRIDE %s (%s)", deployment.pk,
                       model_version, environment, override.pk, override.rationale)
    return deployment
