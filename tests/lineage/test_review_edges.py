"""approved_by and produced_by, written by review_approve; approved_by ends when the gate revokes the
approval; and "behind" reports the approval with its signatures as they stood at the time asked."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.services import SYSTEM
from apps.gate import services as gate
from apps.lineage import selectors
from apps.lineage.models import Edge, EdgeKind
from apps.registry import services as registry
from apps.reviews import services as reviews
from apps.reviews.models import Approval
from tests.factories.accounts import UserFactory
from tests.factories.registry import UseCaseFactory
from tests.factories.reviews import trained_model_version
from tests.reviews.conftest import HUMAN_OVERSIGHT, PASSWORD, finish_checks


@pytest.fixture
def approved(team):
    reviews.policy_defaults_load()
    use_case = UseCaseFactory(key="credit-scoring", owner_team=team, risk_class="high", model_risk_tier="2")
    developer = UserFactory(username="dee-developer", roles=[Role.SUBMITTER], teams=[team])
    validator = UserFactory(username="val-validator", first_name="Val", last_name="Idator", roles=[Role.VALIDATOR])
    approver = UserFactory(username="ada-approver", first_name="Ada", last_name="Approver", roles=[Role.APPROVER])
    for reviewer in (validator, approver):
        assign_perm("registry.review_usecase", reviewer, use_case)
    version = trained_model_version(use_case=use_case, registered_by=developer, rows=400)
    case = reviews.review_open(actor=developer, model_version=version, environment="production",
                               label_column="defaulted", documentation={"human_oversight": HUMAN_OVERSIGHT})
    case = finish_checks(case)
    reviews.review_validate(actor=validator, case=case, password=PASSWORD)
    reviews.review_approve(actor=approver, case=case, password=PASSWORD)
    return Approval.objects.get(case=case), approver


def test_review_approve_writes_produced_by_and_approved_by(approved):
    approval, _ = approved
    produced = Edge.objects.get(kind=EdgeKind.PRODUCED_BY)
    approved_by = Edge.objects.get(kind=EdgeKind.APPROVED_BY)
    assert (produced.source_node.review_case, produced.target_node.approval) == (approval.case, approval)
    assert (approved_by.source_node.approval, approved_by.target_node.model_version) == (approval,
                                                                                       approval.model_version)
    assert approved_by.valid_from == approval.approved_at and approved_by.valid_to is None


def test_revoking_the_approval_ends_approved_by_and_behind_shows_both_states(approved):
    approval, approver = approved
    registry.deployment_record(actor=SYSTEM, model_version=approval.model_version, environment="production")
    while_valid = timezone.now()
    gate.approval_revoke(actor=approver, approval=approval, reason="Data quality incident")
    approval.refresh_from_db()
    edge = Edge.objects.get(kind=EdgeKind.APPROVED_BY)
    assert edge.valid_to == approval.revoked_at and "revoked" in edge.ended_reason

    before = selectors.behind_decision(fetched_by=SYSTEM, use_case="credit-scoring", at=while_valid)
    (deployment,) = before["deployments"]
    (state,) = deployment["approvals"]
    assert state["state_at"] == "valid"
    assert [(s["meaning"], s["signer"]) for s in state["signatures"]] == [("validated", "Val Idator"),
                                                                        ("approved", "Ada Approver")]
    assert {d["legal_basis"] for d in deployment["datasets"]} == {"b"}
    after = selectors.behind_decision(fetched_by=SYSTEM, use_case="credit-scoring",
                                      at=approval.revoked_at + dt.timedelta(seconds=1))
    assert after["deployments"][0]["approvals"][0]["state_at"] == "revoked"
    upstream_after = selectors.lineage(fetched_by=SYSTEM, reference={"model_version": approval.model_version_id},
                                       direction="up", as_of=approval.revoked_at + dt.timedelta(seconds=1))
    assert "approval" not in {node["kind"] for node in upstream_after.nodes}
