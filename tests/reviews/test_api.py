"""The reviews API: submitting, reading cases, results and plots, findings, risk acceptance, signed
decisions and withdrawal. Every write asserts its audit entry; every refusal asserts its exact problem
type and that nothing changed."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.utils import timezone

from apps.accounts.scopes import Scope
from apps.audit.models import AuditEntry
from apps.reviews import services
from apps.reviews.models import (
    Approval,
    CheckPlot,
    CheckResult,
    CheckStatus,
    Decision,
    Finding,
    ReviewCase,
    ReviewStatus,
    RiskAcceptance,
)
from tests.api.conftest import assert_problem, client_for
from tests.factories.accounts import TeamFactory, UserFactory, api_key_with_plaintext

from .conftest import HUMAN_OVERSIGHT, PASSWORD, finish_checks

pytestmark = pytest.mark.django_db

REVIEWS = "/api/v1/reviews/"


# --- helpers ----------------------------------------------------------------------------------------


@pytest.fixture
def state():
    """state() snapshots every reviews table, the audit log's length and the case rows."""

    def snapshot() -> dict:
        return {
            "cases": list(ReviewCase.objects.order_by("pk").values()),
            "checks": list(CheckResult.objects.order_by("pk").values("pk", "status")),
            "findings": list(Finding.objects.order_by("pk").values()),
            "decisions": Decision.objects.count(),
            "approvals": Approval.objects.count(),
            "acceptances": RiskAcceptance.objects.count(),
            "audit_entries": AuditEntry.objects.count(),
        }

    return snapshot


@pytest.fixture
def submission(model_version):
    return {
        "use_case": "credit-scoring", "model": model_version.model.key, "version": model_version.number,
        "environment": "production", "label_column": "defaulted",
        "documentation": {"human_oversight": HUMAN_OVERSIGHT},
    }


@pytest.fixture
def pipeline_key(team):
    """The credit-risk team's pipeline key: read and reviews:submit."""
    return api_key_with_plaintext(service_account__name="training-pipeline", service_account__team=team,
                                  service_account__scopes=[Scope.READ, Scope.REVIEWS_SUBMIT])[1]


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def last_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-index").first()


def png_bytes() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def finish_with_plot(case: ReviewCase, png: bytes) -> ReviewCase:
    """Records the explainability check with a real PNG plot, the others passed."""
    services.review_checks_start(case=case)
    for result in case.check_results.order_by("kind"):
        services.check_result_record(
            check_result_id=result.pk,
            outcome=services.CheckOutcome(
                status=CheckStatus.PASSED, summary="synthetic outcome", metrics={"value": 1},
                thresholds_applied=case.thresholds.get(result.kind, {}), random_seed=7,
                model_sha256=case.model_version.artifact_sha256,
                plots={"bar": png} if result.kind == "explainability" else {},
            ),
            duration_seconds=0.1,
        )
    case.refresh_from_db()
    return case


# --- submitting -------------------------------------------------------------------------------------


def test_a_submitter_opens_a_review_and_the_policy_thresholds_are_locked(submitter, submission, model_version):
    response = post(client_for(submitter), REVIEWS, submission)

    assert response.status_code == 201, response.content
    body = response.json()
    case = ReviewCase.objects.get()
    assert response["Location"] == f"/api/v1/reviews/{case.pk}/"
    assert (body["status"], body["use_case"], body["version"], body["environment"]) == (
        "open", "credit-scoring", model_version.number, "production")
    assert body["thresholds"] == case.policy_snapshot["thresholds"]
    assert body["thresholds"]["fairness"]["demographic_parity_ratio_min"] == 0.8
    assert body["policy"] == {"key": "high-risk-tier-2", "version": 1,
                              "snapshot_sha256": case.policy_snapshot_sha256}
    assert body["evaluation"]["label_column"] == "defaulted"
    entry = last_entry()
    assert (entry.action, entry.subject_id, entry.actor_name) == ("reviews.case.opened", str(case.pk),
                                                                  submitter.display_name)
    assert entry.data["thresholds"]["fairness"]["min_group_size"] == 30


def test_a_pipeline_key_with_reviews_submit_opens_a_review_as_its_service_account(pipeline_key, submission):
    response = post(client_for(key=pipeline_key), REVIEWS, submission)

    assert response.status_code == 201, response.content
    entry = last_entry()
    assert (entry.action, entry.actor_type, entry.actor_name) == ("reviews.case.opened", "service_account",
                                                                  "training-pipeline")
    assert response.json()["submitted_by"] == ReviewCase.objects.get().submitted_by.username


def test_a_key_without_reviews_submit_is_refused_403_and_nothing_changes(team, submission, state):
    key = api_key_with_plaintext(service_account__team=team,
                                 service_account__scopes=[Scope.READ, Scope.REGISTRY_WRITE])[1]
    before = state()
    body = assert_problem(post(client_for(key=key), REVIEWS, submission), 403, "permission-denied")
    assert "reviews:submit" in body["detail"]
    assert state() == before


def test_thresholds_sent_with_a_submission_are_refused_400_and_nothing_changes(submitter, submission, state):
    before = state()
    submission["thresholds"] = {"fairness": {"demographic_parity_ratio_min": 0.1}}
    assert_problem(post(client_for(submitter), REVIEWS, submission), 400, "validation-failed", field="thresholds")
    assert state() == before


def test_a_malformed_submission_body_is_refused_400(submitter, state):
    before = state()
    response = client_for(submitter).post(REVIEWS, data="{not json", content_type="application/json")
    assert_problem(response, 400, "malformed-request")
    assert state() == before


@pytest.mark.parametrize("change, field", [
    ({"environment": "the-moon"}, "environment"),
    ({"label_column": "no-such-column"}, "label_column"),
    ({"positive_label": True}, "positive_label"),
    ({"documentation": ["not", "a", "mapping"]}, "documentation"),
    ({"version": 0}, "version"),
])
def test_bad_submission_values_are_refused_400_and_nothing_changes(submitter, submission, state, change, field):
    before = state()
    submission.update(change)
    assert_problem(post(client_for(submitter), REVIEWS, submission), 400, "validation-failed", field=field)
    assert state() == before


def test_submitting_without_credentials_is_401(submission, state):
    before = state()
    response = post(client_for(), REVIEWS, submission)
    assert_problem(response, 401, "not-authenticated")
    assert state() == before


def test_a_version_the_caller_cannot_see_is_404_and_nothing_changes(submission, state):
    outsider = UserFactory(username="olga-outsider", roles=["submitter"], teams=[TeamFactory(key="talent")])
    before = state()
    assert_problem(post(client_for(outsider), REVIEWS, submission), 404, "not-found")
    assert state() == before


def test_a_second_submission_while_one_is_in_progress_is_409(submitter, submission, state):
    post(client_for(submitter), REVIEWS, submission)
    before = state()
    assert_problem(post(client_for(submitter), REVIEWS, submission), 409, "conflict")
    assert state() == before


# --- reading cases ----------------------------------------------------------------------------------


def test_the_case_shows_status_and_check_progress(submitter, open_case):
    case = open_case()
    services.review_checks_start(case=case)
    fairness = case.check_results.get(kind="fairness")
    services.check_progress_report(check_result_id=fairness.pk, percent=0, message="ignored: not running")
    CheckResult.objects.filter(pk=fairness.pk).update(status=CheckStatus.RUNNING)
    services.check_progress_report(check_result_id=fairness.pk, percent=40, message="computing fairness")

    body = client_for(submitter).get(f"{REVIEWS}{case.pk}/").json()

    assert body["status"] == "checks_running"
    checks = {check["kind"]: check for check in body["checks"]}
    assert set(checks) == set(case.policy_snapshot["required_checks"])
    assert (checks["fairness"]["status"], checks["fairness"]["progress"],
            checks["fairness"]["progress_message"]) == ("running", 40, "computing fairness")
    assert checks["documentation"]["status"] == "pending"
    assert body["progress"] == 8  # 40 / 5 checks
    assert checks["fairness"]["url"] == f"/api/v1/reviews/{case.pk}/checks/fairness/"


def test_a_case_of_a_use_case_the_caller_cannot_see_is_404(open_case):
    case = open_case()
    outsider = UserFactory(username="olga-outsider", roles=["submitter"], teams=[TeamFactory(key="talent")])
    assert_problem(client_for(outsider).get(f"{REVIEWS}{case.pk}/"), 404, "not-found")
    assert client_for(outsider).get(REVIEWS).json()["results"] == []


def test_the_list_filters_by_status_and_refuses_an_unknown_status(submitter, open_case, case_awaiting_validation):
    client = client_for(submitter)
    listed = client.get(REVIEWS, {"status": "awaiting_validation"}).json()["results"]
    assert [item["id"] for item in listed] == [case_awaiting_validation.pk]
    assert_problem(client.get(REVIEWS, {"status": "nonsense"}), 400, "validation-failed", field="status")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_changing_a_case_and_its_locked_thresholds_is_refused_409_and_nothing_changes(
    method, submitter, admin_user, open_case, state
):
    case = open_case()
    before = state()
    for user in (submitter, admin_user):
        response = getattr(client_for(user), method)(
            f"{REVIEWS}{case.pk}/", data=json.dumps({"thresholds": {"fairness": {"min_group_size": 1}}}),
            content_type="application/json",
        )
        assert_problem(response, 409, "immutable-record")
    assert state() == before


def test_the_case_list_runs_a_constant_number_of_queries(django_assert_num_queries, submitter, use_case, developer):
    from tests.factories.reviews import trained_model_version

    def add_cases(count, start):
        for seed in range(start, start + count):
            version = trained_model_version(use_case=use_case, registered_by=developer, seed=seed, rows=200)
            finish_checks(services.review_open(actor=submitter, model_version=version, environment="production",
                                               label_column="defaulted"))

    client = client_for(submitter)
    add_cases(1, 100)
    with django_assert_num_queries(6):
        small = client.get(REVIEWS)
    add_cases(3, 200)
    with django_assert_num_queries(6):
        large = client.get(REVIEWS)
    assert len(large.json()["results"]) == 4 > len(small.json()["results"]) == 1


# --- check results and plots ------------------------------------------------------------------------


def test_check_results_carry_numbers_thresholds_and_plot_urls_that_stream_the_png(submitter, open_case):
    png = png_bytes()
    case = finish_with_plot(open_case(), png)
    client = client_for(submitter)

    listed = client.get(f"{REVIEWS}{case.pk}/checks/").json()["results"]
    assert len(listed) == 5
    result = client.get(f"{REVIEWS}{case.pk}/checks/explainability/").json()
    stored = case.check_results.get(kind="explainability")
    assert (result["status"], result["metrics"], result["random_seed"], result["result_sha256"]) == (
        "passed", {"value": 1}, 7, stored.result_sha256)
    assert result["thresholds_applied"] == case.thresholds["explainability"]
    assert result["model_sha256"] == case.model_version.artifact_sha256
    plot = CheckPlot.objects.get()
    assert result["plots"] == [{"name": "bar", "sha256": plot.sha256,
                                "url": f"/api/v1/reviews/{case.pk}/checks/explainability/plots/bar/"}]

    download = client.get(result["plots"][0]["url"], HTTP_ACCEPT="image/png")
    assert download.status_code == 200
    assert download["Content-Type"] == "image/png"
    assert b"".join(download.streaming_content) == png
    assert download["X-Content-SHA256"] == plot.sha256
    assert_problem(client.get(f"{REVIEWS}{case.pk}/checks/explainability/plots/beeswarm/"), 404, "not-found")
    assert_problem(client.get(f"{REVIEWS}{case.pk}/checks/no-such-check/"), 404, "not-found")


def test_a_plot_of_an_invisible_case_is_404(open_case):
    case = finish_with_plot(open_case(), png_bytes())
    outsider = UserFactory(username="olga-outsider", roles=["submitter"], teams=[TeamFactory(key="talent")])
    response = client_for(outsider).get(f"{REVIEWS}{case.pk}/checks/explainability/plots/bar/")
    assert_problem(response, 404, "not-found")


# --- findings ---------------------------------------------------------------------------------------


def finding_body(owner_user, **overrides):
    body = {"severity": "high", "title": "Intersectional gap", "description": "Women over 61 are under-served.",
            "owner": owner_user.username, "due_date": (timezone.localdate() + dt.timedelta(days=14)).isoformat(),
            "check": "fairness"}
    body.update(overrides)
    return body


def test_a_validator_raises_and_resolves_a_finding(validator, submitter, case_awaiting_validation):
    case = case_awaiting_validation
    client = client_for(validator)
    response = post(client, f"{REVIEWS}{case.pk}/findings/", finding_body(submitter))

    assert response.status_code == 201, response.content
    finding = Finding.objects.get()
    assert response["Location"] == f"/api/v1/reviews/{case.pk}/findings/{finding.pk}/"
    assert (response.json()["check"], response.json()["owner"], response.json()["status"]) == (
        "fairness", submitter.username, "open")
    entry = last_entry()
    assert (entry.action, entry.subject_id, entry.data["severity"], entry.data["check_result"]) == (
        "reviews.finding.raised", str(finding.pk), "high", "fairness")

    resolved = post(client, f"{REVIEWS}{case.pk}/findings/{finding.pk}/resolve/",
                    {"resolution": "Retrained with reweighting; see version 2."})
    assert resolved.status_code == 200, resolved.content
    assert (resolved.json()["status"], resolved.json()["resolved_by"]) == ("resolved", validator.username)
    entry = last_entry()
    assert (entry.action, entry.data["status"]) == ("reviews.finding.resolved",
                                                    {"before": "open", "after": "resolved"})
    assert [item["id"] for item in client.get(f"{REVIEWS}{case.pk}/findings/").json()["results"]] == [finding.pk]


@pytest.mark.parametrize("override, field", [
    ({"severity": "catastrophic"}, "severity"),
    ({"due_date": "2001-01-01"}, "due_date"),
    ({"due_date": "not-a-date"}, "due_date"),
    ({"owner": "nobody-of-that-name"}, "owner"),
    ({"check": "astrology"}, "check"),
    ({"status": "resolved"}, "status"),
])
def test_bad_findings_are_refused_400_and_nothing_changes(validator, submitter, case_awaiting_validation, state,
                                                          override, field):
    before = state()
    response = post(client_for(validator), f"{REVIEWS}{case_awaiting_validation.pk}/findings/",
                    finding_body(submitter, **override))
    assert_problem(response, 400, "validation-failed", field=field)
    assert state() == before


def test_the_submitter_cannot_raise_a_finding_on_their_own_review(submitter, case_awaiting_validation, state):
    before = state()
    response = post(client_for(submitter), f"{REVIEWS}{case_awaiting_validation.pk}/findings/",
                    finding_body(submitter))
    assert_problem(response, 403, "permission-denied")
    assert state() == before


# --- risk acceptance --------------------------------------------------------------------------------


def test_an_approver_accepts_the_risk_of_a_failed_check_and_it_shows_with_the_result(
    approver, submitter, open_case
):
    case = finish_checks(open_case(), failing=["fairness"])
    response = post(client_for(approver), f"{REVIEWS}{case.pk}/checks/fairness/risk-acceptance/",
                    {"rationale": "Gap within the documented tolerance for this pilot; monitored monthly."})

    assert response.status_code == 201, response.content
    acceptance = response.json()["risk_acceptance"]
    assert (acceptance["accepted_by"], acceptance["rationale"][:3]) == (approver.username, "Gap")
    entry = last_entry()
    assert (entry.action, entry.data["check"], entry.data["check_status"]) == ("reviews.risk.accepted", "fairness",
                                                                               "failed")
    shown = client_for(submitter).get(f"{REVIEWS}{case.pk}/").json()
    assert {c["kind"]: c["risk_acceptance"] is not None for c in shown["checks"]}["fairness"] is True


def test_accepting_the_risk_of_a_passed_check_is_409_and_by_a_validator_403(approver, validator, open_case, state):
    case = finish_checks(open_case(), failing=["fairness"])
    before = state()
    body = {"rationale": "Nothing to accept."}
    assert_problem(post(client_for(approver), f"{REVIEWS}{case.pk}/checks/performance/risk-acceptance/", body),
                   409, "conflict")
    assert_problem(post(client_for(validator), f"{REVIEWS}{case.pk}/checks/fairness/risk-acceptance/", body),
                   403, "permission-denied")
    assert_problem(post(client_for(approver), f"{REVIEWS}{case.pk}/checks/fairness/risk-acceptance/", {}),
                   400, "validation-failed", field="rationale")
    assert state() == before


# --- signed decisions -------------------------------------------------------------------------------


def test_validate_then_approve_with_passwords_signs_both_and_grants_the_approval(
    validator, approver, case_awaiting_validation
):
    case = case_awaiting_validation
    validated = post(client_for(validator), f"{REVIEWS}{case.pk}/validate/",
                     {"password": PASSWORD, "comment": "Evidence reviewed."})

    assert validated.status_code == 201, validated.content
    body = validated.json()
    decision = Decision.objects.get()
    assert validated["Location"] == f"/api/v1/reviews/{case.pk}/decisions/{decision.pk}/"
    assert (body["meaning"], body["case_status"], body["signer_printed_name"], body["manifest_sha256"]) == (
        "validated", "awaiting_approval", validator.display_name, decision.manifest_sha256)
    assert "password" not in json.dumps(body)
    entry = last_entry()
    assert (entry.action, entry.index, entry.data["manifest_sha256"]) == (
        "reviews.decision.signed", body["audit_index"], decision.manifest_sha256)

    approved = post(client_for(approver), f"{REVIEWS}{case.pk}/approve/",
                    {"password": PASSWORD, "conditions": ["Monitor drift monthly."]})
    assert approved.status_code == 201, approved.content
    assert approved.json()["case_status"] == "approved"
    approval = Approval.objects.get()
    assert approval.conditions == ["Monitor drift monthly."]
    actions = list(AuditEntry.objects.order_by("-index").values_list("action", flat=True)[:2])
    assert actions == ["reviews.approval.granted", "reviews.decision.signed"]
    shown = client_for(approver).get(f"{REVIEWS}{case.pk}/").json()
    assert shown["approval"]["artifact_sha256"] == case.model_version.artifact_sha256
    listed = client_for(approver).get(f"{REVIEWS}{case.pk}/decisions/").json()["results"]
    assert [item["meaning"] for item in listed] == ["validated", "approved"]


def test_a_wrong_password_signs_nothing_403(validator, case_awaiting_validation, state):
    before = state()
    response = post(client_for(validator), f"{REVIEWS}{case_awaiting_validation.pk}/validate/",
                    {"password": "not-my-password"})
    body = assert_problem(response, 403, "permission-denied")
    assert "password" in body["detail"]
    assert state() == before


def test_a_missing_password_is_400_and_signs_nothing(validator, case_awaiting_validation, state):
    before = state()
    response = post(client_for(validator), f"{REVIEWS}{case_awaiting_validation.pk}/validate/", {})
    assert_problem(response, 400, "validation-failed", field="password")
    assert state() == before


def test_an_api_key_cannot_sign_a_decision_403_signature_requires_person(
    case_awaiting_validation, team, state
):
    key = api_key_with_plaintext(service_account__team=team,
                                 service_account__scopes=[scope.value for scope in Scope])[1]
    before = state()
    for action in ("validate", "approve", "reject", "request-changes"):
        response = post(client_for(key=key), f"{REVIEWS}{case_awaiting_validation.pk}/{action}/",
                        {"password": PASSWORD, "reason": "x"})
        assert_problem(response, 403, "signature-requires-person")
    assert state() == before


def test_the_same_person_cannot_validate_and_approve_one_case(validator_and_approver, case_awaiting_validation,
                                                              state):
    client = client_for(validator_and_approver)
    assert post(client, f"{REVIEWS}{case_awaiting_validation.pk}/validate/",
                {"password": PASSWORD}).status_code == 201
    before = state()
    response = post(client, f"{REVIEWS}{case_awaiting_validation.pk}/approve/", {"password": PASSWORD})
    body = assert_problem(response, 403, "permission-denied")
    assert "Separation of duties" in body["detail"]
    assert state() == before


def test_the_developer_cannot_approve_their_own_version(developer, validator, case_awaiting_validation, state):
    from guardian.shortcuts import assign_perm

    assign_perm("registry.review_usecase", developer, case_awaiting_validation.model_version.model.use_case)
    post(client_for(validator), f"{REVIEWS}{case_awaiting_validation.pk}/validate/", {"password": PASSWORD})
    before = state()
    response = post(client_for(developer), f"{REVIEWS}{case_awaiting_validation.pk}/approve/",
                    {"password": PASSWORD})
    body = assert_problem(response, 403, "permission-denied")
    assert "submitter or developer" in body["detail"]
    assert state() == before


def test_approval_is_refused_409_while_a_high_severity_finding_is_open(
    validator, approver, submitter, case_awaiting_validation, state
):
    case = case_awaiting_validation
    post(client_for(validator), f"{REVIEWS}{case.pk}/findings/", finding_body(submitter))
    post(client_for(validator), f"{REVIEWS}{case.pk}/validate/", {"password": PASSWORD})
    before = state()
    body = assert_problem(post(client_for(approver), f"{REVIEWS}{case.pk}/approve/", {"password": PASSWORD}),
                          409, "conflict")
    assert body["blockers"] == ["Open high-severity finding: Intersectional gap"]
    assert state() == before


@pytest.mark.parametrize("action, meaning, status", [
    ("reject", "rejected", ReviewStatus.REJECTED),
    ("request-changes", "changes_requested", ReviewStatus.CHANGES_REQUESTED),
])
def test_a_validator_rejects_or_requests_changes_with_a_reason(validator, case_awaiting_validation, action,
                                                               meaning, status):
    url = f"{REVIEWS}{case_awaiting_validation.pk}/{action}/"
    assert_problem(post(client_for(validator), url, {"password": PASSWORD}), 400, "validation-failed",
                   field="reason")
    response = post(client_for(validator), url, {"password": PASSWORD, "reason": "Fairness gap too large."})
    assert response.status_code == 201, response.content
    assert (response.json()["meaning"], response.json()["case_status"]) == (meaning, status)
    entry = last_entry()
    assert (entry.action, entry.data["meaning"], entry.data["status"]) == (
        "reviews.decision.signed", meaning, {"before": "awaiting_validation", "after": status})


def test_a_resubmission_names_the_case_that_requested_changes(submitter, validator, submission,
                                                              case_awaiting_validation):
    case = case_awaiting_validation
    post(client_for(validator), f"{REVIEWS}{case.pk}/request-changes/", {"password": PASSWORD, "reason": "Retrain."})
    response = post(client_for(submitter), REVIEWS, {**submission, "previous_case": case.pk})
    assert response.status_code == 201, response.content
    assert response.json()["previous_case"] == case.pk
    assert client_for(submitter).get(f"{REVIEWS}{case.pk}/").json()["resubmission"] == response.json()["id"]
    assert last_entry().data["previous_case"] == case.pk


# --- withdrawal -------------------------------------------------------------------------------------


def test_the_submitter_withdraws_a_case_and_a_validator_may_not(submitter, validator, open_case, state):
    case = open_case()
    before = state()
    assert_problem(post(client_for(validator), f"{REVIEWS}{case.pk}/withdraw/", {"reason": "No."}),
                   403, "permission-denied")
    assert_problem(post(client_for(submitter), f"{REVIEWS}{case.pk}/withdraw/", {"reason": ""}),
                   400, "validation-failed", field="reason")
    assert state() == before

    response = post(client_for(submitter), f"{REVIEWS}{case.pk}/withdraw/", {"reason": "Wrong artifact."})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["status_reason"]) == ("withdrawn", "Wrong artifact.")
    entry = last_entry()
    assert (entry.action, entry.data["status"]) == ("reviews.case.withdrawn", {"before": "open", "after": "withdrawn"})
    assert_problem(post(client_for(submitter), f"{REVIEWS}{case.pk}/withdraw/", {"reason": "Again."}),
                   409, "conflict")


def test_a_validator_reassigns_a_finding_and_bad_reassignments_change_nothing(
    validator, submitter, case_awaiting_validation, state
):
    case = case_awaiting_validation
    client = client_for(validator)
    finding_id = post(client, f"{REVIEWS}{case.pk}/findings/", finding_body(submitter)).json()["id"]
    url = f"{REVIEWS}{case.pk}/findings/{finding_id}/reassign/"

    before = state()
    assert_problem(post(client, url, {"owner": "nobody-of-that-name", "reason": "x"}), 400, "validation-failed",
                   field="owner")
    assert_problem(post(client, url, {"reason": "x", "priority": "urgent"}), 400, "validation-failed")
    assert_problem(post(client_for(submitter), url, {"owner": validator.username, "reason": "x"}),
                   403, "permission-denied")
    assert state() == before

    response = post(client, url, {"owner": validator.username, "reason": "Submitter on leave."})
    assert response.status_code == 200, response.content
    assert response.json()["owner"] == validator.username
    assert last_entry().action == "reviews.finding.reassigned"
