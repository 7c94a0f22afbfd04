"""The gate's web pages: decisions and approvals (visibility, filters, highlights, constant query
counts) and revoking an approval with a reason and the approver's password."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.gate import services, views
from apps.gate.models import GateDecision
from apps.reviews.models import Approval
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import ModelFactory, ModelVersionFactory, UseCaseFactory
from tests.gate.conftest import last_entry

pytestmark = pytest.mark.django_db

DECISION_LIST_QUERIES = 5
APPROVAL_LIST_QUERIES = 7


def ask(pipeline, version, environment="production"):
    """The pipeline asks the gate about `version`; returns the stored decision."""
    user, api_key, _ = pipeline
    decision = services.gate_check(actor=user, auth=api_key,
                                   model=f"{version.model.use_case.key}/{version.model.key}", version=version.number,
                                   artifact_sha256=version.artifact_sha256, environment=environment)
    return GateDecision.objects.get(audit_index=decision.audit_index)


@pytest.fixture
def auditor():
    return UserFactory(username="audrey", roles=[Role.AUDITOR])


@pytest.fixture
def outsider():
    return UserFactory(username="olga", roles=[Role.SUBMITTER, Role.APPROVER], teams=[TeamFactory(key="talent")])


def page_for(client, user, url, data=None):
    client.force_login(user)
    return client.get(url, data or {})


# --- decisions ----------------------------------------------------------------------------------


def test_decisions_show_verdicts_and_reasons_to_those_who_may_see_them(client, pipeline, version, approve,
                                                                       submitter, outsider):
    approve(version, "production")
    allowed = ask(pipeline, version, "production")
    denied = ask(pipeline, ModelVersionFactory(model=version.model, number=2))  # never reviewed: no approval
    other = ModelVersionFactory(model=ModelFactory(use_case=UseCaseFactory(key="other"), key="m"))
    ask(pipeline, other)  # not visible to the pipeline: recorded as an unknown model
    response = page_for(client, submitter, reverse("gate:decision_list"))
    content = response.content.decode()
    shown = {decision.pk for decision in response.context["decisions"]}
    assert shown == {allowed.pk, denied.pk}
    assert "approval_valid" in content and "no_approval" in content
    assert "credit-scoring/default-lr v1" in content
    assert page_for(client, outsider, reverse("gate:decision_list")).context["decisions"] == []


def test_auditors_also_see_decisions_about_unregistered_models(client, pipeline, auditor):
    unknown = services.gate_check(actor=pipeline[0], auth=pipeline[1], model="nope/none", version=1,
                                  artifact_sha256="a" * 64, environment="production")
    response = page_for(client, auditor, reverse("gate:decision_list"))
    assert [d.audit_index for d in response.context["decisions"]] == [unknown.audit_index]
    assert "unknown_model" in response.content.decode()


def test_decisions_filter_by_verdict_environment_model_and_date(client, pipeline, version, approve, auditor):
    approve(version, "production")
    allowed = ask(pipeline, version, "production")
    denied = ask(pipeline, ModelVersionFactory(model=version.model, number=2), "development")  # never reviewed
    url = reverse("gate:decision_list")
    client.force_login(auditor)

    def shown(**filters):
        return [decision.pk for decision in client.get(url, filters).context["decisions"]]

    assert shown(verdict="allow") == [allowed.pk]
    assert shown(environment="development") == [denied.pk]
    assert shown(model="credit-scoring/default-lr") == [denied.pk, allowed.pk]
    assert shown(model="credit-scoring/other") == []
    today = timezone.now().date()
    assert shown(since=today, until=today) == [denied.pk, allowed.pk]
    assert shown(since=today + dt.timedelta(days=1)) == []
    assert shown(environment="moon") == []  # not a configured environment: a form error, no rows
    assert "environment" in client.get(url, {"environment": "moon"}).context["form"].errors


def test_decisions_are_keyset_paginated(client, pipeline, version, auditor, monkeypatch):
    monkeypatch.setattr(views, "DECISIONS_PER_PAGE", 2)
    asked = [ask(pipeline, version, "development").pk for _ in range(5)][::-1]
    url = reverse("gate:decision_list")
    client.force_login(auditor)
    seen, response = [], client.get(url, {"verdict": "deny"})
    while True:
        seen += [decision.pk for decision in response.context["decisions"]]
        cursor = response.context["older_cursor"]
        if cursor is None:
            break
        response = client.get(url, {"verdict": "deny", "before": cursor})
    assert seen == asked


def test_decision_list_query_count_does_not_grow(client, pipeline, version, approve, submitter,
                                                django_assert_num_queries):
    approve(version, "production")
    client.force_login(submitter)
    for rows in (2, 20):
        while GateDecision.objects.count() < rows:
            ask(pipeline, version)
        with django_assert_num_queries(DECISION_LIST_QUERIES):
            response = client.get(reverse("gate:decision_list"))
        assert len(response.context["decisions"]) == rows


# --- approvals ----------------------------------------------------------------------------------


def test_approvals_highlight_expiring_soon_and_show_revocations(client, model, approve, approver):
    soon = approve(ModelVersionFactory(model=model), "production", valid_for=dt.timedelta(days=10))
    later = approve(ModelVersionFactory(model=model), "production", valid_for=dt.timedelta(days=200))
    revoked = approve(ModelVersionFactory(model=model), "production")
    services.approval_revoke(actor=approver, approval=revoked, reason="Drift beyond tolerance.")
    response = page_for(client, approver, reverse("gate:approval_list"))
    rows = {row["approval"].pk: row for row in response.context["rows"]}
    assert rows[soon.pk]["expiring_soon"] and not rows[later.pk]["expiring_soon"]
    assert rows[revoked.pk]["state"] == "revoked"
    content = response.content.decode()
    assert "Expiring soon" in content and "Drift beyond tolerance." in content


def test_approvals_filter_by_state_and_use_case(client, model, approve, approver):
    soon = approve(ModelVersionFactory(model=model), "production", valid_for=dt.timedelta(days=10))
    expired = approve(ModelVersionFactory(model=model), "production", approved=timezone.now() - dt.timedelta(days=9),
                      valid_for=dt.timedelta(days=2))
    client.force_login(approver)
    url = reverse("gate:approval_list")
    assert [r["approval"].pk for r in client.get(url, {"state": "expiring"}).context["rows"]] == [soon.pk]
    assert [r["approval"].pk for r in client.get(url, {"state": "expired"}).context["rows"]] == [expired.pk]
    assert client.get(url, {"use_case": "another-one"}).context["rows"] == []


def test_approvals_of_other_teams_are_not_listed(client, version, approve, outsider):
    approve(version)
    assert page_for(client, outsider, reverse("gate:approval_list")).context["rows"] == []


def test_revoke_control_only_for_approvers_of_the_use_case(client, version, approve, approver, submitter, auditor):
    approval = approve(version)
    revoke_url = reverse("gate:approval_revoke", args=[approval.pk]).encode()
    list_url = reverse("gate:approval_list")
    assert revoke_url in page_for(client, approver, list_url).content
    assert revoke_url not in page_for(client, submitter, list_url).content
    assert revoke_url not in page_for(client, auditor, list_url).content
    # an approver by role without review permission on this use case
    other_approver = UserFactory(roles=[Role.APPROVER], teams=[approval.model_version.model.use_case.owner_team])
    assert revoke_url not in page_for(client, other_approver, list_url).content


def test_approval_list_query_count_does_not_grow(client, model, approve, approver, django_assert_num_queries):
    client.force_login(approver)
    for rows in (2, 20):
        while Approval.objects.count() < rows:
            approve(ModelVersionFactory(model=model))
        with django_assert_num_queries(APPROVAL_LIST_QUERIES):
            response = client.get(reverse("gate:approval_list"))
        assert len(response.context["rows"]) == rows
        assert all(row["may_revoke"] for row in response.context["rows"])


# --- revoking -----------------------------------------------------------------------------------


def test_revoke_page_states_the_meaning_before_signing(client, version, approve, approver):
    approval = approve(version)
    content = page_for(client, approver, reverse("gate:approval_revoke", args=[approval.pk])).content.decode()
    assert "By entering your password you, Ada Approver, sign the" in content
    assert "approval_revoked" in content
    assert 'type="password"' in content


def test_approver_revokes_with_reason_and_password(client, version, approve, approver):
    approval = approve(version)
    client.force_login(approver)
    response = client.post(reverse("gate:approval_revoke", args=[approval.pk]),
                           {"reason": "Fairness regression found in monitoring.",
                            "password": "correct-horse-battery-staple"})
    assert response.status_code == 302 and response["Location"] == reverse("gate:approval_list")
    approval.refresh_from_db()
    assert approval.revoked_at is not None
    assert approval.revocation_reason == "Fairness regression found in monitoring."
    entry = last_entry()
    assert entry.action == Action.GATE_APPROVAL_REVOKED
    assert entry.subject_id == str(approval.pk)
    assert entry.actor_id == str(approver.pk)
    assert entry.data["reason"] == "Fairness regression found in monitoring."


def test_wrong_password_changes_nothing_and_is_shown_by_the_field(client, version, approve, approver, state):
    approval = approve(version)
    before = state()
    client.force_login(approver)
    response = client.post(reverse("gate:approval_revoke", args=[approval.pk]),
                           {"reason": "Drift.", "password": "not-my-password"})
    assert response.status_code == 400
    assert response.context["form"].errors["password"] == ["The password is not correct; nothing was revoked."]
    assert 'id="id_password-errors"' in response.content.decode()
    assert state() == before


def test_missing_reason_changes_nothing(client, version, approve, approver, state):
    approval = approve(version)
    before = state()
    client.force_login(approver)
    response = client.post(reverse("gate:approval_revoke", args=[approval.pk]),
                           {"reason": "   ", "password": "correct-horse-battery-staple"})
    assert response.status_code == 400
    assert "reason" in response.context["form"].errors
    assert state() == before


@pytest.mark.parametrize("who", ["submitter", "auditor"])
def test_people_who_may_not_revoke_get_403_and_nothing_changes(client, request, who, version, approve, state):
    approval = approve(version)
    before = state()
    client.force_login(request.getfixturevalue(who))
    url = reverse("gate:approval_revoke", args=[approval.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "x", "password": "correct-horse-battery-staple"}).status_code == 403
    assert state() == before


def test_approval_of_an_invisible_use_case_is_404(client, version, approve, outsider, state):
    approval = approve(version)
    before = state()
    client.force_login(outsider)
    url = reverse("gate:approval_revoke", args=[approval.pk])
    assert client.post(url, {"reason": "x", "password": "correct-horse-battery-staple"}).status_code == 404
    assert state() == before


def test_revoking_a_revoked_approval_changes_nothing(client, version, approve, approver, state):
    approval = approve(version)
    services.approval_revoke(actor=approver, approval=approval, reason="First.")
    before = state()
    client.force_login(approver)
    response = client.post(reverse("gate:approval_revoke", args=[approval.pk]),
                           {"reason": "Second.", "password": "correct-horse-battery-staple"}, follow=True)
    assert "already revoked" in next(str(m) for m in response.context["messages"])
    assert state() == before


def test_review_grant_through_a_team_makes_an_approver_able_to_revoke(client, version, approve, use_case):
    approval = approve(version)
    reviewers = TeamFactory(key="model-risk")
    assign_perm("registry.review_usecase", reviewers.group, use_case)
    member = UserFactory(roles=[Role.APPROVER], teams=[reviewers])
    assert page_for(client, member, reverse("gate:approval_revoke", args=[approval.pk])).status_code == 200
