"""Risk reviews: policies, review cases, automated check results, findings, risk acceptances, signed
decisions and the approvals the gate consumes.

Rows are written by `apps.reviews.services` only. Evidence rows (policy versions, a case's policy
snapshot and locked thresholds, signed decisions, risk acceptances, approvals) refuse changes on every
path Django offers; the locked thresholds are also protected by a PostgreSQL trigger (migration 0002).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.common.errors import ImmutableRecord
from apps.registry.models import ImmutableAfterInsertMixin, ImmutableQuerySet, ModelRiskTier, RiskClass

# --- choices ----------------------------------------------------------------------------------------


class CheckKind(models.TextChoices):
    EXPLAINABILITY = "explainability", "Explainability (SHAP)"
    FAIRNESS = "fairness", "Fairness"
    PERFORMANCE = "performance", "Performance (independent re-computation)"
    DATA_GOVERNANCE = "data_governance", "Data governance (Art. 10)"
    DOCUMENTATION = "documentation", "Documentation"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    CHECKS_RUNNING = "checks_running", "Checks running"
    AWAITING_VALIDATION = "awaiting_validation", "Awaiting validation"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    WITHDRAWN = "withdrawn", "Withdrawn"


FINAL_REVIEW_STATUSES = frozenset(
    {ReviewStatus.APPROVED, ReviewStatus.REJECTED, ReviewStatus.CHANGES_REQUESTED, ReviewStatus.WITHDRAWN}
)


class CheckStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Could not be completed"


FINISHED_CHECK_STATUSES = frozenset({CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.ERROR})


class FindingSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class SignatureMeaning(models.TextChoices):
    VALIDATED = "validated", "Validated: the evidence was independently reviewed and supports use"
    APPROVED = "approved", "Approved: the model version may be used in the target environment"
    REJECTED = "rejected", "Rejected: the model version may not be used"
    CHANGES_REQUESTED = "changes_requested", "Changes requested: resubmit after the changes"


# --- policies ---------------------------------------------------------------------------------------


class ReviewPolicy(ImmutableAfterInsertMixin, models.Model):
    """One version of a review policy for a risk class and model-risk tier. Never edited: a change is a
    new version with the same key. Blank risk class or tier means "any"."""

    key = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    risk_class = models.CharField(max_length=16, choices=RiskClass.choices, blank=True)
    model_risk_tier = models.CharField(max_length=1, choices=ModelRiskTier.choices, blank=True)
    required_checks = models.JSONField(default=list)
    thresholds = models.JSONField(default=dict)
    validations_required = models.PositiveSmallIntegerField(default=1)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approval_validity_days = models.PositiveIntegerField()
    required_documentation_fields = models.JSONField(default=list)
    change_reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty when Docket itself (the default policies) created it.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["key", "-version"]
        verbose_name = "review policy version"
        constraints = [models.UniqueConstraint(fields=["key", "version"], name="reviews_policy_key_version")]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("A review policy version cannot be edited; create a new version instead.")
        super().save(*args, **kwargs)

    def snapshot(self) -> dict:
        """Everything a review case needs to apply this policy, as JSON-able data."""
        return {
            "key": self.key,
            "version": self.version,
            "name": self.name,
            "risk_class": self.risk_class,
            "model_risk_tier": self.model_risk_tier,
            "required_checks": list(self.required_checks),
            "thresholds": self.thresholds,
            "validations_required": self.validations_required,
            "approvals_required": self.approvals_required,
            "approval_validity_days": self.approval_validity_days,
            "required_documentation_fields": list(self.required_documentation_fields),
        }


# --- review cases -----------------------------------------------------------------------------------


class ReviewCase(ImmutableAfterInsertMixin, models.Model):
    """A model version submitted for review for one target environment, with the policy snapshot and
    thresholds locked when it opened. Only its status fields change afterwards."""

    MUTABLE_FIELDS = frozenset({"status", "status_changed_at", "status_reason"})

    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="review_cases")
    environment = models.CharField(max_length=64)
    status = models.CharField(max_length=24, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    status_changed_at = models.DateTimeField(default=timezone.now)
    status_reason = models.TextField(blank=True)
    policy = models.ForeignKey(ReviewPolicy, on_delete=models.PROTECT, related_name="cases")
    policy_snapshot = models.JSONField()
    policy_snapshot_sha256 = models.CharField(max_length=64)
    thresholds = models.JSONField(help_text="Locked when the case opened, before any result exists.")
    evaluation = models.JSONField(
        default=dict, help_text="Evaluation dataset version, label column and positive label, locked at opening."
    )
    documentation = models.JSONField(
        default=dict, help_text="Documentation the submitter gave with the submission (e.g. human oversight)."
    )
    previous_case = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="resubmission"
    )
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = "review case"
        indexes = [
            # The queue and the dashboard's "waiting for you": cases in a state, by age.
            models.Index(fields=["status", "opened_at"], name="reviews_case_status_opened"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "environment"],
                condition=~models.Q(status__in=["approved", "rejected", "changes_requested", "withdrawn"]),
                name="reviews_one_active_case_per_version_environment",
            )
        ]

    def __str__(self) -> str:
        return f"Review {self.pk} of {self.model_version} for {self.environment}"

    def save(self, *args, **kwargs):
        self._refuse_immutable_changes()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"{self} is part of the compliance record and cannot be deleted.")

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_REVIEW_STATUSES


def plot_upload_to(instance: CheckPlot, filename: str) -> str:
    return f"reviews/plots/{instance.sha256}/{filename}"


class CheckResult(models.Model):
    """One automated check of a review case: its status, progress and, once finished, the numbers,
    the thresholds applied and everything needed to reproduce it. Frozen once finished."""

    case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="check_results")
    kind = models.CharField(max_length=24, choices=CheckKind.choices)
    status = models.CharField(max_length=16, choices=CheckStatus.choices, default=CheckStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done, for display.")
    progress_message = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    failure_reasons = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    thresholds_applied = models.JSONField(default=dict, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    random_seed = models.BigIntegerField(null=True, blank=True)
    sample_sizes = models.JSONField(default=dict, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    data_sha256 = models.JSONField(default=dict, blank=True, help_text="Dataset version label -> content SHA-256.")
    duration_seconds = models.FloatField(null=True, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the canonical result.")

    class Meta:
        ordering = ["case", "kind"]
        verbose_name = "check result"
        indexes = [
            # The dashboard's "checks failing now": the few failed or uncompleted results, newest first.
            models.Index(fields=["finished_at"], condition=models.Q(status__in=["failed", "error"]),
                         name="reviews_check_failing"),
        ]
        constraints = [models.UniqueConstraint(fields=["case", "kind"], name="reviews_one_result_per_check")]

    def __str__(self) -> str:
        return f"{self.kind} of review {self.case_id}: {self.status}"

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"The {self} is part of the compliance record and cannot be deleted.")

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_CHECK_STATUSES

    @property
    def needs_acceptance(self) -> bool:
        """A failed or uncompleted check blocks approval until an approver accepts the risk."""
        return self.status in (CheckStatus.FAILED, CheckStatus.ERROR)


class CheckPlot(models.Model):
    """A PNG figure a check produced (e.g. the SHAP beeswarm), stored under its SHA-256."""

    check_result = models.ForeignKey(CheckResult, on_delete=models.PROTECT, related_name="plots")
    name = models.CharField(max_length=64)
    image = models.FileField(upload_to=plot_upload_to, max_length=300)
    sha256 = models.CharField(max_length=64)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["check_result", "name"]
        constraints = [models.UniqueConstraint(fields=["check_result", "name"], name="reviews_plot_name_per_result")]

    def __str__(self) -> str:
        return f"{self.name}.png of {self.check_result}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("A stored check plot cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("A stored check plot cannot be deleted.")


# --- findings, risk acceptance, decisions, approvals ------------------------------------------------


class Finding(models.Model):
    """An issue a reviewer raised on a case; an open high-severity finding blocks approval."""

    case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="findings")
    check_result = models.ForeignKey(
        CheckResult, null=True, blank=True, on_delete=models.PROTECT, related_name="findings"
    )
    severity = models.CharField(max_length=8, choices=FindingSeverity.choices)
    title = models.CharField(max_length=200)
    description = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_findings")
    due_date = models.DateField()
    status = models.CharField(max_length=8, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    resolution = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case", "-raised_at", "-pk"]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"Finding {self} is part of the compliance record and cannot be deleted.")


class RiskAcceptance(ImmutableAfterInsertMixin, models.Model):
    """An approver's written acceptance of a failed (or uncompleted) check, shown with its result."""

    check_result = models.OneToOneField(CheckResult, on_delete=models.PROTECT, related_name="risk_acceptance")
    rationale = models.TextField()
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(default=timezone.now)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["-accepted_at"]

    def __str__(self) -> str:
        return f"Risk accepted on {self.check_result}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("A risk acceptance cannot be edited.")
        super().save(*args, **kwargs)


class Decision(ImmutableAfterInsertMixin, models.Model):
    """A signed review decision (21 CFR Part 11 §11.50): who signed, when, what it means, and the SHA-256
    of the manifest of what was signed. The audit entry at `audit_index` binds it into the log."""

    case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="decisions")
    meaning = models.CharField(max_length=24, choices=SignatureMeaning.choices)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_printed_name = models.CharField(max_length=300)
    signed_at = models.DateTimeField()
    comment = models.TextField(blank=True)
    manifest = models.JSONField()
    manifest_sha256 = models.CharField(max_length=64)
    audit_index = models.BigIntegerField(null=True, blank=True)

    objects = ImmutableQuerySet.as_manager()

    MUTABLE_FIELDS = frozenset({"audit_index"})

    class Meta:
        ordering = ["case", "signed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.meaning} by {self.signer_printed_name} on review {self.case_id}"

    def save(self, *args, **kwargs):
        self._refuse_immutable_changes()
        if not self._state.adding and self.changed_fields():
            stored = type(self)._base_manager.filter(pk=self.pk).values_list("audit_index", flat=True).first()
            if stored is not None:
                raise ImmutableRecord("A signed decision cannot be edited.")
        super().save(*args, **kwargs)


class Approval(ImmutableAfterInsertMixin, models.Model):
    """Permission for one artifact (by SHA-256) to run in one environment until it expires, with the
    conditions the approvers set. Created by the approving decision; the gate consumes it."""

    MUTABLE_FIELDS = frozenset({"revoked_at", "revocation_reason"})

    case = models.OneToOneField(ReviewCase, on_delete=models.PROTECT, related_name="approval")
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="approvals")
    artifact_sha256 = models.CharField(max_length=64, db_index=True)
    environment = models.CharField(max_length=64)
    approved_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    conditions = models.JSONField(default=list, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.TextField(blank=True)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["-approved_at"]

    def __str__(self) -> str:
        return f"Approval of {self.artifact_sha256[:12]} for {self.environment} until {self.expires_at:%Y-%m-%d}"

    def save(self, *args, **kwargs):
        self._refuse_immutable_changes()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("An approval is part of the compliance record and cannot be deleted.")

    def is_valid_at(self, when) -> bool:
        return self.revoked_at is None and self.approved_at <= when < self.expires_at
