"""A real Celery worker (not eager) on a filesystem broker against the test PostgreSQL: opening a case
queues its checks on commit, and the worker runs all of them to "awaiting validation"."""

import pytest

from apps.reviews.models import CheckResult, ReviewCase, ReviewStatus
from tests.integration.worker import running_celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_worker_runs_every_check_queued_on_commit(open_case, tmp_path):
    with running_celery_worker(tmp_path / "celery") as log:
        case = open_case()
        wait_for(
            lambda: ReviewCase.objects.get(pk=case.pk).status == ReviewStatus.AWAITING_VALIDATION,
            timeout=240, interval=1.0, log_path=log,
        )
    statuses = dict(CheckResult.objects.filter(case=case).values_list("kind", "status"))
    assert set(statuses) == set(case.policy_snapshot["required_checks"])
    assert all(status in ("passed", "failed") for status in statuses.values()), statuses
    assert "check_run_task" in log.read_text()
