"""The append-only audit log."""

from django.db import models

from .actions import Action


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
    action = models.CharField(max_length=100, choices=Action.choices)
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
