"""Celery tasks of reviews: thin, idempotent, acks_late, retried on transient database errors.

They take ids and call one service. A check's model runs in a limited child process (see
apps.reviews.sandbox), so a model that crashes or runs away fails its check, not the worker. If the
worker dies mid-check, acks_late redelivers the task and the check runs again from the start.
"""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from . import services
from .models import ReviewCase

TRANSIENT_ERRORS = (OperationalError, InterfaceError)
COMMON = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 120,
    "max_retries": 5,
}


@shared_task(soft_time_limit=60, time_limit=90, **COMMON)
def review_checks_start_task(case_id: int) -> None:
    """Creates and queues the checks of a newly opened case; does nothing if they already started."""
    case = ReviewCase.objects.filter(pk=case_id).first()
    if case is not None:
        services.review_checks_start(case=case)


# The limits here are the fallback; services queue each run with limits derived from
# DOCKET_REVIEW_CHECK_WALL_SECONDS.
@shared_task(soft_time_limit=960, time_limit=1020, **COMMON)
def check_run_task(check_result_id: int) -> None:
    """Runs one check; a finished check is left as it is."""
    try:
        services.check_run(check_result_id=check_result_id)
    except SoftTimeLimitExceeded:
        services.check_fail(check_result_id=check_result_id,
                            reason="The check exceeded the worker's soft time limit and was stopped.")
