"""The promotion gate's records: every decision it made (with its signed attestation) and the
emergency overrides approvers granted. Rows are written by `apps.gate.services` only and never change."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from apps.common.errors import ImmutableRecord


class Verdict(models.TextChoices):
    ALLOW = "allow", "Allow"
    DENY = "deny", "Deny"


class ReasonCode(models.TextChoices):
    """Stable reason codes of gate decisions (docs/gate.md). Pipelines branch on them: never rename."""

    # deny
    UNKNOWN_MODEL = "unknown_model", "No such model, or not one the caller may see"
    UNKNOWN_VERSION = "unknown_version", "The model has no such version"
    ARTIFACT_MISMATCH = "artifact_mismatch", "The artifact's SHA-256 is not the registered version's"
    USE_CASE_PROHIBITED = "use_case_prohibited", "The use case is a prohibited practice (EU AI Act Art. 5)"
    OPEN_HIGH_FINDING = "open_high_finding", "A high-severity review finding on the version is open"
    NO_APPROVAL = "no_approval", "The version has no approval"
    ENVIRONMENT_NOT_APPROVED = "environment_not_approved", "The version is approved for other environments only"
    APPROVAL_EXPIRED = "approval_expired", "The approval for the environment has expired"
    APPROVAL_REVOKED = "approval_revoked", "The approval for the environment was revoked"
    CHECKS_NOT_PASSED = "checks_not_passed", "The version's automated review checks have not all passed"
    INTERNAL_ERROR = "internal_error", "Docket could not decide; the gate fails closed"
    # allow (the basis of the decision)
    APPROVAL_VALID = "approval_valid", "A valid approval covers the artifact and environment"
    CHECKS_PASSED = "checks_passed", "Every automated review check passed (the environment needs no approval)"


class Requirement(models.TextChoices):
    """What an environment needs before the gate allows a deployment (settings.DOCKET_GATE_REQUIREMENTS)."""

    APPROVAL = "approval", "A valid approval for the environment"
    CHECKS = "checks", "Passing automated review checks (or an approval)"


class AppendOnly(models.Model):
    """Rows that are written once and then only read."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord(f"A {self._meta.verbose_name} is part of the compliance record and cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"A {self._meta.verbose_name} is part of the compliance record and cannot be deleted.")


class GateDecision(AppendOnly):
    """One answer of the gate to "may this artifact go to this environment now?", as audited and signed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decided_at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_model = models.CharField(max_length=200, help_text="The model as the caller named it.")
    requested_version = models.PositiveIntegerField()
    artifact_sha256 = models.CharField(max_length=64)
    environment = models.CharField(max_length=64)
    # Indexed by gate_decision_lookup, which starts with it.
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="gate_decisions",
        db_index=False,
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    reasons = models.JSONField(default=list)
    approval = models.ForeignKey(
        "reviews.Approval", null=True, blank=True, on_delete=models.PROTECT, related_name="gate_decisions"
    )
    rollback_to = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    policy_version = models.CharField(max_length=80)
    context = models.JSONField(default=dict, blank=True)
    audit_index = models.BigIntegerField()
    attestation = models.JSONField(help_text="The DSSE envelope returned to the caller.")

    class Meta:
        ordering = ["-decided_at"]
        verbose_name = "gate decision"
        indexes = [
            models.Index(fields=["model_version", "environment", "verdict", "decided_at"],
                         name="gate_decision_lookup"),
            # The decisions page and the dashboard's recent denials read newest first.
            models.Index(fields=["-decided_at", "-id"], name="gate_decision_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} {self.requested_model}@{self.requested_version} for {self.environment}"


class EmergencyOverride(AppendOnly):
    """An approver's written permission to record one deployment that has no allow decision. Used once."""

    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=64)
    rationale = models.TextField()
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-granted_at"]
        verbose_name = "emergency override"

    def __str__(self) -> str:
        return f"Emergency override for {self.model_version} in {self.environment}"


class OverrideUse(AppendOnly):
    """The deployment an emergency override was spent on (one per override)."""

    override = models.OneToOneField(EmergencyOverride, on_delete=models.PROTECT, related_name="use")
    deployment = models.OneToOneField("registry.Deployment", on_delete=models.PROTECT, related_name="+")
    used_at = models.DateTimeField()

    class Meta:
        verbose_name = "emergency override use"

    def __str__(self) -> str:
        return f"{self.override} used by deployment {self.deployment_id}"
