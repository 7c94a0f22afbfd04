"""The model risk team's review in a real browser: a validator works a case from the queue to a signed
validation, an approver approves it, the submitter sees no decision form on their own case, a wrong
password at signing changes nothing, and the check panel updates live while checks run.

The case's checks are run in this process through the services (as tests/reviews/ do); the real
worker is exercised by tests/reviews/test_end_to_end.py."""

import datetime as dt

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.models import AuditEntry
from apps.reviews import services
from apps.reviews.models import Approval, CheckStatus, Decision, Finding, ReviewCase, ReviewStatus
from apps.reviews.tasks import check_run_task, review_checks_start_task
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import UseCaseFactory
from tests.factories.reviews import trained_model_version

from .conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

HUMAN_OVERSIGHT = "A credit officer reviews every score before a decision; overrides are logged."


@pytest.fixture
def people():
    services.policy_defaults_load()
    team = TeamFactory(key="credit-risk")
    use_case = UseCaseFactory(key="credit-scoring", name="Consumer credit scoring", owner_team=team,
                              risk_class="high", model_risk_tier="2")
    submitter = UserFactory(username="sam", first_name="Sam", last_name="Submitter", roles=[Role.SUBMITTER],
                            teams=[team])
    developer = UserFactory(username="dee", first_name="Dee", last_name="Developer", roles=[Role.SUBMITTER],
                            teams=[team])
    validator = UserFactory(username="val", first_name="Vera", last_name="Validator", roles=[Role.VALIDATOR])
    approver = UserFactory(username="ada", first_name="Ada", last_name="Approver", roles=[Role.APPROVER])
    for reviewer in (validator, approver):
        assign_perm("registry.review_usecase", reviewer, use_case)
    return {"use_case": use_case, "submitter": submitter, "developer": developer, "validator": validator,
            "approver": approver}


def open_case(people, **version_options):
    version = trained_model_version(use_case=people["use_case"], registered_by=people["developer"], **version_options)
    return services.review_open(actor=people["submitter"], model_version=version, environment="production",
                                label_column="defaulted", documentation={"human_oversight": HUMAN_OVERSIGHT})


def run_checks_in_process(case):
    review_checks_start_task(case.pk)
    for result in case.check_results.order_by("kind"):
        check_run_task(result.pk)
    case.refresh_from_db()
    return case


def test_validator_works_a_case_to_a_signed_validation_and_an_approver_approves(page, sign_in, screenshot, people):
    case = run_checks_in_process(open_case(people))
    assert case.status == ReviewStatus.AWAITING_VALIDATION
    # 1,500 synthetic rows: the sex x age-band intersection breaches the fairness limits, the rest passes.
    assert {r.kind: r.status for r in case.check_results.all()} == {
        "data_governance": "passed", "documentation": "passed", "explainability": "passed", "fairness": "failed",
        "performance": "passed"}
    validator = people["validator"]

    sign_in(page, validator)
    waiting = page.get_by_role("region", name="Reviews waiting for you")
    assert waiting.get_by_role("link", name=f"Review {case.pk}").is_visible()
    screenshot(page, "dashboard")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reviews").click()
    page.get_by_role("heading", name="Review queue").wait_for()
    page.get_by_label("Waiting for me").check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**assigned=on**")
    screenshot(page, "review-queue")
    page.get_by_role("link", name=f"Review {case.pk}", exact=True).click()

    page.get_by_role("heading", level=1).wait_for()
    assert f"Review {case.pk}" in page.get_by_role("heading", level=1).inner_text()
    checks = page.locator("#checks")
    assert "Every check has finished." in checks.inner_text()
    for kind in ("Fairness", "Performance (independent re-computation)", "Explainability (SHAP)"):
        assert checks.get_by_role("heading", name=kind).is_visible()
    assert checks.get_by_role("table", name="Rates per group of sex").first.is_visible()
    assert checks.locator("tr.beyond-threshold").first.get_by_text("✗ Beyond limit").is_visible()
    assert checks.get_by_role("table", name="Claimed metrics against Docket's re-computation").is_visible()
    plot = checks.get_by_role("img", name="SHAP beeswarm plot").first
    plot.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot.element_handle())
    screenshot(page, "review-case")

    raise_form = page.get_by_role("region", name="Raise a finding")
    raise_form.get_by_label("Severity").select_option("medium")
    raise_form.get_by_label("Title").fill("Age band 60+ thinly represented")
    raise_form.get_by_label("Description").fill("Only 4% of the test rows; monitor after launch.")
    raise_form.get_by_label("Owner (username)").fill(people["developer"].username)
    raise_form.get_by_label("Due date").fill((timezone.localdate() + dt.timedelta(days=30)).isoformat())
    raise_form.get_by_label("About the check").select_option("fairness")
    raise_form.get_by_role("button", name="Raise finding").click()
    page.get_by_text("Finding “Age band 60+ thinly represented” raised.").wait_for()
    assert Finding.objects.get().raised_by == validator

    validate = page.get_by_role("region", name="Validate")
    assert "Validated: the evidence was independently reviewed and supports use" in validate.inner_text()
    assert validator.display_name in validate.locator(".signature-meaning").inner_text()
    entries = AuditEntry.objects.count()
    validate.get_by_label("Your password").fill("not my password at all")
    validate.get_by_role("button", name="Sign: validated").click()
    error = page.get_by_role("region", name="Validate").locator("#id_validate-password-error")
    error.wait_for()
    assert "The password is not correct; nothing was signed." in error.inner_text()
    screenshot(page, "review-case-wrong-password")
    assert Decision.objects.count() == 0 and AuditEntry.objects.count() == entries
    assert ReviewCase.objects.get(pk=case.pk).status == ReviewStatus.AWAITING_VALIDATION

    validate = page.get_by_role("region", name="Validate")
    validate.get_by_label("Comment").fill("Evidence reviewed; one medium finding raised.")
    validate.get_by_label("Your password").fill(PASSWORD)
    validate.get_by_role("button", name="Sign: validated").click()
    page.get_by_text("Signed by Vera Validator: Validated").wait_for()
    assert ReviewCase.objects.get(pk=case.pk).status == ReviewStatus.AWAITING_APPROVAL
    assert page.get_by_role("heading", name="Your decision").count() == 0  # nothing more for this validator
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, people["approver"])
    page.goto(f"/reviews/{case.pk}/")
    assert page.get_by_text("Approval is not possible yet").is_visible()  # the failed fairness check
    accept = page.locator("#accept-fairness")
    accept.get_by_label("Rationale for accepting the risk").fill(
        "The intersectional gap comes from 40 rows; monthly monitoring by age band is a condition.")
    accept.get_by_role("button", name="Accept the risk").click()
    page.get_by_text("Risk of the failed Fairness check accepted.").wait_for()
    approve = page.get_by_role("region", name="Approve (with conditions if any)")
    approve.get_by_label("Conditions of use (one per line)").fill("Monthly drift report to the MRM team")
    approve.get_by_label("Your password").fill(PASSWORD)
    approve.get_by_role("button", name="Sign: approved").click()
    page.get_by_text("Signed by Ada Approver: Approved").wait_for()
    assert page.locator("#decisions").get_by_text("Monthly drift report to the MRM team").is_visible()
    screenshot(page, "review-case-approved")
    approval = Approval.objects.get(case=case)
    assert approval.conditions == ["Monthly drift report to the MRM team"]


def finish_synthetically(case):
    for result in case.check_results.all():
        services.check_result_record(
            check_result_id=result.pk,
            outcome=services.CheckOutcome(status=CheckStatus.PASSED, summary="synthetic outcome", failure_reasons=[],
                                          metrics={}, model_sha256=case.model_version.artifact_sha256),
            duration_seconds=0.1,
        )


def test_submitter_sees_no_decision_form_on_own_case(page, sign_in, screenshot, people):
    case = open_case(people)
    services.review_checks_start(case=case)
    finish_synthetically(case)
    sign_in(page, people["submitter"])
    page.goto(f"/reviews/{case.pk}/")
    page.get_by_role("heading", level=1).wait_for()
    assert page.get_by_role("heading", name="Your decision").count() == 0
    assert page.locator('input[type="password"]').count() == 0
    assert page.get_by_role("heading", name="Raise a finding").count() == 0
    assert page.get_by_role("heading", name="Withdraw this review").is_visible()  # theirs to withdraw
    screenshot(page, "review-case-submitter")


def test_check_panel_shows_live_progress_and_reloads_when_checks_finish(page, sign_in, people):
    case = open_case(people)
    services.review_checks_start(case=case)
    performance = case.check_results.get(kind="performance")
    services._check_begin(performance.pk)  # what the worker does when it picks the check up
    services.check_progress_report(check_result_id=performance.pk, percent=35, message="scoring the test set")

    sign_in(page, people["validator"])
    page.goto(f"/reviews/{case.pk}/")
    assert page.get_by_text("Checks are running").is_visible()
    assert page.get_by_role("heading", name="Your decision").count() == 0
    services.check_progress_report(check_result_id=performance.pk, percent=80, message="comparing claims")
    page.get_by_text("80% — comparing claims").wait_for(timeout=10_000)  # polled, no reload

    finish_synthetically(case)
    page.get_by_text("Every check has finished.").wait_for(timeout=10_000)
    page.get_by_role("heading", name="Your decision").wait_for(timeout=10_000)  # page reloaded with the forms
