"""Reads of the audit log for auditors, the API and the evidence pack."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from .models import AuditEntry, Checkpoint, SigningKey


def latest_checkpoint() -> Checkpoint | None:
    """The checkpoint with the largest tree size, or None before the first one is signed."""
    return Checkpoint.objects.select_related("signing_key").order_by("-tree_size").first()


def checkpoint_covering(*, index: int) -> Checkpoint | None:
    """The smallest checkpoint whose tree contains entry `index` (tree_size > index), if any."""
    return (
        Checkpoint.objects.select_related("signing_key").filter(tree_size__gt=index).order_by("tree_size").first()
    )


def signing_keys() -> QuerySet[SigningKey]:
    """Every checkpoint signing key ever used (public halves only), oldest first, with validity windows."""
    return SigningKey.objects.order_by("valid_from", "id")


def entry_list(
    *,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    actor_type: str | None = None,
    actor_id: str | None = None,
    index_from: int | None = None,
    index_to: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Entries matching every given filter, in index order. Index bounds are inclusive; times are
    `since <= timestamp < until`."""
    entries = AuditEntry.objects.order_by("index")
    filters = {
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "index__gte": index_from,
        "index__lte": index_to,
        "timestamp__gte": since,
        "timestamp__lt": until,
    }
    return entries.filter(**{key: value for key, value in filters.items() if value is not None})


def checkpoint_list() -> QuerySet[Checkpoint]:
    """Every signed checkpoint with its key, oldest first."""
    return Checkpoint.objects.select_related("signing_key").order_by("tree_size")
