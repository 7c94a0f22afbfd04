"""The audit log's writers. `record` is the only code that creates log entries; this module is also the
only one that writes the Merkle tree, checkpoints, signing keys and cosignatures."""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from contextlib import closing
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone
from psycopg.pq import TransactionStatus

from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.common.request_context import current_request_id

from . import proofs, signing
from .actions import Action
from .encoding import (
    FORMAT_VERSION,
    ActorRef,
    EncodingError,
    SubjectRef,
    encode_entry,
    encode_entry_parts,
    leaf_hash,
    normalise,
)
from .models import AuditEntry, Checkpoint, Cosignature, SigningKey, TreeNode
from .verifier import (
    SIGNATURE_LINE_PREFIX,
    UnknownCosignerError,
    VerificationError,
    VerifiedCosignature,
    format_checkpoint,
    hash_children,
    hash_leaf,
    note_text,
    open_note,
    parse_vkey,
    verify_consistency,
    verify_cosignature,
)

logger = logging.getLogger(__name__)


class AuditError(Exception):
    """The entry could not be recorded; the caller's transaction must not commit without it."""


class _SystemActor:
    """Docket itself, for scheduled work that no person or service account started."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = _SystemActor()

# Any 64-bit constants work. The sequencer lock orders appends to the log and is held by the writing
# transaction until it ends; the checkpoint lock orders integration of the tree and checkpoint signing.
_SEQUENCER_LOCK_KEY = 0x646F636B6574_01  # "docket" + 1
_CHECKPOINT_LOCK_KEY = 0x646F636B6574_02  # "docket" + 2


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


def _advisory_xact_lock(key: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
    # SQLite: the demo opens transactions with BEGIN IMMEDIATE, which already holds the database's
    # single write lock; the primary keys on index and tree_size would refuse a duplicate anyway.


def _lock_sequencer_and_read_state() -> tuple[int, int]:
    """SQLite (the embedded demo): returns (next index, size of the latest checkpoint). The demo opens
    transactions with BEGIN IMMEDIATE, which holds the database's single write lock until commit, so
    committed entries form a gap-free prefix of the log. PostgreSQL uses `_append_postgresql`."""
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT (SELECT MAX("index") FROM audit_auditentry), (SELECT MAX(tree_size) FROM audit_checkpoint)'
        )
        last_index, covered = cursor.fetchone()
    return (0 if last_index is None else last_index + 1), (covered or 0)


def record(*, actor, action: Action | str, subject, data: dict[str, Any], request_id: str | None = None,
           sequenced: bool = False) -> AuditEntry:
    """Appends one entry to the log inside the caller's transaction and returns it.

    A rolled-back transaction takes its entry with it and leaves no gap: indexes are assigned under
    the sequencer lock, which is held until the transaction ends.

    On PostgreSQL the entry is queued and sequenced when the transaction commits (migration 0005): a
    deferred trigger takes the lock, assigns the next index and timestamp, hashes and stores the entry
    right before the commit record, so the lock is never held across a round trip to the client. The
    returned entry then has `index`, `timestamp`, `encoded` and `leaf_hash` None. A caller that needs
    them inside the transaction (to store the index, or sign it) passes `sequenced=True`: the
    transaction's queued entries and this one are appended at once, and the lock is held from then
    until the transaction ends — call it as late as possible. Reading the log inside the transaction
    sequences its queued entries first (`sequence_queued_entries`), so a transaction always sees its
    own entries. SQLite (the demo) always sequences at once.

    Checkpoint window: the log never holds more than `DOCKET_AUDIT_MAX_UNCHECKPOINTED` entries without
    a signed checkpoint. Once half of it is uncovered, the writer signs a checkpoint right after its
    commit (queued entries) or queues the checkpoint task (sequenced entries, which sign inline when
    the window is full); a commit that would overfill the window is refused, so the bound holds even
    when no worker runs and signing fails.
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

    if connection.vendor == "postgresql" and not sequenced:
        _queue_postgresql(actor_ref=actor_ref, action=action.value, subject_ref=subject_ref, data=data,
                          request_id=request_id)
        return _entry(actor_ref=actor_ref, action=action.value, subject_ref=subject_ref, data=data,
                      request_id=request_id)

    # savepoint=False: a failed append must abort the caller's whole transaction anyway, and a
    # savepoint would cost two more round trips while the sequencer lock is held.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            sequence_queued_entries()
            entry, covered = _append_postgresql(actor_ref=actor_ref, action=action.value, subject_ref=subject_ref,
                                                data=data, request_id=request_id)
            index = entry.index
        else:
            index, covered = _lock_sequencer_and_read_state()
        bound = max(1, settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED)
        uncovered_after = index + 1 - covered
        if uncovered_after > bound:
            # Signs the committed log before this entry (tree size `index`), under the sequencer lock.
            _sign_checkpoint_locked(tree_size=index)
        elif uncovered_after % max(1, bound // 2) == 0:
            transaction.on_commit(_queue_checkpoint_task, robust=True)
        if connection.vendor != "postgresql":
            timestamp = timezone.now()
            encoded = encode_entry(index=index, timestamp=timestamp, actor=actor_ref, action=action.value,
                                   subject=subject_ref, data=data, request_id=request_id)
            entry = _entry(actor_ref=actor_ref, action=action.value, subject_ref=subject_ref, data=data,
                           request_id=request_id, index=index, timestamp=timestamp, encoded=encoded,
                           leaf_hash=leaf_hash(encoded))
            entry.save()
    return entry


def _entry(*, actor_ref, action: str, subject_ref, data, request_id, index=None, timestamp=None, encoded=None,
           leaf_hash=None) -> AuditEntry:
    """The AuditEntry of these parts; index, timestamp, encoding and leaf hash stay None until sequenced."""
    return AuditEntry(
        index=index, timestamp=timestamp, actor_type=actor_ref.type, actor_id=actor_ref.id, actor_name=actor_ref.name,
        action=action, subject_type=subject_ref.type, subject_id=subject_ref.id, subject_label=subject_ref.label,
        data=data, request_id=request_id, format_version=FORMAT_VERSION, encoded=encoded, leaf_hash=leaf_hash,
    )


def _entry_arguments(*, actor_ref, action: str, subject_ref, data, request_id) -> list:
    """What both the queue's INSERT and docket_audit_append take, in their order: the canonical encoding
    around index and timestamp (head, middle, tail), then the columns to store."""
    head, middle, tail = encode_entry_parts(actor=actor_ref, action=action, subject=subject_ref, data=data,
                                            request_id=request_id)
    return [head, middle, tail, actor_ref.type, actor_ref.id, actor_ref.name, action, subject_ref.type,
            subject_ref.id, subject_ref.label, json.dumps(data, ensure_ascii=False, allow_nan=False), request_id,
            FORMAT_VERSION]


_QUEUE_SQL = (
    "INSERT INTO audit_queuedentry (head, middle, tail, actor_type, actor_id, actor_name, action, subject_type, "
    "subject_id, subject_label, data, request_id, format_version, max_uncovered) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "RETURNING docket_audit_uncovered(), txid_current()"
)


def _queue_postgresql(*, actor_ref, action: str, subject_ref, data, request_id) -> None:
    """Queues the entry for sequencing at commit: one INSERT, no lock, which also reads how much of the
    log no checkpoint covers yet and the transaction's id. Once the log's uncovered entries and those
    this transaction queued reach half the window, a checkpoint is signed after the commit; at three
    quarters (signing after commits has fallen behind, or a transaction records that many itself) the
    transaction sequences its entries and signs one at once, under the sequencer lock."""
    bound = max(1, settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED)
    arguments = _entry_arguments(actor_ref=actor_ref, action=action, subject_ref=subject_ref, data=data,
                                 request_id=request_id)
    with connection.cursor() as cursor:
        cursor.execute(_QUEUE_SQL, [*arguments, bound])
        uncovered, transaction_id = cursor.fetchone()
    if getattr(connection, "docket_audit_transaction", None) != transaction_id:
        connection.docket_audit_transaction, connection.docket_audit_queued_count = transaction_id, 0
    connection.docket_audit_queued_count += 1
    connection.docket_audit_queued = True
    uncovered += connection.docket_audit_queued_count
    if uncovered >= max(1, bound * 3 // 4):
        _sign_before_appending_queued_entries(uncovered=uncovered, bound=bound)
        return
    if uncovered < max(1, bound // 2):
        return
    # Once per transaction: skip when this transaction (or the savepoint we are in) already has it.
    # Django drops the callbacks of rolled-back transactions and savepoints.
    current = set(connection.savepoint_ids)
    if not any(callback is _sign_checkpoint_after_commit and savepoints <= current
               for savepoints, callback, _ in connection.run_on_commit):
        transaction.on_commit(_sign_checkpoint_after_commit, robust=True)


def _sign_before_appending_queued_entries(*, uncovered: int, bound: int) -> None:
    """Signing after commits has not kept up (it competes with the writers for CPU, or fails), or this
    transaction queues many entries itself. Take the sequencer lock, so no other writer appends
    meanwhile; sign a checkpoint of the log as it stands if that alone is half uncovered; append this
    transaction's queued entries; sign again if they fill three quarters of the window. A failure to
    sign is logged, not raised: the trigger still refuses any entry that would overfill the window."""
    _advisory_xact_lock(_SEQUENCER_LOCK_KEY)
    queued_here = connection.docket_audit_queued_count
    if uncovered - queued_here >= max(1, bound // 2):
        connection.docket_audit_queued = False  # reading the log to sign it must not append ours first
        try:
            _try_signing_inside_the_transaction(uncovered=uncovered - queued_here, bound=bound)
        finally:
            connection.docket_audit_queued = True
        uncovered = queued_here
    sequence_queued_entries()
    if uncovered >= max(1, bound * 3 // 4):
        _try_signing_inside_the_transaction(uncovered=uncovered, bound=bound)


def _try_signing_inside_the_transaction(*, uncovered: int, bound: int) -> None:
    try:
        with transaction.atomic():
            _sign_checkpoint_locked()
    except AuditError:
        logger.exception("%s audit entries are not covered by a signed checkpoint and signing one failed; "
                         "commits will be refused beyond DOCKET_AUDIT_MAX_UNCHECKPOINTED=%s.", uncovered, bound)


def sequence_queued_entries(using=None) -> None:
    """Appends the current transaction's queued entries to the log now (PostgreSQL), in the order they
    were recorded. From then on the transaction holds the sequencer lock until it ends. A no-op when
    nothing is queued; runs by itself before any statement that reads `audit_auditentry`
    (`sequence_before_reading_the_log`)."""
    database = connections[using or DEFAULT_DB_ALIAS]
    if not getattr(database, "docket_audit_queued", False):
        return
    database.docket_audit_queued, database.docket_audit_queued_count = False, 0
    # Nothing can be queued outside a transaction, or before the server has one open (the flag is
    # then left over from a transaction that has ended).
    if (database.vendor == "postgresql" and database.in_atomic_block
            and database.connection.info.transaction_status != TransactionStatus.IDLE):
        with database.cursor() as cursor:
            cursor.execute("SELECT docket_audit_sequence_now()")


def sequence_before_reading_the_log(execute, sql, params, many, context):
    """A database execute wrapper (installed on every PostgreSQL connection by AuditConfig.ready): a
    statement that reads the log sees the entries its own transaction queued."""
    database = context["connection"]
    if getattr(database, "docket_audit_queued", False) and "audit_auditentry" in sql:
        sequence_queued_entries(database.alias)
    return execute(sql, params, many, context)


def _sign_checkpoint_after_commit() -> None:
    """After a commit that left half the window uncovered: sign a checkpoint of every committed entry,
    unless another writer is signing one right now (the checkpoint lock is only tried, never waited
    for) or already has (the window is checked again under the lock)."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s), docket_audit_uncovered()", [_CHECKPOINT_LOCK_KEY])
                locked, uncovered = cursor.fetchone()
            if locked and uncovered >= max(1, settings.DOCKET_AUDIT_MAX_UNCHECKPOINTED // 2):
                _sign_checkpoint_locked()
    except AuditError:
        logger.exception("Half the audit log's checkpoint window is uncovered and signing a checkpoint failed; "
                         "commits will be refused once DOCKET_AUDIT_MAX_UNCHECKPOINTED entries are uncovered.")


def _append_postgresql(*, actor_ref, action: str, subject_ref, data, request_id) -> tuple[AuditEntry, int]:
    """Appends the entry with docket_audit_append (migration 0004): lock, index, timestamp, encoding,
    leaf hash and INSERT in one round trip, the encoding around index and timestamp prepared here
    before the lock is taken. Returns the entry and the size of the latest checkpoint."""
    arguments = _entry_arguments(actor_ref=actor_ref, action=action, subject_ref=subject_ref, data=data,
                                 request_id=request_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT entry_index, entry_timestamp, covered, entry_encoded, entry_leaf_hash FROM docket_audit_append("
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::smallint)",
            [_SEQUENCER_LOCK_KEY, *arguments],
        )
        index, timestamp, covered, encoded, leaf = cursor.fetchone()
    entry = _entry(actor_ref=actor_ref, action=action, subject_ref=subject_ref, data=data, request_id=request_id,
                   index=index, timestamp=timestamp, encoded=bytes(encoded), leaf_hash=bytes(leaf))
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry, covered


def _queue_checkpoint_task() -> None:
    from .tasks import checkpoint_sign_task

    checkpoint_sign_task.delay()


# --- Merkle tree integration and checkpoints ---------------------------------------------------


def _compact_range_positions(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees that make up leaves [0, size), largest (leftmost) first."""
    return proofs.perfect_subtrees(0, size)


def _integrate(*, old_size: int, new_size: int) -> None:
    """Stores the tree nodes completed by entries [old_size, new_size) (the tree must hold [0, old_size)).

    Recomputes each leaf hash from the entry's canonical bytes and refuses to go on if an entry is
    missing or its stored hash does not match: Docket never signs over a damaged log.
    """
    frontier_positions = _compact_range_positions(old_size)
    stored = proofs.fetch_nodes(frontier_positions)
    missing = [position for position in frontier_positions if position not in stored]
    if missing:
        level, index = missing[0]
        raise AuditError(f"The Merkle tree lacks node {level}/{index}; run `manage.py audit verify`.")
    stack = [(level, index, stored[(level, index)]) for level, index in frontier_positions]
    pending: list[tuple[int, int, bytes]] = []
    expected = old_size
    rows = (
        AuditEntry.objects.filter(index__gte=old_size, index__lt=new_size)
        .order_by("index")
        .values_list("index", "encoded", "leaf_hash")
        .iterator(chunk_size=2000)
    )
    # closing(): the server-side cursor must be closed before an error rolls the savepoint back.
    with closing(rows):
        expected = _integrate_rows(rows, stack, expected, pending)
    if expected != new_size:
        raise AuditError(f"Entry {expected} is missing from the log; refusing to sign a checkpoint.")
    if pending:
        TreeNode.objects.append_integrated(pending)


def _integrate_rows(rows, stack: list, expected: int, pending: list) -> int:
    for index, encoded, stored_leaf_hash in rows:
        if index != expected:
            raise AuditError(f"Entry {expected} is missing from the log; refusing to sign a checkpoint.")
        node_hash = hash_leaf(bytes(encoded))
        if node_hash != bytes(stored_leaf_hash):
            raise AuditError(f"Entry {index}: its leaf hash does not match its bytes; refusing to sign a checkpoint.")
        level, node_index = 0, index
        pending.append((0, index, node_hash))
        while stack and stack[-1][0] == level:
            _, _, left = stack.pop()
            level, node_index = level + 1, node_index >> 1
            node_hash = hash_children(left, node_hash)
            pending.append((level, node_index, node_hash))
        stack.append((level, node_index, node_hash))
        expected += 1
        if len(pending) >= 10000:
            TreeNode.objects.append_integrated(pending)
            pending.clear()
    return expected


def _current_signing_key(signer: signing.Signer) -> SigningKey:
    """The SigningKey row of the configured signer; registers the very first key of a log."""
    key_row = SigningKey.objects.filter(key_id=signer.key_id.hex()).first()
    if key_row is None:
        current = SigningKey.objects.filter(valid_until__isnull=True).first()
        if current is not None:
            raise AuditError(
                f"The configured signing key {signer.key_id.hex()} is not the log's current key {current.key_id}; "
                "change keys only with `manage.py audit rotate-key`."
            )
        key_row = SigningKey(
            name=signer.name,
            key_id=signer.key_id.hex(),
            public_key=signer.public_key,
            vkey=signer.vkey,
            valid_from=timezone.now(),
        )
        key_row.save()
    elif key_row.valid_until is not None:
        raise AuditError(f"The configured signing key {key_row.key_id} was retired at {key_row.valid_until:%Y-%m-%d %H:%M:%S}Z.")
    if bytes(key_row.public_key) != signer.public_key or key_row.name != signer.name:
        raise AuditError(f"The configured signing key does not match the registered key {key_row.key_id}.")
    return key_row


def _sign_checkpoint_locked(*, tree_size: int | None = None) -> Checkpoint:
    """Integrates the tree up to `tree_size` (default: every committed entry) and signs a checkpoint.

    Runs under the checkpoint lock, so checkpoints are signed one at a time, each extending the last.
    Before signing, the previous checkpoint's root is recomputed from the stored tree and the
    consistency proof from it to the new tree is checked: Docket never signs two inconsistent
    checkpoints. Returns the latest checkpoint unchanged when the tree has not grown.
    """
    _advisory_xact_lock(_CHECKPOINT_LOCK_KEY)
    latest = Checkpoint.objects.order_by("-tree_size").first()
    if tree_size is None:
        last_index = AuditEntry.objects.order_by("-index").values_list("index", flat=True).first()
        tree_size = 0 if last_index is None else last_index + 1
    old_size = latest.tree_size if latest else 0
    if latest is not None and tree_size <= old_size:
        return latest
    try:
        signer = signing.load_signer()
    except signing.SigningKeyError as exc:
        raise AuditError(str(exc)) from exc
    key_row = _current_signing_key(signer)
    _integrate(old_size=old_size, new_size=tree_size)
    new_root = proofs.root_hash(tree_size=tree_size)
    if latest is not None and old_size > 0:
        try:
            if proofs.root_hash(tree_size=old_size) != bytes(latest.root_hash):
                raise VerificationError(f"the stored tree no longer has the root of checkpoint {old_size}")
            verify_consistency(
                old_size=old_size,
                new_size=tree_size,
                old_root=bytes(latest.root_hash),
                new_root=new_root,
                proof=proofs.consistency_proof(old_size=old_size, new_size=tree_size),
            )
        except (VerificationError, proofs.ProofError) as exc:
            raise AuditError(f"Refusing to sign a checkpoint of {tree_size} entries: {exc}") from exc
    note = signing.sign_note(format_checkpoint(settings.DOCKET_AUDIT_ORIGIN, tree_size, new_root), signer)
    checkpoint = Checkpoint(
        tree_size=tree_size, root_hash=new_root, note=note, signing_key=key_row, created_at=timezone.now()
    )
    checkpoint.save()
    for url in settings.DOCKET_AUDIT_WITNESS_URLS:
        transaction.on_commit(lambda url=url: _queue_witness_task(tree_size, url), robust=True)
    return checkpoint


def _require_admin_or_system(actor, what: str) -> None:
    if actor is SYSTEM:
        return
    if actor is None or not getattr(actor, "has_role", None) or not actor.has_role("admin"):
        raise PermissionDenied(f"Only administrators may {what}.")


def checkpoint_sign(*, actor=SYSTEM) -> Checkpoint:
    """Signs a checkpoint of every committed entry if the log grew since the latest one, else returns it.

    Checkpoints are not themselves log entries: an entry per checkpoint would leave the log never
    fully covered. Called on a schedule, on demand (API, `manage.py audit checkpoint`), when a proof
    is requested for an uncovered entry, and by `record` when the uncovered window is full.
    """
    _require_admin_or_system(actor, "sign checkpoints")
    with transaction.atomic():
        return _sign_checkpoint_locked()


def checkpoint_covering(*, index: int, tree_size: int | None = None, actor=SYSTEM) -> Checkpoint:
    """The checkpoint a proof for entry `index` should use: `tree_size`'s if given, else the latest,
    signing a new one first when the latest does not yet cover the entry."""
    if tree_size is not None:
        checkpoint = Checkpoint.objects.filter(tree_size=tree_size).first()
        if checkpoint is None:
            raise ValidationFailed(f"There is no checkpoint of {tree_size} entries.", field_errors={"tree_size": ["No such checkpoint."]})
        if index >= tree_size:
            raise ValidationFailed(f"Entry {index} is not covered by the checkpoint of {tree_size} entries.")
        return checkpoint
    latest = Checkpoint.objects.order_by("-tree_size").first()
    if latest is not None and latest.tree_size > index:
        return latest
    with transaction.atomic():
        return _sign_checkpoint_locked()


# --- Keys ----------------------------------------------------------------------------------------


def signing_key_rotate(*, actor, new_signer: signing.Signer) -> SigningKey:
    """Makes `new_signer` the current checkpoint key and retires the configured one.

    First signs a checkpoint of everything committed with the old key, so that every entry before the
    rotation is covered by the old key; then ends the old key's validity, registers the new one and
    records `audit.signing_key.rotated`. Old checkpoints stay verifiable with the old public key.
    The caller installs the new private key as the configured one after this commits.
    """
    _require_admin_or_system(actor, "rotate the audit signing key")
    if SigningKey.objects.filter(key_id=new_signer.key_id.hex()).exists():
        raise Conflict(f"The key {new_signer.key_id.hex()} is already registered; generate a new one.")
    with transaction.atomic():
        # Same lock order as record() (sequencer, then checkpoint), which this transaction also calls.
        _advisory_xact_lock(_SEQUENCER_LOCK_KEY)
        _sign_checkpoint_locked()
        old_signer = signing.load_signer()
        old_row = _current_signing_key(old_signer)
        now = timezone.now()
        SigningKey.objects.end_validity(key_id=old_row.key_id, when=now)
        new_row = SigningKey(
            name=new_signer.name,
            key_id=new_signer.key_id.hex(),
            public_key=new_signer.public_key,
            vkey=new_signer.vkey,
            valid_from=now,
        )
        new_row.save()
        record(
            actor=actor,
            action=Action.AUDIT_SIGNING_KEY_ROTATED,
            subject=new_row,
            data={
                "old_key": {"vkey": old_row.vkey, "valid_from": old_row.valid_from, "valid_until": now},
                "new_key": {"vkey": new_row.vkey, "valid_from": now},
            },
        )
    return new_row


# --- Witnesses (C2SP tlog-witness) --------------------------------------------------------------


def _queue_witness_task(tree_size: int, url: str) -> None:
    from .tasks import checkpoint_witness_task

    checkpoint_witness_task.delay(tree_size, url)


class WitnessError(Exception):
    """A witness refused or failed to cosign a checkpoint, or answered cosignatures that do not verify."""


_MAX_WITNESS_ANSWER_BYTES = 64 * 1024  # a few signature lines; anything much longer is not an answer


def _post_add_checkpoint(url: str, body: str, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(
        url.rstrip("/") + "/add-checkpoint", data=body.encode("utf-8"), method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read(_MAX_WITNESS_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(_MAX_WITNESS_ANSWER_BYTES).decode("utf-8", "replace")
    if len(payload) > _MAX_WITNESS_ANSWER_BYTES:
        raise WitnessError(f"{url} answered more than {_MAX_WITNESS_ANSWER_BYTES} bytes; that is not a cosignature.")
    try:
        return status, payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WitnessError(f"{url} answered something that is not UTF-8 text.") from exc


def _trusted_witness_keys():
    """The configured witness keys. A missing or unparseable setting is ImproperlyConfigured, not a
    WitnessError: retrying cannot mend it, so checkpoint_witness_task does not retry it."""
    try:
        keys = signing.load_witness_keys()
    except signing.SigningKeyError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    if not keys:
        raise ImproperlyConfigured(
            "DOCKET_AUDIT_WITNESS_KEYS names no witness key, so no cosignature could be verified; "
            "Docket stores only cosignatures that verify."
        )
    return keys


def _verify_witness_answer(*, answer: str, checkpoint: Checkpoint, witness_url: str,
                           witness_keys) -> list[tuple[str, VerifiedCosignature]]:
    """The cosignature lines of a witness's 200 answer that verify against a trusted witness key.

    Lines from keys Docket does not trust are left out (c2sp.org/tlog-witness: clients MUST ignore
    them). A malformed line, or a line from a trusted key that does not verify, fails the whole
    answer, as does an answer without any cosignature from a trusted key.
    """
    lines = [line for line in answer.split("\n") if line]
    if not lines or not all(line.startswith(SIGNATURE_LINE_PREFIX) for line in lines):
        raise WitnessError(f"{witness_url} answered with something other than note signature lines.")
    text = note_text(checkpoint.note)
    verified, ignored = [], []
    for line in lines:
        try:
            verified.append((line, verify_cosignature(line, text, witness_keys)))
        except UnknownCosignerError as exc:
            ignored.append(exc.reason)
        except VerificationError as exc:
            raise WitnessError(
                f"{witness_url} answered a cosignature of the checkpoint of {checkpoint.tree_size} entries that "
                f"does not verify ({exc.reason}); nothing was stored."
            ) from exc
    for reason in ignored:
        logger.info("Ignoring a line from %s: %s.", witness_url, reason)
    if not verified:
        raise WitnessError(
            f"{witness_url} answered no cosignature from a witness key in DOCKET_AUDIT_WITNESS_KEYS "
            f"({'; '.join(ignored)}); nothing was stored."
        )
    return verified


def _stored_cosigner(line: str) -> tuple[str, bytes] | None:
    """(key name, key ID) of a stored cosignature line, or None when it cannot be read."""
    name, _, encoded = line[len(SIGNATURE_LINE_PREFIX):].partition(" ")
    try:
        return name, base64.b64decode(encoded, validate=True)[:4]
    except ValueError:
        return None


def checkpoint_witness(*, tree_size: int, witness_url: str, timeout: float = 10.0) -> list[Cosignature]:
    """Submits the checkpoint of `tree_size` entries to a tlog-witness and stores its cosignatures.

    The old size is the largest checkpoint this witness cosigned before (0 if none); when the witness
    answers 409 with its own size, the request is repeated once from that size.

    Only cosignatures that verify (c2sp.org/tlog-cosignature, cosignature/v1) against a witness key in
    `DOCKET_AUDIT_WITNESS_KEYS` are stored; lines from other keys are ignored. If a line is malformed
    or a trusted witness's line does not verify, or no line comes from a trusted key, WitnessError is
    raised and nothing is stored. A witness key that already cosigned this checkpoint is not stored
    again, so running this twice stores each witness's cosignature once.
    """
    checkpoint = Checkpoint.objects.filter(tree_size=tree_size).first()
    if checkpoint is None:
        raise ValidationFailed(f"There is no checkpoint of {tree_size} entries.")
    witness_keys = _trusted_witness_keys()
    old_size = (
        Cosignature.objects.filter(witness_url=witness_url, checkpoint__tree_size__lte=tree_size)
        .order_by("-checkpoint__tree_size").values_list("checkpoint__tree_size", flat=True).first()
    ) or 0
    for _attempt in range(2):
        proof = [] if old_size == 0 else proofs.consistency_proof(old_size=old_size, new_size=tree_size)
        body = f"old {old_size}\n" + "".join(base64.b64encode(h).decode("ascii") + "\n" for h in proof)
        status, text = _post_add_checkpoint(witness_url, body + "\n" + checkpoint.note, timeout)
        if status == 409 and text.strip().isdigit() and int(text.strip()) != old_size:
            old_size = int(text.strip())
            if old_size > tree_size:
                raise WitnessError(f"{witness_url} has already cosigned a larger tree ({old_size} entries).")
            continue
        break
    if status != 200:
        raise WitnessError(f"{witness_url} refused the checkpoint of {tree_size} entries: HTTP {status} {text.strip()[:200]}")
    verified = _verify_witness_answer(answer=text, checkpoint=checkpoint, witness_url=witness_url,
                                      witness_keys=witness_keys)
    stored = []
    with transaction.atomic():
        # One writer per checkpoint at a time, so two runs cannot both store the same witness's cosignature.
        list(Checkpoint.objects.select_for_update().filter(tree_size=tree_size).values_list("tree_size"))
        cosigned = {
            _stored_cosigner(line)
            for line in Cosignature.objects.filter(checkpoint=checkpoint).values_list("signature_line", flat=True)
        }
        for line, cosignature in verified:
            witness = cosignature.witness
            if (witness.name, witness.key_id) in cosigned:
                continue
            cosigned.add((witness.name, witness.key_id))
            row = Cosignature(
                checkpoint=checkpoint, witness_url=witness_url, key_name=witness.name,
                signature_line=line, created_at=timezone.now(),
            )
            row.save()
            stored.append(row)
    return stored


def checkpoint_note_with_cosignatures(checkpoint: Checkpoint) -> str:
    """The checkpoint's signed note with every stored witness cosignature appended."""
    lines = [c.signature_line + "\n" for c in checkpoint.cosignatures.all()]
    return checkpoint.note + "".join(lines)


def checkpoint_open(checkpoint: Checkpoint) -> None:
    """Raises VerificationError unless the checkpoint's note verifies with the key that signed it."""
    open_note(checkpoint.note, [parse_vkey(checkpoint.signing_key.vkey)])
