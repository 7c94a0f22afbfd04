"""Review cases through their services: each transition with its audit entry, separation of duties,
e-signatures, findings, risk acceptance and approval."""

import datetime as dt
import hashlib

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.audit.encoding import canonical_json, normalise
from apps.common.errors import Conflict, ImmutableRecord, PermissionDenied, ValidationFailed
from apps.reviews import services
from apps.reviews.models import (
    Approval,
    CheckResult,
    Decision,
    Finding,
    ReviewCase,
    ReviewPolicy,
    ReviewStatus,
    RiskAcceptance,
)

from .conftest import PASSWORD, finish_checks

pytestmark = pytest.mark.django_db


# --- opening ----------------------------------------------------------------------------------------


def test_open_locks_the_policy_snapshot_and_thresholds_and_records_the_opening(
    open_case, model_version, submitter, last_entry, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        case = open_case()

    policy = ReviewPolicy.objects.get(key="high-risk-tier-2")
    assert case.status == ReviewStatus.OPEN
    assert case.policy == policy
    assert case.thresholds == policy.thresholds
    assert case.policy_snapshot_sha256 == hashlib.sha256(canonical_json(normalise(case.policy_snapshot))).hexdigest()
    assert case.evaluation["label_column"] == "defaulted"
    assert case.evaluation["protected_attributes"] == ["sex", "age_band"]
    assert len(callbacks) == 1, "the checks are queued once, after commit"
    entry = last_entry()
    assert entry.action == "reviews.case.opened"
    assert entry.subject_id == str(case.pk)
    assert entry.actor_name == submitter.display_name
    assert entry.data["policy"] == {"key": "high-risk-tier-2", "version": 1,
                                    "snapshot_sha256": case.policy_snapshot_sha256}
    assert entry.data["model_version"]["artifact_sha256"] == model_version.artifact_sha256
    assert entry.data["thresholds"]["fairness"]["demographic_parity_ratio_min"] == "0.8"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"environment": "moon"}, "environment"),
        ({"label_column": "no_such_column"}, "label_column"),
        ({"label_column": "income"}, "label_column"),
        ({"label_column": ""}, "label_column"),
        ({"positive_label": True}, "positive_label"),
    ],
    ids=["unknown-environment", "label-not-a-column", "label-is-a-feature", "label-missing", "boolean-label"],
)
def test_open_refuses_bad_input_and_changes_nothing(open_case, overrides, field, audit_count):
    before = audit_count()
    with pytest.raises(ValidationFailed) as refused:
        open_case(**overrides)
    assert field in refused.value.field_errors
    assert ReviewCase.objects.count() == 0
    assert audit_count() == before


def test_open_refuses_an_unclassified_use_case(open_case, model_version, audit_count):
    use_case = model_version.model.use_case
    type(use_case).objects.filter(pk=use_case.pk).update(risk_class="")
    use_case.refresh_from_db()
    before = audit_count()
    with pytest.raises(ValidationFailed, match="not opened"):
        open_case()
    assert ReviewCase.objects.count() == 0 and audit_count() == before


def test_open_refuses_someone_without_submit_permission(open_case, validator, audit_count):
    before = audit_count()
    with pytest.raises(PermissionDenied):
        open_case(actor=validator)
    assert ReviewCase.objects.count() == 0 and audit_count() == before


def test_a_second_active_case_for_the_same_version_and_environment_is_refused(open_case, audit_count):
    open_case()
    before = audit_count()
    with pytest.raises(Conflict):
        open_case()
    assert ReviewCase.objects.count() == 1 and audit_count() == before


# --- locked thresholds ------------------------------------------------------------------------------


def test_a_new_policy_version_does_not_change_an_open_case(open_case, admin_user):
    case = open_case()
    current = ReviewPolicy.objects.get(key="high-risk-tier-2")
    changed = {**current.snapshot(), "thresholds": {**current.thresholds, "fairness": {"demographic_parity_ratio_min": 0.5}}}
    changed.pop("version")
    services.policy_version_create(actor=admin_user, change_reason="Looser, for the test.", **changed)

    case.refresh_from_db()
    assert case.thresholds["fairness"]["demographic_parity_ratio_min"] == 0.8
    assert case.policy.version == 1


def test_thresholds_cannot_be_changed_through_the_model(open_case):
    case = open_case()
    case.thresholds = {"fairness": {"demographic_parity_ratio_min": 0.1}}
    with pytest.raises(ImmutableRecord, match="thresholds"):
        case.save()
    with pytest.raises(ImmutableRecord):
        ReviewCase.objects.filter(pk=case.pk).update(thresholds={})


def test_thresholds_cannot_be_changed_in_the_database(open_case):
    case = open_case()
    with pytest.raises(IntegrityError, match="locked"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE reviews_reviewcase SET thresholds = '{}'::jsonb WHERE id = %s", [case.pk])
    case.refresh_from_db()
    assert case.thresholds["fairness"]["demographic_parity_ratio_min"] == 0.8


# --- checks start and finish ------------------------------------------------------------------------


def test_checks_start_creates_one_result_per_required_check_and_is_idempotent(
    open_case, last_entry, django_capture_on_commit_callbacks
):
    case = open_case()
    with django_capture_on_commit_callbacks() as callbacks:
        services.review_checks_start(case=case)
    case.refresh_from_db()
    assert case.status == ReviewStatus.CHECKS_RUNNING
    kinds = sorted(case.check_results.values_list("kind", flat=True))
    assert kinds == sorted(case.policy_snapshot["required_checks"])
    assert len(callbacks) == len(kinds)
    entry = last_entry()
    assert entry.action == "reviews.case.checks_started"
    assert entry.data["status"] == {"before": "open", "after": "checks_running"}

    services.review_checks_start(case=case)
    assert CheckResult.objects.filter(case=case).count() == len(kinds)
    assert last_entry().index == entry.index


def test_the_last_finished_check_moves_the_case_to_awaiting_validation(open_case, last_entry):
    case = finish_checks(open_case())
    assert case.status == ReviewStatus.AWAITING_VALIDATION
    entry = last_entry()
    assert entry.action == "reviews.case.checks_completed"
    assert entry.data["status"] == {"before": "checks_running", "after": "awaiting_validation"}
    assert set(entry.data["checks"]) == set(case.policy_snapshot["required_checks"])


def test_a_finished_check_is_never_overwritten(case_awaiting_validation, audit_count):
    result = case_awaiting_validation.check_results.first()
    before = (result.status, result.result_sha256, audit_count())
    services.check_result_record(
        check_result_id=result.pk,
        outcome=services.CheckOutcome(status="failed", summary="late duplicate"),
        duration_seconds=1,
    )
    result.refresh_from_db()
    assert (result.status, result.result_sha256, audit_count()) == before
    assert services.check_run(check_result_id=result.pk).status == before[0]


# --- validation and e-signatures --------------------------------------------------------------------


def test_validate_signs_with_password_and_binds_the_manifest_hash_in_the_log(
    case_awaiting_validation, validator, last_entry
):
    case = case_awaiting_validation
    decision = services.review_validate(actor=validator, case=case, password=PASSWORD, comment="Evidence holds.")

    case.refresh_from_db()
    assert case.status == ReviewStatus.AWAITING_APPROVAL
    assert decision.meaning == "validated"
    assert decision.signer_printed_name == validator.display_name
    assert decision.manifest_sha256 == hashlib.sha256(canonical_json(decision.manifest)).hexdigest()
    assert decision.manifest["model_version"]["artifact_sha256"] == case.model_version.artifact_sha256
    assert decision.manifest["policy"]["snapshot_sha256"] == case.policy_snapshot_sha256
    assert {check["kind"] for check in decision.manifest["checks"]} == set(case.policy_snapshot["required_checks"])
    assert all(check["result_sha256"] for check in decision.manifest["checks"])
    entry = last_entry()
    assert entry.action == "reviews.decision.signed"
    assert decision.audit_index == entry.index
    assert entry.data["manifest_sha256"] == decision.manifest_sha256
    assert entry.data["printed_name"] == validator.display_name
    assert entry.data["status"] == {"before": "awaiting_validation", "after": "awaiting_approval"}


def test_a_wrong_password_signs_nothing(case_awaiting_validation, validator, audit_count):
    before = audit_count()
    with pytest.raises(PermissionDenied, match="password"):
        services.review_validate(actor=validator, case=case_awaiting_validation, password="wrong-password")
    case_awaiting_validation.refresh_from_db()
    assert case_awaiting_validation.status == ReviewStatus.AWAITING_VALIDATION
    assert Decision.objects.count() == 0 and audit_count() == before


@pytest.mark.parametrize("who", ["submitter", "developer"])
def test_the_submitter_and_the_developer_cannot_validate_their_own_version(
    case_awaiting_validation, who, request, audit_count
):
    actor = request.getfixturevalue(who)
    from guardian.shortcuts import assign_perm

    assign_perm("registry.review_usecase", actor, case_awaiting_validation.model_version.model.use_case)
    if who == "submitter":
        from django.contrib.auth.models import Group

        from apps.accounts.roles import Role

        actor.groups.add(Group.objects.get(name=str(Role.VALIDATOR)))
    before = audit_count()
    with pytest.raises(PermissionDenied, match="Separation of duties"):
        services.review_validate(actor=actor, case=case_awaiting_validation, password=PASSWORD)
    assert Decision.objects.count() == 0 and audit_count() == before


def test_a_named_developer_cannot_validate_a_version_registered_by_someone_else(use_case, submitter, validator,
                                                                                 audit_count):
    """SR 11-7: validation is independent of development. A pipeline registered the version naming the
    validator among its developers: the validator may not validate it, and it is not in their queue,
    while another validator may and has it there."""
    from apps.accounts.roles import Role
    from apps.registry.models import ModelVersionDeveloper, evidence_window
    from apps.reviews.selectors import review_cases_awaiting_action_by
    from tests.factories.accounts import UserFactory
    from tests.factories.registry import ModelFactory, ModelVersionFactory

    from .conftest import _reviewer

    pipeline = UserFactory(username="svc.ci", kind="service")
    version = ModelVersionFactory(model=ModelFactory(use_case=use_case), registered_by=pipeline)
    with evidence_window(version):
        ModelVersionDeveloper(model_version=version, user=validator).save()
    case = finish_checks(services.review_open(actor=submitter, model_version=version, environment="production"))
    independent = _reviewer("ivan-independent", Role.VALIDATOR, use_case)

    assert case not in review_cases_awaiting_action_by(validator)
    assert case in review_cases_awaiting_action_by(independent)
    before = audit_count()
    with pytest.raises(PermissionDenied, match="Separation of duties: the submitter or developer"):
        services.review_validate(actor=validator, case=case, password=PASSWORD)
    assert Decision.objects.count() == 0 and audit_count() == before
    services.review_validate(actor=independent, case=case, password=PASSWORD)
    assert Decision.objects.get().signer == independent


def test_a_validator_without_review_permission_on_the_use_case_is_refused(case_awaiting_validation, audit_count):
    from apps.accounts.roles import Role
    from tests.factories.accounts import UserFactory

    stranger = UserFactory(roles=[Role.VALIDATOR])
    before = audit_count()
    with pytest.raises(PermissionDenied, match="review use case"):
        services.review_validate(actor=stranger, case=case_awaiting_validation, password=PASSWORD)
    assert Decision.objects.count() == 0 and audit_count() == before


def test_an_approver_cannot_validate(case_awaiting_validation, approver):
    with pytest.raises(PermissionDenied, match="validator"):
        services.review_validate(actor=approver, case=case_awaiting_validation, password=PASSWORD)


# --- approval ---------------------------------------------------------------------------------------


@pytest.fixture
def case_awaiting_approval(case_awaiting_validation, validator):
    services.review_validate(actor=validator, case=case_awaiting_validation, password=PASSWORD)
    case_awaiting_validation.refresh_from_db()
    return case_awaiting_validation


def test_approve_creates_the_approval_for_the_artifact_and_environment(case_awaiting_approval, approver, last_entry):
    case = case_awaiting_approval
    decision = services.review_approve(actor=approver, case=case, password=PASSWORD,
                                       conditions=["Monitor default rates monthly."])
    case.refresh_from_db()
    assert case.status == ReviewStatus.APPROVED
    approval = Approval.objects.get(case=case)
    assert approval.artifact_sha256 == case.model_version.artifact_sha256
    assert approval.environment == "production"
    assert approval.expires_at == approval.approved_at + dt.timedelta(days=365)
    assert approval.conditions == ["Monitor default rates monthly."]
    assert approval.is_valid_at(timezone.now())
    assert decision.manifest["conditions"] == ["Monitor default rates monthly."]
    entry = last_entry()
    assert entry.action == "reviews.approval.granted"
    assert entry.data["artifact_sha256"] == case.model_version.artifact_sha256
    assert decision.manifest_sha256 in entry.data["decisions"]


def test_the_validator_of_a_case_cannot_also_approve_it(case_awaiting_validation, validator_and_approver, audit_count):
    case = case_awaiting_validation
    services.review_validate(actor=validator_and_approver, case=case, password=PASSWORD)
    before = audit_count()
    with pytest.raises(PermissionDenied, match="Separation of duties"):
        services.review_approve(actor=validator_and_approver, case=case, password=PASSWORD)
    case.refresh_from_db()
    assert case.status == ReviewStatus.AWAITING_APPROVAL
    assert not Approval.objects.exists() and audit_count() == before


def test_self_approval_by_the_developer_is_refused(case_awaiting_approval, developer, audit_count):
    from guardian.shortcuts import assign_perm

    assign_perm("registry.review_usecase", developer, case_awaiting_approval.model_version.model.use_case)
    before = audit_count()
    with pytest.raises(PermissionDenied, match="Separation of duties"):
        services.review_approve(actor=developer, case=case_awaiting_approval, password=PASSWORD)
    assert not Approval.objects.exists() and audit_count() == before


def test_an_open_high_severity_finding_blocks_approval_until_resolved(
    case_awaiting_approval, approver, validator, submitter, last_entry, audit_count
):
    case = case_awaiting_approval
    finding = services.finding_raise(
        actor=validator, case=case, severity="high", title="Label leakage", description="A feature leaks the label.",
        owner=submitter, due_date=timezone.localdate() + dt.timedelta(days=7),
    )
    assert last_entry().action == "reviews.finding.raised"
    assert last_entry().data["severity"] == "high"
    before = audit_count()
    with pytest.raises(Conflict, match="Label leakage"):
        services.review_approve(actor=approver, case=case, password=PASSWORD)
    assert not Approval.objects.exists() and audit_count() == before

    services.finding_resolve(actor=validator, finding=finding, resolution="Feature removed upstream; verified.")
    assert last_entry().action == "reviews.finding.resolved"
    assert last_entry().data["status"] == {"before": "open", "after": "resolved"}
    services.review_approve(actor=approver, case=case, password=PASSWORD)
    assert Approval.objects.filter(case=case).exists()


def test_a_failed_check_blocks_approval_until_an_approver_accepts_the_risk(
    open_case, validator, approver, last_entry
):
    case = finish_checks(open_case(), failing=["fairness"])
    services.review_validate(actor=validator, case=case, password=PASSWORD)
    with pytest.raises(Conflict, match="fairness"):
        services.review_approve(actor=approver, case=case, password=PASSWORD)

    fairness = case.check_results.get(kind="fairness")
    with pytest.raises(ValidationFailed):
        services.risk_accept(actor=approver, check_result=fairness, rationale="  ")
    with pytest.raises(PermissionDenied):
        services.risk_accept(actor=validator, check_result=fairness, rationale="Not mine to accept.")
    acceptance = services.risk_accept(actor=approver, check_result=fairness,
                                      rationale="Gap explained by a documented lending rule; monitored monthly.")
    entry = last_entry()
    assert entry.action == "reviews.risk.accepted"
    assert entry.data["check"] == "fairness" and entry.data["result_sha256"] == fairness.result_sha256
    decision = services.review_approve(actor=approver, case=case, password=PASSWORD)
    accepted = next(check for check in decision.manifest["checks"] if check["kind"] == "fairness")
    assert accepted["risk_acceptance"]["rationale"] == acceptance.rationale
    with pytest.raises(ImmutableRecord):
        acceptance.rationale = "changed"
        acceptance.save()


def test_a_passed_check_needs_no_risk_acceptance(case_awaiting_approval, approver):
    with pytest.raises(Conflict, match="passed"):
        services.risk_accept(actor=approver, check_result=case_awaiting_approval.check_results.first(),
                             rationale="Nothing to accept.")
    assert not RiskAcceptance.objects.exists()


def test_two_required_approvals_need_two_different_approvers(open_case, admin_user, validator, approver, use_case):
    current = ReviewPolicy.objects.get(key="high-risk-tier-2").snapshot()
    current.pop("version")
    services.policy_version_create(actor=admin_user, change_reason="Two approvers.", **{**current,
                                                                                       "approvals_required": 2})
    case = finish_checks(open_case())
    services.review_validate(actor=validator, case=case, password=PASSWORD)
    services.review_approve(actor=approver, case=case, password=PASSWORD)
    case.refresh_from_db()
    assert case.status == ReviewStatus.AWAITING_APPROVAL
    with pytest.raises(Conflict, match="already approved"):
        services.review_approve(actor=approver, case=case, password=PASSWORD)
    from guardian.shortcuts import assign_perm

    from apps.accounts.roles import Role
    from tests.factories.accounts import UserFactory

    second = UserFactory(roles=[Role.APPROVER])
    assign_perm("registry.review_usecase", second, use_case)
    services.review_approve(actor=second, case=case, password=PASSWORD)
    case.refresh_from_db()
    assert case.status == ReviewStatus.APPROVED


# --- rejection, changes, resubmission, withdrawal ---------------------------------------------------


def test_reject_is_signed_and_final(case_awaiting_validation, validator, approver, last_entry):
    case = case_awaiting_validation
    with pytest.raises(ValidationFailed):
        services.review_reject(actor=validator, case=case, password=PASSWORD, reason="")
    decision = services.review_reject(actor=validator, case=case, password=PASSWORD, reason="Unfair to women.")
    case.refresh_from_db()
    assert case.status == ReviewStatus.REJECTED and case.status_reason == "Unfair to women."
    assert decision.meaning == "rejected"
    assert last_entry().data["status"] == {"before": "awaiting_validation", "after": "rejected"}
    with pytest.raises(Conflict):
        services.review_validate(actor=validator, case=case, password=PASSWORD)


def test_changes_requested_then_a_new_version_is_resubmitted_linked_to_the_old_case(
    case_awaiting_validation, validator, submitter, developer, use_case, last_entry
):
    old = case_awaiting_validation
    services.review_request_changes(actor=validator, case=old, password=PASSWORD, reason="Add human oversight detail.")
    old.refresh_from_db()
    assert old.status == ReviewStatus.CHANGES_REQUESTED
    from apps.registry.models import ModelVersion
    from tests.factories.reviews import trained_model_version

    new_version = trained_model_version(use_case=use_case, registered_by=developer, seed=12,
                                        model_key=old.model_version.model.key)
    assert ModelVersion.objects.filter(model=old.model_version.model).count() == 2
    new = services.review_open(actor=submitter, model_version=new_version, environment="production",
                               label_column="defaulted", previous_case=old)
    assert new.previous_case == old and old.resubmission == new
    assert last_entry().data["previous_case"] == old.pk
    with pytest.raises(ValidationFailed, match="resubmitted|not opened"):
        services.review_open(actor=submitter, model_version=new_version, environment="staging",
                             label_column="defaulted", previous_case=old)


def test_resubmitting_a_case_that_did_not_request_changes_is_refused(case_awaiting_validation, open_case):
    with pytest.raises(ValidationFailed) as refused:
        open_case(environment="staging", previous_case=case_awaiting_validation)
    assert "previous_case" in refused.value.field_errors


def test_the_submitter_withdraws_a_case(case_awaiting_validation, submitter, validator, last_entry):
    with pytest.raises(PermissionDenied):
        services.review_withdraw(actor=validator, case=case_awaiting_validation, reason="Not mine.")
    services.review_withdraw(actor=submitter, case=case_awaiting_validation, reason="Superseded by v2.")
    case_awaiting_validation.refresh_from_db()
    assert case_awaiting_validation.status == ReviewStatus.WITHDRAWN
    assert last_entry().action == "reviews.case.withdrawn"
    with pytest.raises(Conflict):
        services.review_withdraw(actor=submitter, case=case_awaiting_validation, reason="Again.")


def test_findings_refuse_bad_input_and_change_nothing(case_awaiting_validation, validator, submitter, audit_count):
    before = audit_count()
    with pytest.raises(ValidationFailed) as refused:
        services.finding_raise(actor=validator, case=case_awaiting_validation, severity="catastrophic", title="",
                               description="", owner=submitter,
                               due_date=timezone.localdate() - dt.timedelta(days=1))
    assert set(refused.value.field_errors) == {"severity", "title", "description", "due_date"}
    assert not Finding.objects.exists() and audit_count() == before


def _open_finding(case, validator, owner):
    return services.finding_raise(actor=validator, case=case, severity="medium", title="Thin documentation",
                                  description="Limitations are one line.", owner=owner,
                                  due_date=timezone.localdate() + dt.timedelta(days=7))


def test_a_reviewer_reassigns_an_open_finding_and_the_before_after_is_audited(
    case_awaiting_validation, validator, submitter, last_entry
):
    finding = _open_finding(case_awaiting_validation, validator, submitter)
    new_due = timezone.localdate() + dt.timedelta(days=21)
    services.finding_reassign(actor=validator, finding=finding, owner=validator, due_date=new_due,
                              reason="The submitter is on leave.")
    finding.refresh_from_db()
    assert (finding.owner, finding.due_date) == (validator, new_due)
    entry = last_entry()
    assert (entry.action, entry.subject_id) == ("reviews.finding.reassigned", str(finding.pk))
    assert entry.data["owner"] == {"before": submitter.display_name, "after": validator.display_name}
    assert entry.data["due_date"]["after"] == new_due.isoformat()
    assert entry.data["reason"] == "The submitter is on leave."


def test_reassigning_refuses_bad_input_a_resolved_finding_and_no_change_and_changes_nothing(
    case_awaiting_validation, validator, submitter, audit_count
):
    finding = _open_finding(case_awaiting_validation, validator, submitter)
    before = audit_count()
    with pytest.raises(ValidationFailed) as refused:
        services.finding_reassign(actor=validator, finding=finding, reason="",
                                  due_date=timezone.localdate() - dt.timedelta(days=1))
    assert set(refused.value.field_errors) == {"reason", "due_date"}
    with pytest.raises(ValidationFailed, match="not reassigned"):
        services.finding_reassign(actor=validator, finding=finding, reason="Nothing given.")
    with pytest.raises(Conflict, match="already has that owner"):
        services.finding_reassign(actor=validator, finding=finding, owner=submitter, reason="Same owner.")
    with pytest.raises(PermissionDenied):
        services.finding_reassign(actor=submitter, finding=finding, owner=validator, reason="Not theirs to move.")
    services.finding_resolve(actor=validator, finding=finding, resolution="Documented.")
    resolved_at = audit_count()
    with pytest.raises(Conflict, match="only open findings"):
        services.finding_reassign(actor=validator, finding=finding, owner=validator, reason="Too late.")
    finding.refresh_from_db()
    assert finding.owner == submitter and resolved_at == before + 1 and audit_count() == resolved_at
