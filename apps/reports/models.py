"""Generated compliance documents: what was asked for, by whom, the stored file, its SHA-256 and the
part of the audit log (index range and signed checkpoint) it reflects.

Rows are written by `apps.reports.services` only. A finished document never changes: regenerating is a
new row (and, from the same checkpoint, gives the same bytes)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class DocumentKind(models.TextChoices):
    ANNEX_IV = "annex_iv", "Technical documentation (EU AI Act Annex IV)"
    MODEL_CARD = "model_card", "Model card"
    VALIDATION_REPORT = "validation_report", "Validation report"
    AUDIT_EXTRACT = "audit_extract", "Audit trail extract"
    MODEL_INVENTORY = "model_inventory", "Model inventory (SR 11-7)"
    EVIDENCE_PACK = "evidence_pack", "Evidence pack"


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Generating"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def document_upload_to(instance: GeneratedDocument, filename: str) -> str:
    return f"reports/{instance.kind}/{instance.sha256}/{filename}"


class GeneratedDocument(models.Model):
    """One requested compliance document or evidence pack, its generation state and, once done, its file."""

    kind = models.CharField(max_length=24, choices=DocumentKind.choices)
    # The subject as the audit log names it (e.g. "registry.modelversion", "12"); blank for the inventory
    # and for an audit extract of a date range.
    subject_type = models.CharField(max_length=100, blank=True)
    subject_id = models.CharField(max_length=100, blank=True)
    subject_label = models.CharField(max_length=300, blank=True)
    use_case = models.ForeignKey(
        "registry.UseCase", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The use case the subject belongs to; decides who may see the document.",
    )
    parameters = models.JSONField(default=dict, blank=True, help_text="since/until of an audit extract, etc.")
    status = models.CharField(max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done, for display.")
    progress_message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty when Docket itself (a management command) asked for it.",
    )
    requested_at = models.DateTimeField(default=timezone.now)
    generated_at = models.DateTimeField(null=True, blank=True)
    file = models.FileField(upload_to=document_upload_to, max_length=300, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    content_sha256 = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the canonical JSON of the facts the document shows."
    )
    checkpoint_tree_size = models.BigIntegerField(
        null=True, blank=True, help_text="The signed checkpoint the document reflects (requested or pinned)."
    )
    audit_index_first = models.BigIntegerField(null=True, blank=True)
    audit_index_last = models.BigIntegerField(null=True, blank=True)
    audit_index = models.BigIntegerField(
        null=True, blank=True, help_text="Index of the reports.document.generated entry."
    )

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = "generated document"

    def __str__(self) -> str:
        subject = f" of {self.subject_label}" if self.subject_label else ""
        return f"{self.get_kind_display()}{subject} (#{self.pk})"

    @property
    def is_finished(self) -> bool:
        return self.status in (DocumentStatus.DONE, DocumentStatus.FAILED)
