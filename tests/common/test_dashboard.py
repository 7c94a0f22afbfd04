"""The dashboard: inventory by risk class and Annex III area, reviews waiting for me, expiring approvals,
recent gate denials and failing checks, each limited to what the user may see, in constant queries."""

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.services import SYSTEM
from apps.common.dashboard import dashboard_for
from apps.gate.models import GateDecision
from apps.registry import services as registry_services
from apps.registry.models import AnnexIIIPoint
from apps.reviews import services
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import ModelFactory, ModelVersionFactory, UseCaseFactory
from tests.reviews.conftest import PASSWORD, finish_checks

pytestmark = pytest.mark.django_db


def classify(use_case, annex_iii_code):
    AnnexIIIPoint.objects.get_or_create(code="III-5", defaults={"title": "Access to essential services"})
    AnnexIIIPoint.objects.get_or_create(code=annex_iii_code, defaults={"parent_id": "III-5", "title": "Credit scoring"})
    registry_services.use_case_classify(
        actor=SYSTEM, use_case=use_case, art5_answers={letter: False for letter in "abcdefgh"},
        annex_i_safety_component=False, annex_iii_code=annex_iii_code, profiles_natural_persons=True,
        rationale="Creditworthiness of natural persons.",
    )


def cases_with_checks(use_case, developer, submitter, count, *, failing=()):
    model = ModelFactory(use_case=use_case)
    return [
        finish_checks(services.review_open(actor=submitter, environment="production",
                                           model_version=ModelVersionFactory(model=model, registered_by=developer)),
                      failing=failing)
        for _ in range(count)
    ]


def gate_denial(version, *, at=None):
    return GateDecision.objects.create(
        decided_at=at or timezone.now(), actor=UserFactory(), requested_model=version.model.key,
        requested_version=version.number, artifact_sha256=version.artifact_sha256, environment="production",
        model_version=version, verdict="deny", reasons=[{"code": "no_approval", "detail": "No approval."}],
        policy_version="test", audit_index=0, attestation={}, id=uuid.uuid4(),
    )


def test_dashboard_redirects_anonymous_visitors_to_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_inventory_counts_use_cases_and_versions_by_risk_class_and_annex_iii_area_it_may_see(
        client, validator, developer, team):
    credit = UseCaseFactory(key="credit", owner_team=team)
    classify(credit, "III-5-b")
    ModelVersionFactory.create_batch(3, model=ModelFactory(use_case=credit), registered_by=developer)
    unclassified = UseCaseFactory(key="draft", owner_team=team)
    ModelVersionFactory(model=ModelFactory(use_case=unclassified), registered_by=developer)
    hidden = UseCaseFactory(key="hidden")  # another team's; the validator holds no permission on it
    ModelVersionFactory.create_batch(2, model=ModelFactory(use_case=hidden))
    for use_case_ in (credit, unclassified):
        assign_perm("registry.view_usecase", validator, use_case_)

    board = dashboard_for(validator)

    assert [(row.key, row.use_cases, row.model_versions) for row in board.by_risk_class] == [
        ("high", 2, 3), ("unclassified", 1, 1)]  # high: also the credit-scoring use case they review
    assert [(row.key, row.label, row.use_cases, row.model_versions) for row in board.by_annex_iii_area] == [
        ("III-5", "Access to essential services", 1, 3)]
    assert (board.total_use_cases, board.total_model_versions) == (3, 4)
    client.force_login(validator)
    html = client.get(reverse("home")).content.decode()
    assert "High risk (Art. 6)" in html and "Access to essential services" in html


def test_reviews_waiting_for_me_follow_role_state_and_separation_of_duties(
        use_case, developer, submitter, validator, approver, validator_and_approver):
    first, second = cases_with_checks(use_case, developer, submitter, 2)
    services.review_validate(actor=validator_and_approver, case=second, password=PASSWORD)

    def waiting(user):
        return {case.pk for case in dashboard_for(user).waiting_for_me}

    assert waiting(validator) == {first.pk}  # second already awaits approval
    assert waiting(approver) == {second.pk}
    assert waiting(validator_and_approver) == {first.pk}  # validated second: may not approve it
    assert waiting(submitter) == set() and waiting(developer) == set()
    auditor = UserFactory(roles=[Role.AUDITOR, Role.VALIDATOR])
    assign_perm("registry.review_usecase", auditor, use_case)
    assert waiting(auditor) == set()
    stranger = UserFactory(roles=[Role.VALIDATOR])  # no review permission on the use case
    assert waiting(stranger) == set()


def test_approvals_expiring_within_30_days_and_recent_gate_denials(use_case, developer, submitter, validator,
                                                                    approver, admin_user):
    case = cases_with_checks(use_case, developer, submitter, 1)[0]
    services.review_validate(actor=validator, case=case, password=PASSWORD)
    services.review_approve(actor=approver, case=case, password=PASSWORD)
    approval = case.approval
    version = case.model_version
    gate_denial(version)
    gate_denial(version, at=timezone.now() - dt.timedelta(days=30))  # not recent

    soon = dashboard_for(approver, now=approval.expires_at - dt.timedelta(days=10))
    assert [a.pk for a in soon.expiring_approvals] == [approval.pk]
    assert dashboard_for(approver, now=approval.expires_at - dt.timedelta(days=40)).expiring_approvals == []
    assert dashboard_for(approver, now=approval.expires_at + dt.timedelta(days=1)).expiring_approvals == []
    board = dashboard_for(approver)
    assert board.gate_denials_count == 1 and board.gate_denials[0].model_version_id == version.pk
    outsider = UserFactory(roles=[Role.APPROVER])
    assert dashboard_for(outsider).gate_denials_count == 0


def test_checks_failing_now_lists_failed_checks_of_open_reviews_only(use_case, developer, submitter, validator):
    failing_case = cases_with_checks(use_case, developer, submitter, 1, failing=("fairness",))[0]
    closed = cases_with_checks(use_case, developer, submitter, 1, failing=("performance",))[0]
    services.review_reject(actor=validator, case=closed, password=PASSWORD, reason="Performance claims do not hold.")
    board = dashboard_for(validator)
    assert [(r.case.pk, r.kind) for r in board.failing_checks] == [(failing_case.pk, "fairness")]
    assert board.failing_checks_count == 1


@pytest.mark.parametrize("rows", [2, 20])
def test_dashboard_runs_a_constant_number_of_queries(client, use_case, developer, submitter, validator, approver,
                                                     django_assert_num_queries, rows):
    cases = cases_with_checks(use_case, developer, submitter, rows, failing=("fairness",))
    for case in cases:
        gate_denial(case.model_version)
    client.force_login(validator)
    client.get(reverse("home"))
    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = client.get(reverse("home"))
    board = response.context["dashboard"]
    assert board.waiting_for_me_count == rows and board.failing_checks_count == rows
    assert len(board.waiting_for_me) == min(rows, 10)


DASHBOARD_QUERIES = 12


def test_nav_shows_only_pages_the_user_may_open(client, validator):
    client.force_login(validator)
    nav = {label: url for label, url, _ in client.get(reverse("home")).context["nav_links"]}
    assert nav["Dashboard"] == "/" and nav["Reviews"] == "/reviews/"
    assert "Audit log" not in nav  # auditors and administrators only
    team = TeamFactory()
    assert team  # a user's team groups are not shown as roles
    auditor = UserFactory(roles=[Role.AUDITOR], teams=[team])
    client.force_login(auditor)
    assert client.get(reverse("home")).context["user_roles"] == ["auditor"]
