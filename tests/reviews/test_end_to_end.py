"""Whole reviews with the real checks: a fair model to a signed approval and a biased one to a finding
and a rejection, with the checks run by a real Celery worker (queued on commit when the case opens; the
model runs in the worker's limited child process); and limit and tamper cases with the task functions
called in this process."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.reviews import services
from apps.reviews.models import Approval, CheckStatus, ReviewCase, ReviewStatus
from apps.reviews.tasks import check_run_task, review_checks_start_task
from tests.factories.reviews import trained_model_version
from tests.integration.worker import running_celery_worker, wait_for

from .conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def run_all_checks(case):
    review_checks_start_task(case.pk)
    for result in case.check_results.order_by("kind"):
        check_run_task(result.pk)
    case.refresh_from_db()
    return {result.kind: result for result in case.check_results.all()}


@pytest.fixture
def celery_worker_log(tmp_path):
    """A real Celery worker, running before the case opens so that it takes the tasks queued on commit."""
    with running_celery_worker(tmp_path / "celery") as log:
        yield log


def checks_run_by_the_worker(case, log):
    wait_for(lambda: ReviewCase.objects.get(pk=case.pk).status == ReviewStatus.AWAITING_VALIDATION,
             timeout=300, interval=1.0, log_path=log)
    case.refresh_from_db()
    return {result.kind: result for result in case.check_results.all()}


@pytest.mark.django_db(transaction=True)
def test_a_fair_model_goes_from_submission_through_every_check_to_a_signed_approval(
    celery_worker_log, open_case, use_case, developer, validator, approver
):
    # Enough rows that the intersectional groups (sex x age band) are measured precisely.
    version = trained_model_version(use_case=use_case, registered_by=developer, rows=20000, seed=31)
    case = open_case(model_version=version)
    results = checks_run_by_the_worker(case, celery_worker_log)

    assert case.status == ReviewStatus.AWAITING_VALIDATION
    assert {kind: result.status for kind, result in results.items()} == {
        "documentation": "passed", "data_governance": "passed", "performance": "passed", "fairness": "passed",
        "explainability": "passed",
    }, {kind: result.failure_reasons for kind, result in results.items()}
    performance = results["performance"]
    assert {claim["name"] for claim in performance.metrics["claims"]} == {"accuracy", "roc_auc"}
    assert all(claim["within_tolerance"] for claim in performance.metrics["claims"])
    assert performance.model_sha256 == case.model_version.artifact_sha256
    assert performance.library_versions["scikit-learn"]
    fair = results["fairness"]
    assert set(fair.metrics["by_attribute"]) == {"sex", "age_band", "sex & age_band"}
    assert fair.thresholds_applied == case.thresholds["fairness"]
    assert fair.sample_sizes == {"evaluation": 8000}
    shap_result = results["explainability"]
    assert shap_result.metrics["explainer"] == "ExactExplainer"
    assert shap_result.metrics["additivity_ok"] is True
    assert shap_result.random_seed == case.thresholds["explainability"]["seed"]
    assert shap_result.sample_sizes["shap_sample"] == shap_result.metrics["sample_size"] > 0
    assert sorted(shap_result.plots.values_list("name", flat=True)) == ["bar", "beeswarm"]
    assert shap_result.plots.first().image.read()[:8] == b"\x89PNG\r\n\x1a\n"
    completed = AuditEntry.objects.filter(action="reviews.check.completed")
    assert completed.count() == 5
    assert {entry.data["result_sha256"] for entry in completed} == {r.result_sha256 for r in results.values()}

    services.review_validate(actor=validator, case=case, password=PASSWORD)
    services.review_approve(actor=approver, case=case, password=PASSWORD)
    case.refresh_from_db()
    assert case.status == ReviewStatus.APPROVED
    assert Approval.objects.get(case=case).artifact_sha256 == case.model_version.artifact_sha256
    actions = list(AuditEntry.objects.filter(subject_type="reviews.reviewcase", subject_id=str(case.pk))
                   .order_by("index").values_list("action", flat=True))
    assert actions == ["reviews.case.opened", "reviews.case.checks_started", "reviews.case.checks_completed"]

    # Running a finished check again changes nothing (idempotent tasks).
    before = AuditEntry.objects.count()
    check_run_task(results["fairness"].pk)
    assert AuditEntry.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_a_biased_model_fails_fairness_gets_a_finding_and_is_rejected(
    celery_worker_log, use_case, developer, submitter, validator
):
    version = trained_model_version(use_case=use_case, registered_by=developer, bias=2.5, seed=21,
                                    estimator="gradient_boosting")
    case = services.review_open(actor=submitter, model_version=version, environment="production",
                                label_column="defaulted", documentation={"human_oversight": "Officer review."})
    results = checks_run_by_the_worker(case, celery_worker_log)

    fairness = results["fairness"]
    assert fairness.status == CheckStatus.FAILED
    assert any("sex" in reason for reason in fairness.failure_reasons)
    assert fairness.metrics["by_attribute"]["sex"]["demographic_parity_ratio"] < 0.8
    assert results["explainability"].metrics["explainer"] == "TreeExplainer"
    assert results["explainability"].metrics["pipeline_unwrapped"] is True
    assert case.status == ReviewStatus.AWAITING_VALIDATION

    services.finding_raise(actor=validator, case=case, severity="high", title="Disparate impact by sex",
                           description=fairness.failure_reasons[0], owner=submitter,
                           due_date=timezone.localdate() + dt.timedelta(days=30), check_result=fairness)
    services.review_reject(actor=validator, case=case, password=PASSWORD, reason="Fails the disparate-impact test.")
    case.refresh_from_db()
    assert case.status == ReviewStatus.REJECTED
    assert not Approval.objects.filter(case=case).exists()


def test_a_model_check_over_its_limits_fails_with_a_reason_and_the_review_goes_on(open_case, settings):
    settings.DOCKET_REVIEW_CHECK_WALL_SECONDS = 0
    case = open_case()
    results = run_all_checks(case)
    for kind in ("fairness", "performance", "explainability"):
        assert results[kind].status == CheckStatus.ERROR
        assert "wall-clock limit" in results[kind].failure_reasons[0]
    assert results["documentation"].status == CheckStatus.PASSED
    assert case.status == ReviewStatus.AWAITING_VALIDATION


def test_a_tampered_artifact_file_is_not_used(open_case, model_version):
    path = model_version.artifact.path
    with open(path, "ab") as artifact:
        artifact.write(b"tampered")
    case = open_case()
    results = run_all_checks(case)
    assert results["performance"].status == CheckStatus.FAILED
    assert "does not match its registered SHA-256" in results["performance"].failure_reasons[0]
