"""A team's use case with a registered model version, its pipeline's gate key, reviewers, and helpers
that arrange review outcomes (approvals, passing checks, findings) as rows, so gate tests do not run
the review workflow itself (tests/reviews covers that)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.accounts.scopes import Scope
from apps.audit.models import AuditEntry
from apps.gate.keys import attestation_signer
from apps.gate.models import GateDecision
from apps.registry.models import Deployment
from apps.reviews.models import (
    Approval,
    CheckResult,
    CheckStatus,
    Decision,
    Finding,
    FindingSeverity,
    ReviewCase,
    ReviewPolicy,
    ReviewStatus,
    SignatureMeaning,
)
from tests.factories.accounts import TeamFactory, UserFactory, api_key_with_plaintext
from tests.factories.registry import ModelFactory, ModelVersionFactory, UseCaseFactory


@pytest.fixture(autouse=True)
def _gate_key(settings, tmp_path):
    """Each test signs with its own generated attestation key."""
    settings.DOCKET_GATE_SIGNING_KEY = None
    settings.DOCKET_GATE_SIGNING_KEY_FILE = str(tmp_path / "keys" / "gate.key")
    settings.DOCKET_GATE_KEY_NAME = "docket.test/gate"


@pytest.fixture
def vkey():
    return attestation_signer().vkey


@pytest.fixture
def team(db):
    # A transactional test's flush removes the role groups the accounts data migration created.
    for role in Role:
        Group.objects.get_or_create(name=str(role))
    return TeamFactory(key="credit-risk")


@pytest.fixture
def use_case(team):
    return UseCaseFactory(key="credit-scoring", owner_team=team, risk_class="high", model_risk_tier="2")


@pytest.fixture
def model(use_case):
    return ModelFactory(use_case=use_case, key="default-lr")


@pytest.fixture
def version(model):
    return ModelVersionFactory(model=model, number=1)


@pytest.fixture
def pipeline(team):
    """The team's deployment pipeline: (user, api key, plaintext) with gate:check and deployments:write."""
    api_key, plaintext = api_key_with_plaintext(
        service_account__name="deploy-pipeline", service_account__team=team,
        service_account__scopes=[Scope.GATE_CHECK, Scope.DEPLOYMENTS_WRITE, Scope.READ],
    )
    return api_key.service_account.user, api_key, plaintext


@pytest.fixture
def submitter(team):
    return UserFactory(username="sam-submitter", roles=[Role.SUBMITTER], teams=[team])


@pytest.fixture
def approver(use_case):
    user = UserFactory(username="ada-approver", first_name="Ada", last_name="Approver", roles=[Role.APPROVER])
    assign_perm("registry.review_usecase", user, use_case)
    return user


@pytest.fixture
def policy(db):
    return ReviewPolicy.objects.create(
        key="gate-tests", version=1, name="Gate tests", required_checks=["documentation"], thresholds={},
        approval_validity_days=180, change_reason="tests",
    )


@pytest.fixture
def review(policy, submitter):
    """review(version, environment, status=..., checks={kind: status}) -> ReviewCase."""

    def make(version, environment="production", *, status=ReviewStatus.APPROVED, checks=None) -> ReviewCase:
        case = ReviewCase(
            model_version=version, environment=environment, status=status, policy=policy,
            policy_snapshot=policy.snapshot(), policy_snapshot_sha256="0" * 64, thresholds={},
            submitted_by=submitter,
        )
        case.save()
        for kind, check_status in (checks or {"documentation": CheckStatus.PASSED}).items():
            CheckResult.objects.create(case=case, kind=kind, status=check_status)
        return case

    return make


@pytest.fixture
def approve(review, approver):
    """approve(version, environment, approved=<when>, valid_for=<timedelta>, conditions=[...]) -> Approval."""

    def make(version, environment="production", *, approved=None, valid_for=dt.timedelta(days=180),
             conditions=("Human review of every decline.",)) -> Approval:
        approved = approved or timezone.now() - dt.timedelta(days=1)
        case = review(version, environment)
        Decision(case=case, meaning=SignatureMeaning.APPROVED, signer=approver,
                 signer_printed_name=approver.display_name, signed_at=approved, manifest={},
                 manifest_sha256="1" * 64).save()
        approval = Approval(case=case, model_version=version, artifact_sha256=version.artifact_sha256,
                            environment=environment, approved_at=approved, expires_at=approved + valid_for,
                            conditions=list(conditions))
        approval.save()
        return approval

    return make


@pytest.fixture
def high_finding(approver):
    def make(case) -> Finding:
        return Finding.objects.create(case=case, severity=FindingSeverity.HIGH, title="Leakage of the label",
                                      description="The label leaks through a feature.", owner=approver,
                                      due_date=timezone.localdate(), raised_by=approver)

    return make


@pytest.fixture
def state():
    """Counts of everything the gate writes, to prove a refusal changed nothing."""

    def snapshot() -> dict:
        return {
            "audit_entries": AuditEntry.objects.count(),
            "decisions": GateDecision.objects.count(),
            "deployments": Deployment.objects.count(),
            "approvals": list(Approval.objects.order_by("pk").values("pk", "revoked_at", "revocation_reason")),
        }

    return snapshot


def last_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-index").first()
