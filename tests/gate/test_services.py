"""apps/gate/services.py: every reason code, the audit entry of every decision, revocation on the next
call, expiry, rollback_to, failing closed, approvals revoked, overrides and deployments."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.db import connection
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.gate import services
from apps.gate.attestation import verify_attestation
from apps.gate.models import EmergencyOverride, GateDecision
from apps.registry.models import Deployment, DeploymentStatus, RiskClass
from apps.reviews.models import CheckStatus, ReviewStatus
from tests.factories.accounts import TeamFactory, UserFactory, api_key_with_plaintext
from tests.factories.registry import ModelFactory, ModelVersionFactory, UseCaseFactory
from tests.gate.conftest import last_entry

pytestmark = pytest.mark.django_db


def check(pipeline, version, environment="production", *, sha=None, model=None, number=None, context=None):
    user, api_key, _ = pipeline
    return services.gate_check(
        actor=user, auth=api_key, model=model or f"{version.model.use_case.key}/{version.model.key}",
        version=number or version.number, artifact_sha256=sha or version.artifact_sha256,
        environment=environment, context=context if context is not None else {"pipeline": "deploy", "commit": "abc1234"},
    )


def codes(decision) -> list[str]:
    return [reason["code"] for reason in decision.reasons]


# --- allow ------------------------------------------------------------------------------------------


def test_the_approval_relied_on_lists_its_own_signers_in_signing_order_and_its_policy(pipeline, version, approve,
                                                                                      approver):
    from apps.reviews.models import Decision, SignatureMeaning

    staging = approve(version, "staging", approved=timezone.now() - dt.timedelta(hours=1))
    production = approve(version, "production", approved=timezone.now() - dt.timedelta(days=2))
    second = UserFactory(username="grace-approver", first_name="Grace", last_name="Second")
    Decision(case=production.case, meaning=SignatureMeaning.APPROVED, signer=second, signer_printed_name="Grace Second",
             signed_at=production.approved_at + dt.timedelta(minutes=5), manifest={}, manifest_sha256="2" * 64).save()
    Decision(case=production.case, meaning=SignatureMeaning.VALIDATED, signer=second, signer_printed_name="Not Approving",
             signed_at=production.approved_at - dt.timedelta(minutes=5), manifest={}, manifest_sha256="3" * 64).save()

    decision = check(pipeline, version, "production")

    assert decision.approval["id"] == production.pk != staging.pk
    assert [signer["name"] for signer in decision.approval["signed_by"]] == ["Ada Approver", "Grace Second"]
    assert decision.approval["review_policy"] == {"key": "gate-tests", "version": 1}
    assert [signer["name"] for signer in check(pipeline, version, "staging").approval["signed_by"]] == ["Ada Approver"]


def test_a_valid_approval_allows_and_the_decision_is_audited_signed_and_stored(pipeline, version, approve, vkey):
    approval = approve(version, "production")

    decision = check(pipeline, version, context={"pipeline": "deploy", "run_url": "https://ci/run/7"})

    assert (decision.verdict, codes(decision), decision.http_status) == ("allow", ["approval_valid"], 200)
    assert decision.approval["id"] == approval.pk
    assert decision.approval["conditions"] == ["Human review of every decline."]
    assert decision.approval["signed_by"][0]["name"] == "Ada Approver"
    assert decision.approval["expires_at"].startswith(str(approval.expires_at.date()))
    entry = last_entry()
    assert entry.index == decision.audit_index
    assert (entry.action, entry.subject_type, entry.subject_id) == (
        Action.GATE_DECISION_RECORDED, "gate.gatedecision", decision.decision_id)
    assert entry.actor_type == "service_account" and entry.actor_name == "deploy-pipeline"
    assert entry.data["decision"] == "allow" and entry.data["approval"] == approval.pk
    assert entry.data["context"] == {"pipeline": "deploy", "run_url": "https://ci/run/7"}
    assert entry.data["caller"]["api_key"] == pipeline[1].prefix
    stored = GateDecision.objects.get(pk=decision.decision_id)
    assert (stored.verdict, stored.audit_index, stored.approval_id) == ("allow", entry.index, approval.pk)
    statement = verify_attestation(decision.attestation, [vkey], artifact_sha256=version.artifact_sha256)
    assert statement["predicate"]["decision"] == "allow"
    assert statement["predicate"]["audit_index"] == entry.index
    assert statement["predicate"]["policy"]["version"] == decision.policy["version"]


def test_staging_needs_only_passing_checks(pipeline, version, review):
    review(version, "production", status=ReviewStatus.AWAITING_VALIDATION)

    decision = check(pipeline, version, "staging")

    assert (decision.verdict, codes(decision)) == ("allow", ["checks_passed"])
    assert decision.policy["environment_requirement"] == "checks"


def test_production_is_not_allowed_on_passing_checks_alone(pipeline, version, review):
    review(version, "production", status=ReviewStatus.AWAITING_VALIDATION)

    assert codes(check(pipeline, version, "production")) == ["no_approval"]


def test_the_requirement_per_environment_is_configurable(pipeline, version, review, settings):
    review(version, "production", status=ReviewStatus.AWAITING_VALIDATION)
    settings.DOCKET_GATE_REQUIREMENTS = {"staging": "approval"}

    decision = check(pipeline, version, "staging")

    assert (decision.verdict, codes(decision)) == ("deny", ["no_approval"])
    assert decision.policy["environment_requirement"] == "approval"


# --- deny: one test per reason code -----------------------------------------------------------------


def test_unknown_model_is_denied_and_audited(pipeline, version, state):
    before = state()

    decision = check(pipeline, version, model="credit-scoring/no-such-model")

    assert (decision.verdict, codes(decision)) == ("deny", ["unknown_model"])
    assert state()["audit_entries"] == before["audit_entries"] + 1
    assert last_entry().data["decision"] == "deny" and last_entry().data["model_version_id"] is None


def test_a_model_of_another_team_is_unknown_to_the_pipeline(pipeline, approve):
    other = ModelVersionFactory(model=ModelFactory(use_case=UseCaseFactory(key="cv-screening", owner_team=TeamFactory())))
    approve(other, "production")

    decision = check(pipeline, other)

    assert codes(decision) == ["unknown_model"]
    assert decision.rollback_to is None


def test_unknown_version_is_denied(pipeline, version):
    assert codes(check(pipeline, version, number=99)) == ["unknown_version"]


def test_artifact_mismatch_is_denied_even_with_a_valid_approval(pipeline, version, approve):
    approve(version, "production")

    decision = check(pipeline, version, sha="ab" * 32)

    assert (decision.verdict, codes(decision)) == ("deny", ["artifact_mismatch"])
    assert decision.approval is None
    assert decision.artifact_sha256 == "ab" * 32


def test_a_prohibited_use_case_is_denied(pipeline, version, approve):
    approve(version, "production")
    version.model.use_case.risk_class = RiskClass.PROHIBITED
    version.model.use_case.save()

    assert codes(check(pipeline, version)) == ["use_case_prohibited"]


def test_an_open_high_finding_is_denied(pipeline, version, approve, review, high_finding):
    approve(version, "production")
    high_finding(review(version, "staging", status=ReviewStatus.AWAITING_APPROVAL))

    decision = check(pipeline, version)

    assert codes(decision) == ["open_high_finding"]
    assert "Leakage of the label" in decision.reasons[0]["detail"]


def test_no_approval_is_denied(pipeline, version):
    assert codes(check(pipeline, version)) == ["no_approval"]


def test_an_approval_for_another_environment_is_denied(pipeline, version, approve):
    approve(version, "staging")

    assert codes(check(pipeline, version, "production")) == ["environment_not_approved"]


def test_an_expired_approval_is_denied(pipeline, version, approve):
    approve(version, "production", approved=timezone.now() - dt.timedelta(days=200), valid_for=dt.timedelta(days=180))

    decision = check(pipeline, version)

    assert codes(decision) == ["approval_expired"]


def test_an_approval_expires_at_its_expiry_instant(pipeline, version, approve, monkeypatch):
    approval = approve(version, "production")
    monkeypatch.setattr(timezone, "now", lambda: approval.expires_at)

    assert codes(check(pipeline, version)) == ["approval_expired"]


def test_checks_not_passed_is_denied_in_staging(pipeline, version, review):
    review(version, "production", status=ReviewStatus.AWAITING_VALIDATION,
           checks={"documentation": CheckStatus.PASSED, "fairness": CheckStatus.FAILED})

    assert codes(check(pipeline, version, "staging")) == ["checks_not_passed"]


def test_checks_of_a_rejected_review_do_not_count(pipeline, version, review):
    review(version, "production", status=ReviewStatus.REJECTED)

    assert codes(check(pipeline, version, "staging")) == ["checks_not_passed"]


def test_several_reasons_are_all_named(pipeline, version):
    version.model.use_case.risk_class = RiskClass.PROHIBITED
    version.model.use_case.save()

    assert codes(check(pipeline, version, sha="cd" * 32)) == ["artifact_mismatch", "use_case_prohibited",
                                                                "no_approval"]


# --- revocation, rollback_to ------------------------------------------------------------------------


def test_revocation_takes_effect_on_the_next_call_and_names_rollback_to(pipeline, model, approve, approver):
    old = ModelVersionFactory(model=model, number=1)
    new = ModelVersionFactory(model=model, number=2)
    approve(old, "production")
    approval = approve(new, "production")
    assert check(pipeline, new).verdict == "allow"

    services.approval_revoke(actor=approver, approval=approval, reason="Drift found in monitoring.")
    decision = check(pipeline, new)

    assert codes(decision) == ["approval_revoked"]
    assert "Drift found in monitoring." in decision.reasons[0]["detail"]
    assert decision.rollback_to["version"] == 1
    assert decision.rollback_to["artifact_sha256"] == old.artifact_sha256
    assert GateDecision.objects.get(pk=decision.decision_id).rollback_to == old
    assert last_entry().data["rollback_to"]["version"] == 1


def test_rollback_to_skips_revoked_and_expired_versions_and_other_environments(pipeline, model, approve, approver):
    v1, v2, v3, v4 = (ModelVersionFactory(model=model, number=n) for n in (1, 2, 3, 4))
    approve(v1, "production")
    services.approval_revoke(actor=approver, approval=approve(v2, "production"), reason="Bias.")
    approve(v3, "production", approved=timezone.now() - dt.timedelta(days=400))
    approve(v3, "staging")

    decision = check(pipeline, v4)

    assert decision.rollback_to["version"] == 1


def test_rollback_to_is_empty_when_no_other_version_is_approved(pipeline, version):
    assert check(pipeline, version).rollback_to is None


# --- bad input: refused before anything is recorded -------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("artifact_sha256", "abc123"),
    ("artifact_sha256", "g" * 64),
    ("artifact_sha256", "a" * 65),
    ("environment", "prod"),
    ("model", "no-use-case-part"),
    ("model", "a/b/c"),
    ("version", 0),
    ("version", "1"),
    ("context", ["not", "an", "object"]),
    ("context", {"big": "x" * 9000}),
    ("context", {"nul": "a\x00b"}),
])
def test_malformed_requests_are_refused_and_record_nothing(pipeline, version, approve, state, field, value):
    approve(version, "production")
    arguments = {"model": "credit-scoring/default-lr", "version": 1, "artifact_sha256": version.artifact_sha256,
                 "environment": "production", "context": {}}
    arguments[field] = value
    before = state()

    with pytest.raises(ValidationFailed) as refused:
        services.gate_check(actor=pipeline[0], auth=pipeline[1], **arguments)

    assert field in refused.value.field_errors
    assert state() == before


def test_a_sha256_prefix_and_upper_case_are_accepted(pipeline, version, approve):
    approve(version, "production")

    decision = check(pipeline, version, sha="sha256:" + version.artifact_sha256.upper())

    assert decision.verdict == "allow"


def test_an_anonymous_caller_is_refused(version, state):
    from django.contrib.auth.models import AnonymousUser

    before = state()
    with pytest.raises(PermissionDenied):
        services.gate_check(actor=AnonymousUser(), model="credit-scoring/default-lr", version=1,
                            artifact_sha256=version.artifact_sha256, environment="production")
    assert state() == before


# --- failing closed ---------------------------------------------------------------------------------


def test_an_internal_error_denies_with_503_and_is_audited(pipeline, version, approve, monkeypatch, caplog, vkey):
    approve(version, "production")

    def broken(*args, **kwargs):
        raise RuntimeError("policy table corrupted")

    monkeypatch.setattr(services, "_checks_passed", broken)
    monkeypatch.setattr(services, "_approval_summary", broken)
    with caplog.at_level(logging.ERROR, logger="apps.gate.services"):
        decision = check(pipeline, version)

    assert (decision.verdict, codes(decision), decision.http_status) == ("deny", ["internal_error"], 503)
    assert "RuntimeError" in decision.reasons[0]["detail"]
    assert any("failed closed" in record.getMessage() for record in caplog.records)
    entry = last_entry()
    assert entry.action == Action.GATE_CHECK_FAILED and entry.data["error"] == "RuntimeError"
    assert entry.index == decision.audit_index
    assert not GateDecision.objects.exists()
    statement = verify_attestation(decision.attestation, [vkey])
    assert statement["predicate"]["decision"] == "deny"


def test_a_statement_timeout_denies(pipeline, version, approve, settings, monkeypatch):
    approve(version, "production")
    settings.DOCKET_GATE_STATEMENT_TIMEOUT_MS = 10
    # The version lookup, sent after the timeout in the same round trip, takes half a second.
    monkeypatch.setattr(services, "_version_query", lambda *args: ("SELECT pg_sleep(0.5)", []))
    decision = check(pipeline, version)

    assert (decision.verdict, codes(decision), decision.http_status) == ("deny", ["internal_error"], 503)
    assert "OperationalError" in decision.reasons[0]["detail"]


@pytest.mark.django_db(transaction=True)
def test_with_the_database_unavailable_the_gate_denies_and_logs(pipeline, version, approve, caplog):
    approve(version, "production")
    user, api_key, _ = pipeline
    entries = AuditEntry.objects.count()
    settings_dict = connection.settings_dict
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", "1"  # nothing listens there
    try:
        with caplog.at_level(logging.ERROR, logger="apps.gate.services"):
            decision = services.gate_check(actor=user, auth=api_key, model="credit-scoring/default-lr", version=1,
                                           artifact_sha256=version.artifact_sha256, environment="production")
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved

    assert (decision.verdict, codes(decision), decision.http_status) == ("deny", ["internal_error"], 503)
    assert "OperationalError" in decision.reasons[0]["detail"]
    assert decision.audit_index is None
    messages = [record.getMessage() for record in caplog.records]
    assert any("failed closed" in message for message in messages)
    assert any("could not be written to the audit log" in message for message in messages)
    assert decision.attestation is not None  # the deny is still signed: the key is not in the database
    assert AuditEntry.objects.count() == entries


# --- approvals: revocation --------------------------------------------------------------------------


def test_an_approver_revokes_an_approval_with_an_audit_entry(version, approve, approver):
    approval = approve(version, "production")

    revoked = services.approval_revoke(actor=approver, approval=approval, reason="Data drift.")

    assert revoked.revoked_at is not None and revoked.revocation_reason == "Data drift."
    entry = last_entry()
    assert (entry.action, entry.subject_type, entry.subject_id) == (
        Action.GATE_APPROVAL_REVOKED, "reviews.approval", str(approval.pk))
    assert entry.data["reason"] == "Data drift." and entry.data["revoked_at"]["before"] is None
    assert entry.data["environment"] == "production"


@pytest.mark.parametrize("who", ["submitter", "service_account", "approver_without_review_permission", "auditor"])
def test_only_approvers_of_the_use_case_revoke(version, approve, state, who, submitter, pipeline):
    from apps.accounts.roles import Role

    approval = approve(version, "production")
    actor = {
        "submitter": submitter,
        "service_account": pipeline[0],
        "approver_without_review_permission": UserFactory(roles=[Role.APPROVER]),
        "auditor": UserFactory(roles=[Role.AUDITOR]),
    }[who]
    before = state()

    with pytest.raises(PermissionDenied):
        services.approval_revoke(actor=actor, approval=approval, reason="No.")

    assert state() == before


def test_revoking_without_a_reason_or_twice_is_refused(version, approve, approver, state):
    approval = approve(version, "production")
    before = state()
    with pytest.raises(ValidationFailed):
        services.approval_revoke(actor=approver, approval=approval, reason="  ")
    assert state() == before

    services.approval_revoke(actor=approver, approval=approval, reason="Drift.")
    before = state()
    with pytest.raises(Conflict):
        services.approval_revoke(actor=approver, approval=approval, reason="Again.")
    assert state() == before


# --- deployments against the gate -------------------------------------------------------------------


def test_a_deployment_without_an_allow_decision_is_refused(pipeline, version, state):
    check(pipeline, version)  # a deny does not count
    before = state()

    with pytest.raises(Conflict) as refused:
        services.deployment_record(actor=pipeline[0], model_version=version, environment="production")

    assert refused.value.extra["code"] == "no_allow_decision"
    assert state() == before


def test_a_deployment_after_an_allow_is_recorded_with_its_basis(pipeline, version, approve):
    approve(version, "production")
    decision = check(pipeline, version)

    deployment = services.deployment_record(actor=pipeline[0], model_version=version, environment="production",
                                            pipeline_run="https://ci/run/7")

    assert (deployment.status, deployment.environment) == (DeploymentStatus.ACTIVE, "production")
    entry = last_entry()
    assert (entry.action, entry.subject_id) == (Action.GATE_DEPLOYMENT_AUTHORIZED, str(deployment.pk))
    assert entry.data["basis"]["kind"] == "allow_decision"
    assert entry.data["basis"]["decision_id"] == decision.decision_id
    assert AuditEntry.objects.filter(action=Action.REGISTRY_DEPLOYMENT_RECORDED, subject_id=str(deployment.pk)).exists()


def test_an_allow_whose_approval_was_revoked_since_no_longer_authorises_a_deployment(pipeline, version, approve,
                                                                                     approver, state):
    approval = approve(version, "production")
    check(pipeline, version)
    services.approval_revoke(actor=approver, approval=approval, reason="Recalled.")
    before = state()

    with pytest.raises(Conflict):
        services.deployment_record(actor=pipeline[0], model_version=version, environment="production")

    assert state() == before


def test_an_allow_older_than_the_window_does_not_count(pipeline, version, approve, settings, state):
    approve(version, "production")
    check(pipeline, version)
    settings.DOCKET_GATE_DECISION_VALID_SECONDS = 0
    before = state()

    with pytest.raises(Conflict):
        services.deployment_record(actor=pipeline[0], model_version=version, environment="production")

    assert state() == before


def test_an_allow_for_another_environment_does_not_count(pipeline, version, review, state):
    review(version, "production", status=ReviewStatus.AWAITING_VALIDATION)
    assert check(pipeline, version, "staging").verdict == "allow"
    before = state()

    with pytest.raises(Conflict):
        services.deployment_record(actor=pipeline[0], model_version=version, environment="production")

    assert state() == before


def test_an_emergency_override_lets_one_deployment_through_loudly(pipeline, version, approver, caplog):
    with caplog.at_level(logging.WARNING, logger="apps.gate.services"):
        override = services.override_grant(actor=approver, model_version=version, environment="production",
                                           rationale="Outage: the current model crashes on every request.")
        entry = last_entry()
        assert (entry.action, entry.subject_type) == (Action.GATE_OVERRIDE_GRANTED, "gate.emergencyoverride")
        assert entry.data["rationale"].startswith("Outage")

        deployment = services.deployment_record(actor=pipeline[0], model_version=version, environment="production")

    basis = last_entry().data["basis"]
    assert (basis["kind"], basis["override"], basis["granted_by"]) == ("emergency_override", override.pk,
                                                                       approver.display_name)
    assert sum("EMERGENCY OVERRIDE" in record.getMessage() for record in caplog.records) == 2
    deployment.refresh_from_db()
    with pytest.raises(Conflict):  # used once
        services.deployment_record(actor=pipeline[0], model_version=version, environment="production")
    assert Deployment.objects.count() == 1


def test_an_expired_override_does_not_count(pipeline, version, approver, settings, state):
    settings.DOCKET_GATE_OVERRIDE_VALID_MINUTES = 0
    services.override_grant(actor=approver, model_version=version, environment="production", rationale="Outage.")
    before = state()

    with pytest.raises(Conflict):
        services.deployment_record(actor=pipeline[0], model_version=version, environment="production")

    assert state() == before


@pytest.mark.parametrize(("who", "rationale", "environment", "error"), [
    ("submitter", "Outage.", "production", PermissionDenied),
    ("service_account", "Outage.", "production", PermissionDenied),
    ("approver", "", "production", ValidationFailed),
    ("approver", "Outage.", "prod", ValidationFailed),
])
def test_overrides_need_an_approver_a_rationale_and_a_known_environment(version, approver, submitter, pipeline,
                                                                        state, who, rationale, environment, error):
    actor = {"submitter": submitter, "service_account": pipeline[0], "approver": approver}[who]
    before = state()

    with pytest.raises(error):
        services.override_grant(actor=actor, model_version=version, environment=environment, rationale=rationale)

    assert state() == before and not EmergencyOverride.objects.exists()


def test_a_caller_without_submit_permission_cannot_record_a_deployment(version, approve, state):
    approve(version, "production")
    outsider, _ = api_key_with_plaintext(service_account__team=TeamFactory())
    before = state()

    with pytest.raises(PermissionDenied):
        services.deployment_record(actor=outsider.service_account.user, model_version=version,
                                   environment="production")

    assert state() == before


def test_the_timeout_and_the_reads_go_in_one_round_trip_and_the_writes_after_it(pipeline, version, approve):
    approve(version, "production")
    from psycopg.pq import PipelineStatus

    statements = []

    def note(execute, sql, params, many, context):
        if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):  # the test's own transaction
            statements.append((" ".join(sql.split()[:2]), PipelineStatus(connection.connection.pgconn.pipeline_status).name))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        assert check(pipeline, version).verdict == "allow"

    assert statements == [
        ("SELECT set_config(%s,", "ON"),  # the statement timeout and the latest checkpoint
        ("SELECT uc.id,", "ON"),  # the model and version, if visible
        ('SELECT a."id",', "ON"),  # its approvals
        ("SELECT entry_index,", "OFF"),  # the audit entry
        ('INSERT INTO', "OFF"),  # the GateDecision
    ]


def test_a_decision_with_its_attestation_is_stored_inline_not_toasted(pipeline, version, approve):
    approve(version, "production")
    decision = check(pipeline, version)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_size(g.*), pg_relation_size(c.reltoastrelid), c.reloptions "
                       "FROM gate_gatedecision g, pg_class c WHERE c.relname = 'gate_gatedecision' AND g.id = %s",
                       [decision.decision_id])
        row_size, toast_size, options = cursor.fetchone()
    assert row_size > 2032  # above PostgreSQL's default toasting threshold...
    assert toast_size == 0  # ...yet nothing went out of line (migration gate.0003)
    assert "toast_tuple_target=4080" in options
