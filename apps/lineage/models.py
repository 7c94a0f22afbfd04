"""The lineage graph: nodes (registry objects, OpenLineage jobs, runs and datasets) and edges between
them with the time each became true and, where it applies, stopped being true; the OpenLineage events
received; the mapping of OpenLineage dataset names to Docket datasets; saved inquiries.

Edges point from upstream to downstream (`source_node` was used by / led to `target_node`), so
"upstream of X" follows edges backwards and "downstream of X" forwards. An edge is an append-only fact:
once written only `valid_to` (with `ended_reason`) may be set, once, by `apps.lineage.services`. Rows
are written by `apps.lineage.services` only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.common.errors import ImmutableRecord


class NodeKind(models.TextChoices):
    DATASET_VERSION = "dataset_version", "Dataset version"
    MODEL_VERSION = "model_version", "Model version"
    DEPLOYMENT = "deployment", "Deployment"
    REVIEW_CASE = "review_case", "Review case"
    APPROVAL = "approval", "Approval"
    REPORT = "report", "Report"
    JOB = "job", "OpenLineage job"
    RUN = "run", "OpenLineage run"
    EXTERNAL_DATASET = "external_dataset", "External dataset (OpenLineage)"


class EdgeKind(models.TextChoices):
    """Each kind reads as a sentence about (target, source), except consumed_by (source, target)."""

    TRAINED_ON = "trained_on", "model version (target) was trained on dataset version (source)"
    EVALUATED_ON = "evaluated_on", "model version (target) was validated/tested on dataset version (source)"
    DERIVED_FROM = "derived_from", "dataset (target) was derived from dataset (source)"
    FINE_TUNED_FROM = "fine_tuned_from", "model version (target) was fine-tuned from model version (source)"
    DEPLOYED_AS = "deployed_as", "model version (source) runs as deployment (target)"
    APPROVED_BY = "approved_by", "model version (target) was approved by approval (source)"
    PRODUCED_BY = "produced_by", "target was produced by source (run -> output dataset, review case -> approval)"
    CONSUMED_BY = "consumed_by", "dataset (source) was consumed by run (target)"
    RUN_OF = "run_of", "run (target) is a run of job (source)"


class Node(models.Model):
    """One thing in the lineage graph, with the registry object it stands for (if any) and the use case
    (or, for dataset versions, the owner team) that decides who may see it."""

    kind = models.CharField(max_length=24, choices=NodeKind.choices)
    # Unique per kind: the registry primary key, "namespace/name" of an OpenLineage job or dataset, a runId.
    key = models.CharField(max_length=600)
    label = models.CharField(max_length=300)
    use_case = models.ForeignKey("registry.UseCase", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    owner_team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    model_version = models.OneToOneField("registry.ModelVersion", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="lineage_node")
    dataset_version = models.OneToOneField("registry.DatasetVersion", null=True, blank=True,
                                           on_delete=models.PROTECT, related_name="lineage_node")
    deployment = models.OneToOneField("registry.Deployment", null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="lineage_node")
    review_case = models.OneToOneField("reviews.ReviewCase", null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="lineage_node")
    approval = models.OneToOneField("reviews.Approval", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="lineage_node")
    # Denormalised from the deployment, for the deployment-window query.
    environment = models.CharField(max_length=64, blank=True)
    namespace = models.CharField(max_length=300, blank=True, help_text="OpenLineage namespace (jobs, datasets).")
    name = models.CharField(max_length=300, blank=True, help_text="OpenLineage name (jobs, datasets).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="lineage_node_kind_key")]
        indexes = [models.Index(fields=["kind", "environment"], name="lineage_node_kind_env")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label}"

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("A lineage node is part of the compliance record and cannot be deleted.")


class EdgeQuerySet(models.QuerySet):
    """Refuses bulk changes: an edge changes only through `Edge.save` (setting valid_to once)."""

    def update(self, **kwargs):
        raise ImmutableRecord("Lineage edges are append-only facts; update() is refused.")

    def delete(self):
        raise ImmutableRecord("Lineage edges are append-only facts; delete() is refused.")


class Edge(models.Model):
    """A fact "source led to target" of one kind, true from `valid_from` until `valid_to` (open: still true)."""

    source_node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="out_edges", db_index=False)
    target_node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="in_edges", db_index=False)
    kind = models.CharField(max_length=24, choices=EdgeKind.choices)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    ended_reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True, help_text="e.g. the dataset role of trained_on/evaluated_on.")
    event = models.ForeignKey("OpenLineageEvent", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="edges", help_text="The OpenLineage event that stated it, if any.")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = EdgeQuerySet.as_manager()

    class Meta:
        ordering = ["valid_from", "pk"]
        indexes = [
            models.Index(fields=["source_node", "valid_from"], name="lineage_edge_source_from"),
            models.Index(fields=["target_node", "valid_from"], name="lineage_edge_target_from"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=models.F("valid_from")),
                                   name="lineage_edge_valid_interval"),
        ]

    def __str__(self) -> str:
        return f"{self.source_node_id} -{self.kind}-> {self.target_node_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            stored = type(self)._base_manager.filter(pk=self.pk).values(
                "source_node_id", "target_node_id", "kind", "valid_from", "valid_to", "detail").first()
            if stored is None or stored["valid_to"] is not None:
                raise ImmutableRecord("This lineage edge has already ended; an ended edge never changes.")
            for field in ("source_node_id", "target_node_id", "kind", "valid_from", "detail"):
                if stored[field] != getattr(self, field):
                    raise ImmutableRecord(f"A lineage edge's {field} cannot change; only its end can be recorded.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("A lineage edge is an append-only fact and cannot be deleted.")

    def is_valid_at(self, when) -> bool:
        return self.valid_from <= when and (self.valid_to is None or self.valid_to > when)


class OpenLineageEvent(models.Model):
    """One OpenLineage RunEvent as received (body and its SHA-256), with the job and run it named."""

    body = models.JSONField()
    body_sha256 = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=16, blank=True)
    event_time = models.DateTimeField()
    run_id = models.CharField(max_length=64)
    job_namespace = models.CharField(max_length=300)
    job_name = models.CharField(max_length=300)
    producer = models.CharField(max_length=500)
    received_at = models.DateTimeField(default=timezone.now)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = "OpenLineage event"
        constraints = [
            models.UniqueConstraint(fields=["run_id", "event_type", "event_time"], name="lineage_event_delivery"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'event'} {self.job_namespace}/{self.job_name} run {self.run_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("A received OpenLineage event cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("A received OpenLineage event cannot be deleted.")


class DatasetMapping(models.Model):
    """Maps OpenLineage dataset names (shell-style patterns on namespace and name) to a Docket dataset."""

    namespace_pattern = models.CharField(max_length=300, help_text="e.g. postgres://warehouse:5432 or s3://bucket*")
    name_pattern = models.CharField(max_length=300, help_text="e.g. public.loans or raw.loans_*")
    dataset = models.ForeignKey("registry.Dataset", on_delete=models.PROTECT, related_name="lineage_mappings")
    priority = models.IntegerField(default=100, help_text="Lower numbers are tried first.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["priority", "pk"]
        verbose_name = "OpenLineage dataset mapping"

    def __str__(self) -> str:
        return f"{self.namespace_pattern} / {self.name_pattern} -> {self.dataset_id}"


class InquiryKind(models.TextChoices):
    UPSTREAM = "upstream", "Upstream of a node"
    DOWNSTREAM = "downstream", "Downstream of a node"
    WINDOW = "window", "Deployments that depended on a dataset in a time window"
    BEHIND = "behind", "What was behind a use case's production decision at a time"


def inquiry_upload_to(instance: Inquiry, filename: str) -> str:
    return f"lineage/inquiries/{instance.pk}/{filename}"


class Inquiry(models.Model):
    """An external inquiry answered from the lineage graph: who asked, why, the question, the answer as
    shown to the asker, and the signed audit checkpoint it reflects. Never changes after saving, except
    that its PDF may be attached once."""

    kind = models.CharField(max_length=16, choices=InquiryKind.choices)
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requester = models.CharField(max_length=300, help_text="Who outside asked (regulator, court, data subject).")
    reason = models.TextField(help_text="Why the inquiry was run (the request, its reference).")
    parameters = models.JSONField()
    answer = models.JSONField()
    answer_sha256 = models.CharField(max_length=64)
    checkpoint_tree_size = models.BigIntegerField()
    checkpoint_root_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    pdf = models.FileField(upload_to=inquiry_upload_to, max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "inquiries"

    def __str__(self) -> str:
        return f"Inquiry {self.pk} ({self.kind}) by {self.asked_by_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            stored = type(self)._base_manager.filter(pk=self.pk).values("pdf_sha256").first()
            if stored and stored["pdf_sha256"]:
                raise ImmutableRecord("A saved inquiry and its PDF never change; run and save a new inquiry.")
            update_fields = kwargs.get("update_fields")
            if not update_fields or set(update_fields) - {"pdf", "pdf_sha256"}:
                raise ImmutableRecord("Only the PDF of a saved inquiry can be attached.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("A saved inquiry is part of the compliance record and cannot be deleted.")
