"""Every action the audit log knows, declared once. Names are stable: auditors and reports rely on them."""

from django.db import models


class Action(models.TextChoices):
    # accounts
    ACCOUNTS_USER_CREATED = "accounts.user.created", "User created"
    ACCOUNTS_USER_ROLES_CHANGED = "accounts.user.roles_changed", "User roles changed"
    ACCOUNTS_USER_DEACTIVATED = "accounts.user.deactivated", "User deactivated"
    ACCOUNTS_TEAM_CREATED = "accounts.team.created", "Team created"
    ACCOUNTS_TEAM_MEMBER_ADDED = "accounts.team.member_added", "Team member added"
    ACCOUNTS_TEAM_MEMBER_REMOVED = "accounts.team.member_removed", "Team member removed"
    ACCOUNTS_SERVICE_ACCOUNT_CREATED = "accounts.service_account.created", "Service account created"
    ACCOUNTS_SERVICE_ACCOUNT_DEACTIVATED = "accounts.service_account.deactivated", "Service account deactivated"
    ACCOUNTS_API_KEY_ISSUED = "accounts.api_key.issued", "API key issued"
    ACCOUNTS_API_KEY_REVOKED = "accounts.api_key.revoked", "API key revoked"
    ACCOUNTS_USE_CASE_PERMISSION_GRANTED = "accounts.use_case_permission.granted", "Use-case permission granted"
    ACCOUNTS_USE_CASE_PERMISSION_REVOKED = "accounts.use_case_permission.revoked", "Use-case permission revoked"
    # registry
    REGISTRY_USE_CASE_CREATED = "registry.use_case.created", "Use case created"
    REGISTRY_USE_CASE_UPDATED = "registry.use_case.updated", "Use case updated"
    REGISTRY_USE_CASE_CLASSIFIED = "registry.use_case.classified", "Use case classified under the EU AI Act"
    REGISTRY_USE_CASE_RISK_TIER_SET = "registry.use_case.risk_tier_set", "Model-risk tier set"
    REGISTRY_MODEL_CREATED = "registry.model.created", "Model created"
    REGISTRY_MODEL_VERSION_REGISTERED = "registry.model_version.registered", "Model version registered"
    REGISTRY_DATASET_CREATED = "registry.dataset.created", "Dataset created"
    REGISTRY_DATASET_VERSION_REGISTERED = "registry.dataset_version.registered", "Dataset version registered"
    REGISTRY_DATASET_VERSION_LIFECYCLE_CHANGED = (
        "registry.dataset_version.lifecycle_changed",
        "Dataset version lifecycle changed",
    )
    REGISTRY_DEPLOYMENT_RECORDED = "registry.deployment.recorded", "Deployment recorded"
    REGISTRY_DEPLOYMENT_STATUS_CHANGED = "registry.deployment.status_changed", "Deployment status changed"
    # reviews
    REVIEWS_POLICY_VERSION_CREATED = "reviews.policy.version_created", "Review policy version created"
    REVIEWS_CASE_OPENED = "reviews.case.opened", "Review case opened"
    REVIEWS_CASE_CHECKS_STARTED = "reviews.case.checks_started", "Review checks started"
    REVIEWS_CASE_CHECKS_COMPLETED = "reviews.case.checks_completed", "Review checks completed"
    REVIEWS_CASE_WITHDRAWN = "reviews.case.withdrawn", "Review case withdrawn"
    REVIEWS_CHECK_STARTED = "reviews.check.started", "Review check started"
    REVIEWS_CHECK_COMPLETED = "reviews.check.completed", "Review check completed"
    REVIEWS_FINDING_RAISED = "reviews.finding.raised", "Review finding raised"
    REVIEWS_FINDING_RESOLVED = "reviews.finding.resolved", "Review finding resolved"
    REVIEWS_RISK_ACCEPTED = "reviews.risk.accepted", "Risk of a failed check accepted"
    REVIEWS_FINDING_REASSIGNED = "reviews.finding.reassigned", "Finding owner or due date changed"
    REVIEWS_DECISION_SIGNED = "reviews.decision.signed", "Review decision signed"
    REVIEWS_APPROVAL_GRANTED = "reviews.approval.granted", "Approval granted"
    # gate
    GATE_DECISION_RECORDED = "gate.decision.recorded", "Gate decision recorded"
    GATE_CHECK_FAILED = "gate.check.failed", "Gate check failed closed (internal error)"
    GATE_APPROVAL_REVOKED = "gate.approval.revoked", "Approval revoked"
    GATE_OVERRIDE_GRANTED = "gate.override.granted", "Emergency deployment override granted"
    GATE_DEPLOYMENT_AUTHORIZED = "gate.deployment.authorized", "Deployment checked against the gate"
    # reports
    REPORTS_DOCUMENT_REQUESTED = "reports.document.requested", "Compliance document requested"
    REPORTS_DOCUMENT_GENERATED = "reports.document.generated", "Compliance document generated"
    REPORTS_DOCUMENT_FAILED = "reports.document.failed", "Compliance document generation failed"
    # lineage
    LINEAGE_EVENT_INGESTED = "lineage.event.ingested", "OpenLineage event ingested"
    LINEAGE_EDGE_ENDED = "lineage.edge.ended", "Lineage edge ended"
    LINEAGE_MAPPING_CREATED = "lineage.mapping.created", "OpenLineage dataset mapping created"
    LINEAGE_MAPPING_DEACTIVATED = "lineage.mapping.deactivated", "OpenLineage dataset mapping deactivated"
    LINEAGE_INQUIRY_SAVED = "lineage.inquiry.saved", "Lineage inquiry saved"
    LINEAGE_INQUIRY_EXPORTED = "lineage.inquiry.exported", "Lineage inquiry exported as PDF"
    # audit
    AUDIT_SIGNING_KEY_ROTATED = "audit.signing_key.rotated", "Audit signing key rotated"
