"""Reads of the audit log for auditors, the API and the evidence pack."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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


def entries_about(*, subject_type: str, subject_id: str, limit: int = 50) -> list[AuditEntry]:
    """The newest `limit` entries whose subject is (`subject_type`, `subject_id`), newest first."""
    return list(
        AuditEntry.objects.filter(subject_type=subject_type, subject_id=str(subject_id))
        .defer("encoded")
        .order_by("-index")[:limit]
    )


@dataclass(frozen=True)
class CheckpointCheck:
    """The latest checkpoint and what a page could check about it cheaply (see `latest_checkpoint_check`)."""

    checkpoint: Checkpoint | None
    log_size: int
    signature_valid: bool = False
    note_matches_row: bool = False
    root_matches_tree: bool = False
    problem: str = ""

    @property
    def passed(self) -> bool:
        return self.checkpoint is not None and self.signature_valid and self.note_matches_row and self.root_matches_tree

    @property
    def unsigned_entries(self) -> int:
        return self.log_size - (self.checkpoint.tree_size if self.checkpoint else 0)


def latest_checkpoint_check() -> CheckpointCheck:
    """Checks the latest checkpoint in three queries: its signed note verifies with the public key
    registered for it (as /api/v1/audit/keys publishes it), the note states the tree size and root hash
    stored with the checkpoint, and the Merkle tree stored in the database folds to that root.

    This is not `manage.py audit verify`, which also re-hashes every entry and checks every checkpoint.
    """
    from . import proofs
    from .verifier import VerificationError, open_note, parse_checkpoint, parse_vkey

    last_index = AuditEntry.objects.order_by("-index").values_list("index", flat=True).first()
    log_size = 0 if last_index is None else last_index + 1
    checkpoint = latest_checkpoint()
    if checkpoint is None:
        return CheckpointCheck(checkpoint=None, log_size=log_size, problem="No checkpoint has been signed yet.")
    try:
        text, _ = open_note(checkpoint.note, [parse_vkey(checkpoint.signing_key.vkey)])
    except VerificationError as exc:
        return CheckpointCheck(checkpoint=checkpoint, log_size=log_size,
                               problem=f"The signature does not verify: {exc.reason}")
    try:
        body = parse_checkpoint(text)
    except VerificationError as exc:
        return CheckpointCheck(checkpoint=checkpoint, log_size=log_size, signature_valid=True,
                               problem=f"The signed note is not a checkpoint: {exc.reason}")
    if body.tree_size != checkpoint.tree_size or body.root_hash != bytes(checkpoint.root_hash):
        return CheckpointCheck(checkpoint=checkpoint, log_size=log_size, signature_valid=True,
                               problem="The signed note states another tree size or root than the stored checkpoint.")
    try:
        stored_root = proofs.root_hash(tree_size=checkpoint.tree_size)
    except proofs.ProofError as exc:
        return CheckpointCheck(checkpoint=checkpoint, log_size=log_size, signature_valid=True,
                               note_matches_row=True, problem=str(exc))
    if stored_root != bytes(checkpoint.root_hash):
        return CheckpointCheck(checkpoint=checkpoint, log_size=log_size, signature_valid=True, note_matches_row=True,
                               problem="The stored Merkle tree does not fold to the checkpoint's root hash.")
    return CheckpointCheck(checkpoint=checkpoint, log_size=log_size, signature_valid=True, note_matches_row=True,
                           root_matches_tree=True)
