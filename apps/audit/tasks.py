"""Celery tasks of the audit log: thin, idempotent, each calls one service."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def checkpoint_sign_task() -> int:
    """Signs a checkpoint if the log grew (on the beat schedule and when the uncovered window fills)."""
    return services.checkpoint_sign(actor=services.SYSTEM).tree_size


@shared_task(acks_late=True, autoretry_for=(services.WitnessError, OSError), retry_backoff=True, max_retries=5)
def checkpoint_witness_task(tree_size: int, witness_url: str) -> int:
    """Asks one witness to cosign the checkpoint of `tree_size` entries; returns the cosignatures stored."""
    return len(services.checkpoint_witness(tree_size=tree_size, witness_url=witness_url))
