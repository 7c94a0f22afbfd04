"""The review pages: queue, case page, check panel, plots, and every action the case page offers, each
through its service (audited) and each refusal changing nothing."""

import datetime as dt
import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.models import AuditEntry
from apps.reviews import services
from apps.reviews.models import (
    Approval,
    CheckPlot,
    CheckResult,
    CheckStatus,
    Decision,
    Finding,
    FindingStatus,
    ReviewStatus,
    RiskAcceptance,
)
from tests.factories.accounts import UserFactory
from tests.factories.registry import ModelFactory, ModelVersionFactory, UseCaseFactory

from .conftest import PASSWORD, finish_checks

pytestmark = pytest.mark.django_db


def case_url(case):
    return reverse("reviews:case", args=[case.pk])


def sign_url(case, meaning):
    return reverse("reviews:sign", args=[case.pk, meaning])


@pytest.fixture
def outsider():
    """A validator with no permission on the use case."""
    return UserFactory(username="out-sider", roles=[Role.VALIDATOR])


@pytest.fixture
def awaiting_approval(case_awaiting_validation, validator):
    services.review_validate(actor=validator, case=case_awaiting_validation, password=PASSWORD)
    case_awaiting_validation.refresh_from_db()
    return case_awaiting_validation


def cheap_cases(use_case, developer, submitter, count, *, finish=True):
    """`count` review cases of factory-made versions (no datasets), checks finished synthetically."""
    model = ModelFactory(use_case=use_case)
    cases = []
    for _ in range(count):
        version = ModelVersionFactory(model=model, registered_by=developer)
        case = services.review_open(actor=submitter, model_version=version, environment="production")
        cases.append(finish_checks(case) if finish else case)
    return cases


# --- sign-in and visibility -------------------------------------------------------------------------


def test_queue_and_case_page_redirect_anonymous_visitors_to_sign_in(client, case_awaiting_validation):
    for url in (reverse("reviews:queue"), case_url(case_awaiting_validation),
                reverse("reviews:case_checks", args=[case_awaiting_validation.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_case_page_of_a_use_case_the_user_may_not_see_is_404(client, outsider, case_awaiting_validation):
    client.force_login(outsider)
    assert client.get(case_url(case_awaiting_validation)).status_code == 404
    assert case_awaiting_validation.pk not in [c.pk for c in client.get(reverse("reviews:queue")).context["page"]]


def test_plot_is_served_to_who_may_see_the_case_and_404_to_others(client, validator, outsider,
                                                                   case_awaiting_validation):
    result = case_awaiting_validation.check_results.get(kind="explainability")
    png = b"\x89PNG\r\n\x1a\nplot-bytes"
    CheckPlot.objects.create(check_result=result, name="beeswarm", sha256="a" * 64,
                             image=ContentFile(png, name="beeswarm.png"))
    url = reverse("reviews:check_plot", args=[case_awaiting_validation.pk, "explainability", "beeswarm"])
    client.force_login(validator)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(validator)
    assert client.get(url.replace("beeswarm", "missing")).status_code == 404


# --- queue ------------------------------------------------------------------------------------------


def test_queue_filters_by_use_case_risk_class_state_and_assigned_to_me(client, use_case, developer, submitter,
                                                                        validator, team):
    mine = cheap_cases(use_case, developer, submitter, 2)
    running = cheap_cases(use_case, developer, submitter, 1, finish=False)[0]
    services.review_checks_start(case=running)
    other_use_case = UseCaseFactory(key="fraud", owner_team=team, risk_class="limited")
    assign_perm("registry.review_usecase", validator, other_use_case)
    other = cheap_cases(other_use_case, developer, submitter, 1)[0]
    client.force_login(validator)

    def listed(**params):
        return [case.pk for case in client.get(reverse("reviews:queue"), params).context["page"]]

    assert set(listed()) == {*[c.pk for c in mine], running.pk, other.pk}
    assert set(listed(use_case="fraud")) == {other.pk}
    assert set(listed(risk_class="high")) == {*[c.pk for c in mine], running.pk}
    assert set(listed(state="checks_running")) == {running.pk}
    assert set(listed(assigned="on")) == {*[c.pk for c in mine], other.pk}  # running: nothing to sign yet
    assert listed(sort="oldest") == sorted(listed(sort="oldest"))
    assert listed(sort="newest") == sorted(listed(), reverse=True)
    assert set(listed(use_case="no-such-use-case")) == set(listed())  # unknown choice: ignored


def test_queue_paginates_25_a_page_and_keeps_filters_in_page_links(client, use_case, developer, submitter,
                                                                     validator):
    cheap_cases(use_case, developer, submitter, 27, finish=False)
    client.force_login(validator)
    first = client.get(reverse("reviews:queue"), {"state": "open"})
    assert len(first.context["page"]) == 25 and first.context["page"].paginator.num_pages == 2
    assert "state=open&amp;page=2" in first.content.decode()
    assert len(client.get(reverse("reviews:queue"), {"state": "open", "page": 2}).context["page"]) == 2


@pytest.mark.parametrize("rows", [2, 20])
def test_queue_runs_a_constant_number_of_queries(client, use_case, developer, submitter, validator,
                                                 django_assert_num_queries, rows):
    cheap_cases(use_case, developer, submitter, rows)
    client.force_login(validator)
    client.get(reverse("reviews:queue"), {"assigned": "on"})  # warm caches (content types)
    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(reverse("reviews:queue"), {"assigned": "on"})
    assert len(response.context["page"]) == rows


QUEUE_QUERIES = 11


# --- case page: what it shows, and to whom ------------------------------------------------------------


def forms_on(response) -> set[str]:
    """The action forms present on a case page, by their form ids."""
    html = response.content.decode()
    return set(re.findall(r'id="(decide-(?:validate|approve|changes|reject)|raise-finding|withdraw|accept-[a-z_]+)"',
                          html))


def test_case_page_shows_version_facts_policy_checks_and_audit_trail(client, validator, case_awaiting_validation):
    client.force_login(validator)
    response = client.get(case_url(case_awaiting_validation))
    html = response.content.decode()
    version = case_awaiting_validation.model_version
    assert response.status_code == 200
    assert html.count("<h1") == 1
    assert version.artifact_sha256 in html
    assert "roc_auc" in html and "Claimed metrics" in html  # claims of trained_model_version
    assert "Relevant design choices" in html  # datasheet shown
    assert case_awaiting_validation.policy_snapshot_sha256 in html
    assert "demographic_parity_ratio_min" in html  # locked thresholds
    assert 'id="check-fairness"' in html and "Every check has finished." in html
    assert "hx-trigger" not in html  # nothing running: no polling
    assert "reviews.case.opened" in html and "reviews.check.completed" in html


def test_submitter_sees_no_decision_form_on_own_case_but_may_withdraw(client, submitter, case_awaiting_validation):
    client.force_login(submitter)
    assert forms_on(client.get(case_url(case_awaiting_validation))) == {"withdraw"}


def test_validator_sees_validate_close_and_finding_forms_but_not_approve(client, validator,
                                                                         case_awaiting_validation):
    client.force_login(validator)
    html = client.get(case_url(case_awaiting_validation)).content.decode()
    assert forms_on(client.get(case_url(case_awaiting_validation))) == {
        "decide-validate", "decide-changes", "decide-reject", "raise-finding"}
    assert "Validated: the evidence was independently reviewed and supports use" in html
    assert 'type="password"' in html


def test_auditor_and_developer_see_no_action_forms(client, auditor, developer, case_awaiting_validation):
    for user in (auditor, developer):
        client.force_login(user)
        assert forms_on(client.get(case_url(case_awaiting_validation))) == set()


def test_validator_named_as_a_developer_of_the_version_sees_no_action_forms(client, use_case, submitter, validator):
    from apps.registry.models import ModelVersionDeveloper, evidence_window

    version = ModelVersionFactory(model=ModelFactory(use_case=use_case), registered_by=submitter)
    with evidence_window(version):
        ModelVersionDeveloper(model_version=version, user=validator).save()
    case = finish_checks(services.review_open(actor=submitter, model_version=version, environment="production"))
    client.force_login(validator)
    assert forms_on(client.get(case_url(case))) == set()


def test_validator_who_validated_sees_no_approve_form_even_holding_the_approver_role(
        client, validator_and_approver, case_awaiting_validation):
    services.review_validate(actor=validator_and_approver, case=case_awaiting_validation, password=PASSWORD)
    client.force_login(validator_and_approver)
    assert forms_on(client.get(case_url(case_awaiting_validation))) == {"raise-finding"}


def test_approver_sees_approve_form_and_blockers_replace_it(client, approver, validator, open_case):
    case = finish_checks(open_case(), failing=("fairness",))
    services.review_validate(actor=validator, case=case, password=PASSWORD)
    client.force_login(approver)
    response = client.get(case_url(case))
    html = response.content.decode()
    assert forms_on(response) == {"decide-approve", "decide-changes", "decide-reject", "raise-finding",
                                  "accept-fairness"}
    assert "Approval is not possible yet" in html and 'action="{}"'.format(sign_url(case, "approved")) not in html


@pytest.mark.parametrize("findings", [2, 20])
def test_case_page_runs_a_constant_number_of_queries(client, validator, developer, case_awaiting_validation,
                                                     django_assert_num_queries, findings):
    for number in range(findings):
        services.finding_raise(actor=validator, case=case_awaiting_validation, severity="low",
                               title=f"Finding {number}", description="d", owner=developer,
                               due_date=timezone.localdate() + dt.timedelta(days=5))
    client.force_login(validator)
    client.get(case_url(case_awaiting_validation))
    with django_assert_num_queries(CASE_PAGE_QUERIES):
        response = client.get(case_url(case_awaiting_validation))
    assert len(response.context["page"].findings) == findings


CASE_PAGE_QUERIES = 16


# --- live check panel ----------------------------------------------------------------------------------


def test_check_panel_polls_while_checks_run_and_stops_with_a_reload_once_finished(client, validator, open_case):
    case = open_case()
    services.review_checks_start(case=case)
    running = case.check_results.get(kind="performance")
    services._check_begin(running.pk)  # what the worker does when it picks the check up
    services.check_progress_report(check_result_id=running.pk, percent=40, message="scoring the test set")
    client.force_login(validator)
    url = reverse("reviews:case_checks", args=[case.pk])
    fragment = client.get(url, headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert 'hx-trigger="every 2s"' in html and f'hx-get="{url}"' in html
    assert 'value="40"' in html and "scoring the test set" in html
    assert "HX-Refresh" not in fragment.headers
    finish_checks_already_started(case)
    done = client.get(url, headers={"HX-Request": "true"})
    assert "hx-trigger" not in done.content.decode()
    assert done.headers["HX-Refresh"] == "true"


def finish_checks_already_started(case):
    for result in case.check_results.all():
        services.check_result_record(
            check_result_id=result.pk,
            outcome=services.CheckOutcome(status=CheckStatus.PASSED, summary="ok", failure_reasons=[],
                                          metrics={}, model_sha256=case.model_version.artifact_sha256),
            duration_seconds=0.1)


def test_fairness_table_marks_values_beyond_the_locked_limits_in_words(client, validator, open_case):
    case = open_case()
    services.review_checks_start(case=case)
    fairness = case.check_results.get(kind="fairness")
    metrics = {"min_group_size": 30, "by_attribute": {"sex": {
        "attributes": ["sex"], "groups_compared": 2, "demographic_parity_ratio": 0.5,
        "demographic_parity_difference": 0.3, "equal_opportunity_difference": 0.05, "equalized_odds_difference": 0.05,
        "groups": {"F": {"n": 400, "base_rate": 0.3, "selection_rate": 0.3, "tpr": 0.8, "fpr": 0.1, "ppv": 0.7},
                   "M": {"n": 400, "base_rate": 0.3, "selection_rate": 0.6, "tpr": 0.82, "fpr": 0.12, "ppv": 0.7},
                   "X": {"n": 5, "base_rate": 0.2, "selection_rate": 0.0, "tpr": 0.0, "fpr": 0.0, "ppv": None}}}}}
    services.check_result_record(check_result_id=fairness.pk, outcome=services.CheckOutcome(
        status=CheckStatus.FAILED, summary="unfair", failure_reasons=["sex: demographic parity ratio breaches"],
        metrics=metrics, model_sha256=case.model_version.artifact_sha256), duration_seconds=0.1)
    client.force_login(validator)
    html = client.get(case_url(case)).content.decode()
    assert html.count("✗ Beyond limit") == 1  # the ratio 0.5 < 0.8; the differences are within
    assert "beyond limit: below 0.8 × the highest group&#x27;s rate" in html  # group F's selection rate
    assert html.count("▲<span") == 1  # X is too small to compare, M is the reference
    assert "too few rows, not compared" in html


# --- actions ---------------------------------------------------------------------------------------------


def finding_data(owner_user, **overrides):
    data = {"severity": "high", "title": "Calibration drifts", "description": "Scores over-predict for age 60+.",
            "owner": owner_user.username, "due_date": (timezone.localdate() + dt.timedelta(days=14)).isoformat(),
            "check": "performance"}
    data.update(overrides)
    return data


def test_validator_raises_a_finding_through_the_service(client, validator, developer, case_awaiting_validation):
    client.force_login(validator)
    response = client.post(reverse("reviews:finding_raise", args=[case_awaiting_validation.pk]),
                           finding_data(developer))
    finding = Finding.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"#finding-{finding.pk}")
    assert (finding.title, finding.owner, finding.check_result.kind) == ("Calibration drifts", developer, "performance")
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == "reviews.finding.raised" and entry.subject_id == str(finding.pk)
    assert entry.actor_name == validator.display_name and entry.data["severity"] == "high"


@pytest.mark.parametrize("bad, field, message", [
    ({"due_date": "2001-01-01"}, "due_date", "The due date is in the past."),
    ({"owner": "nobody-here"}, "owner", "There is no active person with the username"),
    ({"title": ""}, "title", "This field is required."),
    ({"severity": "catastrophic"}, "severity", "Select a valid choice."),
])
def test_bad_finding_input_is_shown_next_to_the_field_and_changes_nothing(client, validator, developer,
                                                                          case_awaiting_validation, bad, field,
                                                                          message):
    entries = AuditEntry.objects.count()
    client.force_login(validator)
    response = client.post(reverse("reviews:finding_raise", args=[case_awaiting_validation.pk]),
                           finding_data(developer, **bad))
    assert response.status_code == 400
    assert message in " ".join(response.context["raise_form"].errors[field])
    assert f'id="id_{field}-error"' in response.content.decode()
    assert Finding.objects.count() == 0 and AuditEntry.objects.count() == entries


def test_submitter_posting_a_finding_gets_403_and_nothing_changes(client, submitter, developer,
                                                                  case_awaiting_validation):
    entries = AuditEntry.objects.count()
    client.force_login(submitter)
    response = client.post(reverse("reviews:finding_raise", args=[case_awaiting_validation.pk]),
                           finding_data(developer))
    assert response.status_code == 403 and b"Only a validator or approver may raise findings" in response.content
    assert Finding.objects.count() == 0 and AuditEntry.objects.count() == entries


@pytest.fixture
def open_finding(validator, developer, case_awaiting_validation):
    return services.finding_raise(actor=validator, case=case_awaiting_validation, severity="high", title="Gap",
                                  description="d", owner=developer,
                                  due_date=timezone.localdate() + dt.timedelta(days=7))


def test_finding_is_resolved_and_reassigned_through_the_services(client, validator, approver, open_finding):
    case = open_finding.case
    client.force_login(validator)
    new_due = timezone.localdate() + dt.timedelta(days=30)
    response = client.post(reverse("reviews:finding_reassign", args=[case.pk, open_finding.pk]),
                           {"owner": approver.username, "due_date": new_due.isoformat(), "reason": "Approver owns it"})
    assert response.status_code == 302
    open_finding.refresh_from_db()
    assert (open_finding.owner, open_finding.due_date) == (approver, new_due)
    assert AuditEntry.objects.order_by("-index").first().action == "reviews.finding.reassigned"
    response = client.post(reverse("reviews:finding_resolve", args=[case.pk, open_finding.pk]),
                           {"resolution": "Recalibrated and re-registered."})
    assert response.status_code == 302
    open_finding.refresh_from_db()
    assert open_finding.status == FindingStatus.RESOLVED and open_finding.resolved_by == validator
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == "reviews.finding.resolved" and entry.data["resolution"] == "Recalibrated and re-registered."


def test_resolving_without_a_resolution_or_reassigning_without_a_change_changes_nothing(client, validator,
                                                                                         open_finding):
    case, entries = open_finding.case, AuditEntry.objects.count()
    client.force_login(validator)
    blank = client.post(reverse("reviews:finding_resolve", args=[case.pk, open_finding.pk]), {"resolution": " "})
    assert blank.status_code == 400
    same = client.post(reverse("reviews:finding_reassign", args=[case.pk, open_finding.pk]),
                       {"owner": "", "due_date": "", "reason": "no change"})
    assert same.status_code == 400
    assert "Give a new owner, a new due date, or both." in same.content.decode()
    open_finding.refresh_from_db()
    assert open_finding.status == FindingStatus.OPEN and AuditEntry.objects.count() == entries


def test_approver_accepts_the_risk_of_a_failed_check_and_a_blank_rationale_changes_nothing(
        client, approver, open_case):
    case = finish_checks(open_case(), failing=("fairness",))
    client.force_login(approver)
    url = reverse("reviews:risk_accept", args=[case.pk, "fairness"])
    entries = AuditEntry.objects.count()
    assert client.post(url, {"rationale": ""}).status_code == 400
    assert RiskAcceptance.objects.count() == 0 and AuditEntry.objects.count() == entries
    assert client.post(url, {"rationale": "Disparity explained by income; monitored monthly."}).status_code == 302
    acceptance = RiskAcceptance.objects.get()
    assert acceptance.accepted_by == approver and acceptance.check_result.kind == "fairness"
    assert AuditEntry.objects.order_by("-index").first().action == "reviews.risk.accepted"


def test_validator_posting_a_risk_acceptance_gets_403(client, validator, open_case):
    case = finish_checks(open_case(), failing=("fairness",))
    client.force_login(validator)
    response = client.post(reverse("reviews:risk_accept", args=[case.pk, "fairness"]), {"rationale": "fine"})
    assert response.status_code == 403 and RiskAcceptance.objects.count() == 0


def test_validator_validates_with_password_and_the_case_awaits_approval(client, validator, case_awaiting_validation):
    client.force_login(validator)
    response = client.post(sign_url(case_awaiting_validation, "validated"),
                           {"validate-password": PASSWORD, "validate-comment": "Evidence reviewed."})
    assert response.status_code == 302
    decision = Decision.objects.get()
    assert (decision.meaning, decision.signer, decision.comment) == ("validated", validator, "Evidence reviewed.")
    case_awaiting_validation.refresh_from_db()
    assert case_awaiting_validation.status == ReviewStatus.AWAITING_APPROVAL
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == "reviews.decision.signed" and entry.index == decision.audit_index


@pytest.mark.parametrize("password", ["wrong-password-entirely", ""])
def test_wrong_or_missing_password_at_signing_changes_nothing_and_shows_error_by_the_field(
        client, validator, case_awaiting_validation, password):
    entries = AuditEntry.objects.count()
    client.force_login(validator)
    response = client.post(sign_url(case_awaiting_validation, "validated"), {"validate-password": password})
    assert response.status_code == 400
    assert response.context["validate_form"].errors["password"]
    assert 'id="id_validate-password-error"' in response.content.decode()
    assert Decision.objects.count() == 0 and AuditEntry.objects.count() == entries
    case_awaiting_validation.refresh_from_db()
    assert case_awaiting_validation.status == ReviewStatus.AWAITING_VALIDATION


def test_approver_approves_with_conditions_and_an_approval_is_created(client, approver, awaiting_approval):
    client.force_login(approver)
    response = client.post(sign_url(awaiting_approval, "approved"),
                           {"approve-password": PASSWORD, "approve-conditions": "Monthly drift report\n\nHuman review"})
    assert response.status_code == 302
    approval = Approval.objects.get()
    assert approval.conditions == ["Monthly drift report", "Human review"]
    assert approval.artifact_sha256 == awaiting_approval.model_version.artifact_sha256
    assert AuditEntry.objects.order_by("-index").first().action == "reviews.approval.granted"


def test_validator_posting_approve_on_a_case_they_validated_gets_403_and_nothing_changes(
        client, validator_and_approver, case_awaiting_validation):
    services.review_validate(actor=validator_and_approver, case=case_awaiting_validation, password=PASSWORD)
    entries = AuditEntry.objects.count()
    client.force_login(validator_and_approver)
    response = client.post(sign_url(case_awaiting_validation, "approved"), {"approve-password": PASSWORD})
    assert response.status_code == 403 and b"Separation of duties" in response.content
    assert Approval.objects.count() == 0 and AuditEntry.objects.count() == entries


def test_submitter_posting_validate_on_own_case_gets_403_and_nothing_changes(client, submitter,
                                                                             case_awaiting_validation):
    entries = AuditEntry.objects.count()
    client.force_login(submitter)
    response = client.post(sign_url(case_awaiting_validation, "validated"), {"validate-password": PASSWORD})
    assert response.status_code == 403
    assert Decision.objects.count() == 0 and AuditEntry.objects.count() == entries


def test_approving_a_case_awaiting_validation_is_a_409_conflict_and_changes_nothing(client, approver,
                                                                                    case_awaiting_validation):
    entries = AuditEntry.objects.count()
    client.force_login(approver)
    response = client.post(sign_url(case_awaiting_validation, "approved"), {"approve-password": PASSWORD})
    assert response.status_code == 409 and b"only a case awaiting approval" in response.content
    assert Decision.objects.count() == 0 and AuditEntry.objects.count() == entries


@pytest.mark.parametrize("meaning, prefix, status", [("rejected", "reject", ReviewStatus.REJECTED),
                                                     ("changes_requested", "changes", ReviewStatus.CHANGES_REQUESTED)])
def test_validator_rejects_or_requests_changes_with_a_reason(client, validator, case_awaiting_validation,
                                                             meaning, prefix, status):
    client.force_login(validator)
    url = sign_url(case_awaiting_validation, meaning)
    no_reason = client.post(url, {f"{prefix}-password": PASSWORD, f"{prefix}-reason": ""})
    assert no_reason.status_code == 400 and Decision.objects.count() == 0
    response = client.post(url, {f"{prefix}-password": PASSWORD, f"{prefix}-reason": "Fairness evidence is thin."})
    assert response.status_code == 302
    case_awaiting_validation.refresh_from_db()
    assert case_awaiting_validation.status == status
    assert Decision.objects.get().meaning == meaning


def test_unknown_signature_meaning_is_404(client, validator, case_awaiting_validation):
    client.force_login(validator)
    assert client.post(sign_url(case_awaiting_validation, "blessed"), {}).status_code == 404


def test_submitter_withdraws_and_a_validator_may_not(client, submitter, validator, case_awaiting_validation):
    url = reverse("reviews:withdraw", args=[case_awaiting_validation.pk])
    client.force_login(validator)
    assert client.post(url, {"reason": "no"}).status_code == 403
    client.force_login(submitter)
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "Superseded by v2."}).status_code == 302
    case_awaiting_validation.refresh_from_db()
    assert case_awaiting_validation.status == ReviewStatus.WITHDRAWN
    assert AuditEntry.objects.order_by("-index").first().action == "reviews.case.withdrawn"


def test_actions_are_post_only(client, validator, case_awaiting_validation):
    client.force_login(validator)
    assert client.get(sign_url(case_awaiting_validation, "validated")).status_code == 405
    assert CheckResult.objects.filter(status=CheckStatus.PASSED).exists()
