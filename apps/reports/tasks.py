"""Celery tasks of reports: thin, idempotent, acks_late; each calls one service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5, soft_time_limit=600, time_limit=660)
def report_build_task(document_id: int) -> str:
    """Generates a requested document; a document that is already done is left as it is."""
    return services.report_build(document_id=document_id).status
