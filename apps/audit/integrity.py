"""Verification of the audit log as stored in the database (`manage.py audit verify`).

One pass over the entries in index order checks, for every entry: that no index is missing, that its
canonical bytes are well formed and say what the structured columns say, that its leaf hash is
SHA-256(0x00 || bytes), that the stored Merkle tree nodes completed by it equal the recomputed ones,
and, whenever the pass reaches the size of a checkpoint, that the checkpoint's signature verifies with
the key valid when it was signed, that its note states the recomputed root, and that it is consistent
with the previous checkpoint. Checkpoints an auditor kept outside the database can be checked too.
The first problem stops the pass; VerificationError.index names the first entry it concerns.

After the entries, every stored witness cosignature is verified again (c2sp.org/tlog-cosignature)
against the configured witness keys and the checkpoint it belongs to. A failure there names the
checkpoint's tree size, not an entry: the entries verified.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from . import proofs
from .encoding import FORMAT_VERSION, EncodingError, canonical_json, format_timestamp
from .models import AuditEntry, Checkpoint, Cosignature, SigningKey, TreeNode
from .verifier import (
    EMPTY_TREE_ROOT,
    TreeBuilder,
    UnknownCosignerError,
    VerificationError,
    VerifierKey,
    hash_children,
    hash_leaf,
    note_text,
    open_note,
    parse_checkpoint,
    parse_vkey,
    verify_consistency,
    verify_cosignature,
)

_ENTRY_COLUMNS = (
    "index", "timestamp", "actor_type", "actor_id", "actor_name", "action", "subject_type", "subject_id",
    "subject_label", "data", "request_id", "format_version", "encoded", "leaf_hash",
)


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    checkpoints: int
    latest_checkpoint_size: int | None
    root_hash: bytes
    tree_nodes: int
    cosignatures_verified: int = 0
    cosignatures_unchecked: int = 0  # by witnesses whose key is not configured


def _check_entry(row: dict, expected_index: int) -> bytes:
    """Checks one entry row against its canonical bytes; returns the bytes."""
    index = row["index"]
    if index != expected_index:
        raise VerificationError(f"entry {expected_index} is missing (the next stored entry is {index})", index=expected_index)
    encoded = bytes(row["encoded"])
    if row["format_version"] != FORMAT_VERSION:
        raise VerificationError(f"unknown encoding format version {row['format_version']}", index=index)
    try:
        decoded = json.loads(encoded.decode("utf-8"))
        canonical = canonical_json(decoded)
    except (UnicodeDecodeError, ValueError, EncodingError) as exc:
        raise VerificationError(f"the entry's bytes are not canonical JSON ({exc})", index=index) from None
    if canonical != encoded or not isinstance(decoded, dict):
        raise VerificationError("the entry's bytes are not in canonical form", index=index)
    if decoded.get("v") != FORMAT_VERSION:
        raise VerificationError("the entry's bytes carry another format version", index=index)
    if decoded.get("index") != index:
        raise VerificationError(f"the entry's bytes say it is entry {decoded.get('index')}", index=index)
    actor, subject = decoded.get("actor") or {}, decoded.get("subject") or {}
    expected_columns = {
        "timestamp": decoded.get("timestamp"),
        "actor_type": actor.get("type"),
        "actor_id": actor.get("id"),
        "actor_name": actor.get("name"),
        "action": decoded.get("action"),
        "subject_type": subject.get("type"),
        "subject_id": subject.get("id"),
        "subject_label": subject.get("label"),
        "data": decoded.get("data"),
        "request_id": decoded.get("request_id"),
    }
    stored_columns = dict(row)
    stored_columns["timestamp"] = format_timestamp(row["timestamp"])
    for column, value in expected_columns.items():
        if stored_columns[column] != value:
            raise VerificationError(f"column {column} does not match the entry's signed bytes", index=index)
    if bytes(row["leaf_hash"]) != hash_leaf(encoded):
        raise VerificationError("the stored leaf hash is not SHA-256(0x00 || entry bytes)", index=index)
    return encoded


def _check_checkpoint_signature(checkpoint: Checkpoint, first_new_index: int, pinned_keys) -> None:
    """The note must verify with its registered key, and with one of the pinned keys when given."""
    key: SigningKey = checkpoint.signing_key
    where = f"checkpoint of {checkpoint.tree_size} entries"
    try:
        text, _ = open_note(checkpoint.note, [parse_vkey(key.vkey)])
        if pinned_keys is not None:
            open_note(checkpoint.note, pinned_keys)
        body = parse_checkpoint(text)
    except VerificationError as exc:
        raise VerificationError(f"{where}: {exc.reason} (key {key.key_id})", index=first_new_index) from None
    if body.tree_size != checkpoint.tree_size or body.root_hash != bytes(checkpoint.root_hash):
        raise VerificationError(f"{where}: the signed note states another size or root", index=first_new_index)
    if not key.is_valid_at(checkpoint.created_at):
        raise VerificationError(f"{where}: signed at a time its key {key.key_id} was not valid", index=first_new_index)


def _stored_nodes():
    """Stored tree nodes in the order the recomputation produces them: by last leaf, then level."""
    return (
        TreeNode.objects.annotate(last_leaf=(F("index") + 1).bitleftshift(F("level")) - 1)
        .order_by("last_leaf", "level")
        .values_list("level", "index", "hash")
        .iterator(chunk_size=5000)
    )


def verify_log(
    *,
    trusted_checkpoints: Sequence[str] = (),
    trusted_keys: Sequence[VerifierKey] | None = None,
    witness_keys: Sequence[VerifierKey] = (),
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verifies the whole log; raises VerificationError at the first problem, else returns a summary.

    `trusted_checkpoints` are signed notes an auditor kept earlier; they must verify with
    `trusted_keys` (default: the keys in the database) and describe a prefix of this log. When
    `trusted_keys` are given, every checkpoint in the database must also verify with one of them, which
    catches a signing key planted in the database.

    `witness_keys` (normally `signing.load_witness_keys()`) verify every stored cosignature; those by a
    witness without a configured key are counted as unchecked.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # One snapshot for the whole pass, so concurrent appends and checkpoints cannot skew it.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        report = _verify_log(trusted_checkpoints, trusted_keys, progress)
        verified, unchecked = _verify_cosignatures(witness_keys)
    return replace(report, cosignatures_verified=verified, cosignatures_unchecked=unchecked)


def _verify_log(trusted_checkpoints, trusted_keys, progress) -> VerifyReport:
    # Both server-side cursors are closed before an error ends the transaction.
    rows = AuditEntry.objects.order_by("index").values(*_ENTRY_COLUMNS).iterator(chunk_size=2000)
    nodes = _stored_nodes()
    with closing(rows), closing(nodes):
        return _verify_streams(rows, nodes, trusted_checkpoints, trusted_keys, progress)


def _verify_cosignatures(witness_keys: Sequence[VerifierKey]) -> tuple[int, int]:
    """Verifies every stored cosignature over its checkpoint's note text; returns (verified, unchecked).

    Docket stores only cosignatures that verified against a configured witness key, so a stored line
    that is malformed, names another witness than its row, or fails to verify is a finding. A line by
    a witness whose key is no longer configured cannot be checked and is counted instead.
    """
    verified = unchecked = 0
    rows = (
        Cosignature.objects.select_related("checkpoint").order_by("checkpoint__tree_size", "id").iterator(chunk_size=500)
    )
    with closing(rows):
        for row in rows:
            if _stored_cosignature_verifies(row, witness_keys):
                verified += 1
            else:
                unchecked += 1
    return verified, unchecked


def _stored_cosignature_verifies(row: Cosignature, witness_keys: Sequence[VerifierKey]) -> bool:
    """True when the row's cosignature verifies, False when its witness has no configured key."""
    where = f"checkpoint of {row.checkpoint.tree_size} entries: the cosignature stored from {row.witness_url}"
    try:
        cosignature = verify_cosignature(row.signature_line, note_text(row.checkpoint.note), witness_keys)
    except UnknownCosignerError:
        return False
    except VerificationError as exc:
        raise VerificationError(f"{where} does not verify: {exc.reason}") from None
    if cosignature.witness.name != row.key_name:
        raise VerificationError(f"{where} is signed by {cosignature.witness.name}, but its row says {row.key_name}")
    return True


def _verify_streams(rows, nodes, trusted_checkpoints, trusted_keys, progress) -> VerifyReport:
    checkpoints = {cp.tree_size: cp for cp in Checkpoint.objects.select_related("signing_key")}
    keys = trusted_keys if trusted_keys is not None else [parse_vkey(k.vkey) for k in SigningKey.objects.all()]
    trusted = []
    for note in trusted_checkpoints:
        try:
            text, _ = open_note(note, keys)
            trusted.append(parse_checkpoint(text))
        except VerificationError as exc:
            raise VerificationError(f"a trusted checkpoint does not verify: {exc.reason}") from None
    trusted_roots = {body.tree_size: body.root_hash for body in trusted}
    integrated_size = max(checkpoints, default=0)
    capture_sizes = set(checkpoints) | set(trusted_roots)
    roots: dict[int, bytes] = {0: EMPTY_TREE_ROOT}

    builder = TreeBuilder()
    stack: list[tuple[int, int, bytes]] = []
    node_count = 0
    previous_checkpoint_size = 0

    last_trusted_match = 0

    def check_checkpoint_at(size: int) -> None:
        nonlocal previous_checkpoint_size, last_trusted_match
        checkpoint = checkpoints.get(size)
        if checkpoint is not None:
            _check_checkpoint_signature(checkpoint, previous_checkpoint_size, trusted_keys)
            if roots[size] != bytes(checkpoint.root_hash):
                raise VerificationError(
                    f"checkpoint of {size} entries: its root is not the root of entries 0–{size - 1}",
                    index=previous_checkpoint_size,
                )
            if previous_checkpoint_size:
                try:
                    verify_consistency(
                        old_size=previous_checkpoint_size, new_size=size, old_root=roots[previous_checkpoint_size],
                        new_root=roots[size],
                        proof=proofs.consistency_proof(old_size=previous_checkpoint_size, new_size=size),
                    )
                except (VerificationError, proofs.ProofError) as exc:
                    raise VerificationError(
                        f"checkpoint of {size} entries is not consistent with checkpoint of "
                        f"{previous_checkpoint_size}: {exc}", index=previous_checkpoint_size,
                    ) from None
            previous_checkpoint_size = size
        if size in trusted_roots:
            if roots[size] != trusted_roots[size]:
                raise VerificationError(
                    f"a trusted checkpoint of {size} entries has another root: the log's history from entry "
                    f"{last_trusted_match} on was rewritten",
                    index=last_trusted_match,
                )
            last_trusted_match = size

    if 0 in capture_sizes:
        check_checkpoint_at(0)
    expected = 0
    for row in rows:
        encoded = _check_entry(row, expected)
        leaf = hash_leaf(encoded)
        builder.append(leaf)
        if expected < integrated_size:
            produced = [(0, expected, leaf)]
            level, node_index, node_hash = 0, expected, leaf
            while stack and stack[-1][0] == level:
                _, _, left = stack.pop()
                level, node_index = level + 1, node_index >> 1
                node_hash = hash_children(left, node_hash)
                produced.append((level, node_index, node_hash))
            stack.append((level, node_index, node_hash))
            for level, node_index, node_hash in produced:
                stored = next(nodes, None)
                node_count += 1
                first = node_index << level
                if stored is None or (stored[0], stored[1]) != (level, node_index):
                    raise VerificationError(
                        f"the stored Merkle tree lacks node {level}/{node_index} (entries {first}–{expected})",
                        index=first,
                    )
                if bytes(stored[2]) != node_hash:
                    raise VerificationError(
                        f"stored Merkle tree node {level}/{node_index} (entries {first}–{expected}) does not match the entries",
                        index=first,
                    )
        expected += 1
        if expected in capture_sizes:
            roots[expected] = builder.root()
            check_checkpoint_at(expected)
        if progress is not None and expected % 100000 == 0:
            progress(expected)
    beyond = [size for size in sorted(capture_sizes) if size > expected]
    if beyond:
        what = "a checkpoint" if beyond[-1] in checkpoints else "a trusted checkpoint"
        raise VerificationError(
            f"{what} covers {beyond[-1]} entries but the log holds only {expected}: entries were removed", index=expected
        )
    extra = next(nodes, None)
    if extra is not None:
        level, node_index, _ = extra
        raise VerificationError(
            f"the stored Merkle tree has node {level}/{node_index}, beyond the checkpointed log", index=node_index << level
        )
    bound = max(1, settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED)
    if expected - integrated_size > bound:
        raise VerificationError(
            f"{expected - integrated_size} entries follow the latest checkpoint, more than "
            f"DOCKET_AUDIT_MAX_UNCHECKPOINTED={bound} allows: a checkpoint was removed",
            index=integrated_size + bound,
        )
    return VerifyReport(
        entries=expected,
        checkpoints=len(checkpoints),
        latest_checkpoint_size=max(checkpoints) if checkpoints else None,
        root_hash=builder.root(),
        tree_nodes=node_count,
    )
