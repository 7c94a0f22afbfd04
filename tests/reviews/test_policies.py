"""Review policies: defaults from the fixture, versioned changes by administrators only."""

import io

import pytest
from django.core.management import call_command

from apps.audit.models import AuditEntry
from apps.common.errors import ImmutableRecord, PermissionDenied, ValidationFailed
from apps.reviews import selectors, services
from apps.reviews.models import ReviewPolicy

pytestmark = pytest.mark.django_db


def test_default_policies_are_loaded_once_each_with_an_audit_entry(default_policies):
    keys = {policy.key for policy in default_policies}
    assert {"high-risk-tier-1", "high-risk-tier-2", "high-risk-tier-3", "limited-risk", "minimal-risk"} <= keys
    entries = AuditEntry.objects.filter(action="reviews.policy.version_created")
    assert entries.count() == len(default_policies)
    assert entries.first().actor_type == "system"

    output = io.StringIO()
    call_command("load_review_policies", stdout=output)
    assert "already exists" in output.getvalue()
    assert ReviewPolicy.objects.count() == len(default_policies)


def test_policy_for_picks_the_exact_scope_then_the_risk_class(default_policies):
    assert selectors.policy_for(risk_class="high", model_risk_tier="1").key == "high-risk-tier-1"
    assert selectors.policy_for(risk_class="high", model_risk_tier="").key == "high-risk"
    assert selectors.policy_for(risk_class="minimal", model_risk_tier="2").key == "minimal-risk"
    assert selectors.policy_for(risk_class="prohibited", model_risk_tier="1") is None


@pytest.fixture
def tier_1_fields():
    fields = ReviewPolicy.objects.get(key="high-risk-tier-1").snapshot()
    fields.pop("version")
    return fields


def test_an_admin_change_is_a_new_version_recorded_with_before_and_after(admin_user, tier_1_fields):
    tier_1_fields["thresholds"]["performance"]["minimums"]["roc_auc"] = 0.75
    policy = services.policy_version_create(actor=admin_user, change_reason="Raise the AUC floor.", **tier_1_fields)

    assert policy.version == 2
    assert selectors.policy_for(risk_class="high", model_risk_tier="1") == policy
    assert ReviewPolicy.objects.get(key="high-risk-tier-1", version=1).thresholds["performance"]["minimums"] == {
        "roc_auc": 0.7}
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == "reviews.policy.version_created"
    assert entry.data["before"]["thresholds"]["performance"]["minimums"]["roc_auc"] == "0.7"
    assert entry.data["after"]["thresholds"]["performance"]["minimums"]["roc_auc"] == "0.75"
    assert entry.data["change_reason"] == "Raise the AUC floor."


def test_a_policy_version_cannot_be_edited(default_policies):
    policy = default_policies[0]
    policy.approval_validity_days = 1
    with pytest.raises(ImmutableRecord):
        policy.save()


def test_a_non_admin_cannot_change_policies(tier_1_fields, submitter):
    before = AuditEntry.objects.count()
    with pytest.raises(PermissionDenied):
        services.policy_version_create(actor=submitter, change_reason="Mine now.", **tier_1_fields)
    assert ReviewPolicy.objects.filter(key="high-risk-tier-1").count() == 1
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"required_checks": ["astrology"]}, "required_checks"),
        ({"approvals_required": 0}, "approvals_required"),
        ({"thresholds": {"fairness": {"min": float("nan")}}}, "thresholds"),
        ({"thresholds": {"vibes": {}}}, "thresholds"),
        ({"risk_class": "prohibited"}, "risk_class"),
        ({"change_reason": ""}, "change_reason"),
    ],
    ids=["unknown-check", "zero-approvals", "nan-threshold", "unknown-section", "prohibited-class", "no-reason"],
)
def test_bad_policy_versions_are_refused_and_change_nothing(admin_user, tier_1_fields, change, field):
    before = AuditEntry.objects.count()
    fields = {**tier_1_fields, "change_reason": "Test.", **change}
    with pytest.raises(ValidationFailed) as refused:
        services.policy_version_create(actor=admin_user, **fields)
    assert field in refused.value.field_errors
    assert ReviewPolicy.objects.filter(key="high-risk-tier-1").count() == 1
    assert AuditEntry.objects.count() == before


def test_a_second_key_for_an_existing_scope_is_refused(admin_user, tier_1_fields):
    with pytest.raises(ValidationFailed, match="already covers"):
        services.policy_version_create(actor=admin_user, **{**tier_1_fields, "key": "another-tier-1",
                                                             "change_reason": "Duplicate scope."})
