"""Building audit logs for tests through the one writer."""

from django.db import transaction

from apps.audit.actions import Action
from apps.audit.encoding import SubjectRef
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM, record


def append_entries(count: int, *, start_label: int = 0, sequenced: bool = False) -> list[bytes]:
    """Records `count` entries in one transaction (queued for commit-time sequencing unless `sequenced`);
    returns every leaf hash of the log, in order."""
    with transaction.atomic():
        for n in range(start_label, start_label + count):
            record(
                actor=SYSTEM, action=Action.ACCOUNTS_USER_CREATED,
                subject=SubjectRef(type="accounts.user", id=str(n), label=f"user {n}"), data={"n": n},
                sequenced=sequenced,
            )
    return [bytes(h) for h in AuditEntry.objects.order_by("index").values_list("leaf_hash", flat=True)]
