"""The append-only audit log: entries, the Merkle tree over them, signed checkpoints and signing keys."""

from django.db import connections, models


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove a log row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; update() is refused.")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; delete() is refused.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; bulk_update() is refused.")

    def bulk_create(self, objs, *args, **kwargs):
        raise AppendOnlyError(
            f"{self.model.__name__} rows are written one at a time by the audit writer; bulk_create() is refused."
        )

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; update_or_create() is refused.")


class AppendOnlyModel(models.Model):
    """A row that may be inserted once and never updated or deleted."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only; saving an existing row is refused.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only; delete() is refused.")


class AuditEntry(AppendOnlyModel):
    """One event in the log: who did what to which object, at which position of the Merkle tree."""

    index = models.BigIntegerField(primary_key=True)
    timestamp = models.DateTimeField()
    actor_type = models.CharField(max_length=32)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=300)
    # No `choices`: actions are validated by record() against apps/audit/actions.py, so declaring a new
    # action never needs a migration of this table.
    action = models.CharField(max_length=100)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=100)
    subject_label = models.CharField(max_length=300)
    data = models.JSONField(default=dict)
    request_id = models.CharField(max_length=128, null=True, blank=True)
    format_version = models.PositiveSmallIntegerField()
    encoded = models.BinaryField(help_text="The canonical bytes hashed into the log.")
    leaf_hash = models.BinaryField(max_length=32)

    class Meta:
        ordering = ["index"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "index"], name="audit_entry_subject"),
            models.Index(fields=["action", "index"], name="audit_entry_action"),
            models.Index(fields=["actor_type", "actor_id", "index"], name="audit_entry_actor"),
            models.Index(fields=["timestamp"], name="audit_entry_timestamp"),
        ]

    def __str__(self) -> str:
        return f"#{self.index} {self.action} {self.subject_label}"


class TreeNodeQuerySet(AppendOnlyQuerySet):
    def append_integrated(self, nodes: list[tuple[int, int, bytes]]) -> None:
        """Inserts (level, index, hash) rows computed by the integrator (apps.audit.services) in bulk:
        COPY on PostgreSQL, batched INSERTs elsewhere."""
        connection = connections[self.db]
        if connection.vendor == "postgresql":
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy('COPY audit_treenode ("level", "index", "hash") FROM STDIN') as copy,
            ):
                for row in nodes:
                    copy.write_row(row)
            return
        objects = [self.model(level=level, index=index, hash=node_hash) for level, index, node_hash in nodes]
        models.QuerySet.bulk_create(self, objects, batch_size=5000)


class TreeNode(AppendOnlyModel):
    """The hash of one perfect subtree of the RFC 6962 tree: leaves index*2**level to (index+1)*2**level - 1.

    Level 0 holds the leaf hashes themselves; a node is stored once all of its leaves exist, so the
    hash of any range of the tree can be folded from O(log n) stored nodes.
    """

    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    objects = TreeNodeQuerySet.as_manager()

    class Meta:
        ordering = ["level", "index"]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"

    @property
    def first_leaf(self) -> int:
        return self.index << self.level

    @property
    def last_leaf(self) -> int:
        return ((self.index + 1) << self.level) - 1


class SigningKeyQuerySet(models.QuerySet):
    def delete(self):
        raise AppendOnlyError("Signing keys are kept forever so that old checkpoints stay verifiable; delete() is refused.")

    def update(self, **kwargs):
        raise AppendOnlyError("Signing keys change only through key rotation; update() is refused.")

    def end_validity(self, *, key_id: str, when) -> int:
        """Closes the validity window of the current key `key_id`; the only change a key row accepts."""
        return models.QuerySet.update(self.filter(key_id=key_id, valid_until__isnull=True), valid_until=when)


class SigningKey(models.Model):
    """The public half of an Ed25519 key that signs checkpoints, with the window in which it was current.

    The private key never enters the database; it is read from a file or the environment.
    """

    name = models.CharField(max_length=200)
    key_id = models.CharField(max_length=8, unique=True, help_text="4-byte C2SP key ID in hex.")
    public_key = models.BinaryField(max_length=32)
    vkey = models.TextField(help_text="C2SP verifier key: <name>+<hex key id>+<base64(0x01 || public key)>.")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        ordering = ["valid_from"]

    def __str__(self) -> str:
        return f"{self.name} {self.key_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Signing keys change only through key rotation; saving an existing row is refused.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Signing keys are kept forever so that old checkpoints stay verifiable; delete() is refused.")

    def is_valid_at(self, when) -> bool:
        return self.valid_from <= when and (self.valid_until is None or when <= self.valid_until)


class Checkpoint(AppendOnlyModel):
    """A signed statement of the log's size and Merkle root: a C2SP tlog-checkpoint in a C2SP signed note."""

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField(help_text="The complete signed note, byte for byte as published.")
    signing_key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="checkpoints")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"checkpoint of {self.tree_size} entries"


class Cosignature(AppendOnlyModel):
    """A witness's cosignature line (C2SP tlog-cosignature) over one checkpoint."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="cosignatures")
    witness_url = models.URLField(max_length=500)
    key_name = models.CharField(max_length=200)
    signature_line = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["checkpoint_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "signature_line"], name="audit_cosignature_unique_line"),
        ]

    def __str__(self) -> str:
        return f"cosignature by {self.key_name} on {self.checkpoint_id}"


class QueuedEntry(models.Model):
    """An entry recorded in a transaction that PostgreSQL has not sequenced yet (`record(..., sequenced=False)`,
    the default there): the canonical encoding around index and timestamp, and the columns to store.

    A deferred constraint trigger (migration 0005) appends it to the log when its transaction commits —
    taking the sequencer lock only then, so no client round trip happens while the lock is held — and
    deletes it in the same step. A row therefore exists only inside its own open transaction; the table
    is UNLOGGED on PostgreSQL. Never written on other databases."""

    head = models.BinaryField()
    middle = models.BinaryField()
    tail = models.BinaryField()
    actor_type = models.CharField(max_length=32)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=300)
    action = models.CharField(max_length=100)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=100)
    subject_label = models.CharField(max_length=300)
    data = models.TextField(help_text="The entry's data as JSON text.")
    request_id = models.CharField(max_length=128, null=True, blank=True)
    format_version = models.PositiveSmallIntegerField()
    max_uncovered = models.BigIntegerField(
        help_text="DOCKET_AUDIT_MAX_UNCHECKPOINTED when recorded: the trigger refuses to commit an entry that "
                  "would leave more entries than this without a signed checkpoint.")
