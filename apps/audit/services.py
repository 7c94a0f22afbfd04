"""The audit writer. `record` is the only code that creates log entries."""

from __future__ import annotations

from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from apps.common.request_context import current_request_id

from .actions import Action
from .encoding import FORMAT_VERSION, ActorRef, EncodingError, SubjectRef, encode_entry, leaf_hash, normalise
from .models import AuditEntry


class AuditError(Exception):
    """The entry could not be recorded; the caller's transaction must not commit without it."""


class _SystemActor:
    """Docket itself, for scheduled work that no person or service account started."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = _SystemActor()

# Any 64-bit constant works; it names the one lock that orders appends to the log.
_SEQUENCER_LOCK_KEY = 0x646F636B6574_01  # "docket" + 1


def describe_actor(actor) -> ActorRef:
    """The actor as the log records it, with a printed name that survives the account's removal."""
    if actor is SYSTEM:
        return ActorRef(type="system", id="", name="Docket")
    if actor is None or not getattr(actor, "pk", None):
        raise AuditError("Every audit entry needs an actor: a user, a service account or SYSTEM.")
    service_account = getattr(actor, "service_account", None) if getattr(actor, "is_service_account", False) else None
    if service_account is not None:
        return ActorRef(type="service_account", id=str(service_account.pk), name=service_account.name)
    if getattr(actor, "_meta", None) is not None and actor._meta.label_lower == "accounts.serviceaccount":
        return ActorRef(type="service_account", id=str(actor.pk), name=actor.name)
    return ActorRef(type="user", id=str(actor.pk), name=actor.display_name)


def describe_subject(subject) -> SubjectRef:
    if isinstance(subject, SubjectRef):
        return subject
    if isinstance(subject, models.Model):
        if subject.pk is None:
            raise AuditError("The subject of an audit entry must be saved before it is recorded.")
        return SubjectRef(type=subject._meta.label_lower, id=str(subject.pk), label=str(subject)[:300])
    raise AuditError(f"Cannot record a subject of type {type(subject).__name__}.")


def _lock_sequencer() -> None:
    """Serialises appends until the writing transaction ends, so indexes never fork or leave gaps."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEQUENCER_LOCK_KEY])
    # SQLite: the demo opens transactions with BEGIN IMMEDIATE, which already holds the database's
    # single write lock; the primary key on index would refuse a duplicate anyway.


def _next_index() -> int:
    last = AuditEntry.objects.order_by("-index").values_list("index", flat=True).first()
    return 0 if last is None else last + 1


def record(*, actor, action: Action | str, subject, data: dict[str, Any], request_id: str | None = None) -> AuditEntry:
    """Appends one entry to the log inside the caller's transaction and returns it.

    A rolled-back transaction takes its entry with it; because the index is taken under a lock that
    is held until the transaction ends, a rollback leaves no gap either.
    """
    if not connection.in_atomic_block:
        raise AuditError("record() must be called inside the service's transaction (transaction.atomic).")
    try:
        action = Action(action)
    except ValueError as exc:
        raise AuditError(f"Unknown audit action {action!r}; declare it in apps/audit/actions.py.") from exc
    actor_ref = describe_actor(actor)
    subject_ref = describe_subject(subject)
    try:
        data = normalise(data if data is not None else {})
    except EncodingError as exc:
        raise AuditError(f"The data of {action} cannot be recorded: {exc}") from exc
    request_id = request_id or current_request_id()

    with transaction.atomic():
        _lock_sequencer()
        index = _next_index()
        timestamp = timezone.now()
        encoded = encode_entry(
            index=index,
            timestamp=timestamp,
            actor=actor_ref,
            action=action.value,
            subject=subject_ref,
            data=data,
            request_id=request_id,
        )
        entry = AuditEntry(
            index=index,
            timestamp=timestamp,
            actor_type=actor_ref.type,
            actor_id=actor_ref.id,
            actor_name=actor_ref.name,
            action=action.value,
            subject_type=subject_ref.type,
            subject_id=subject_ref.id,
            subject_label=subject_ref.label,
            data=data,
            request_id=request_id,
            format_version=FORMAT_VERSION,
            encoded=encoded,
            leaf_hash=leaf_hash(encoded),
        )
        entry.save()
    return entry
