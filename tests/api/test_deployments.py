"""Deployments over the API: recorded with deployments:write, retired by the next one, status changes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.gate import services as gate_services
from apps.registry.models import Deployment
from apps.reviews.models import CheckResult, CheckStatus, ReviewCase, ReviewPolicy, ReviewStatus
from tests.factories.registry import ModelVersionFactory

from .conftest import assert_problem, client_for, last_audit_entry

RECORD = {"use_case": "credit-scoring", "model": "default-lr", "version": 1, "environment": "staging",
          "pipeline_run": "https://ci.example.test/runs/42"}


@pytest.fixture(autouse=True)
def _gate_key(settings, tmp_path):
    settings.DOCKET_GATE_SIGNING_KEY = None
    settings.DOCKET_GATE_SIGNING_KEY_FILE = str(tmp_path / "keys" / "gate.key")


@pytest.fixture
def gate_allowed(submitter):
    """gate_allowed(version): staging needs passing checks only; arrange a review whose checks passed and
    let the gate allow the version into staging, as a pipeline would before recording the deployment."""
    policy = ReviewPolicy.objects.create(key="deployments", version=1, name="Deployments", thresholds={},
                                         required_checks=["documentation"], approval_validity_days=180,
                                         change_reason="tests")

    def allow(version, environment="staging"):
        case = ReviewCase.objects.create(
            model_version=version, environment=environment, status=ReviewStatus.AWAITING_VALIDATION,
            policy=policy, policy_snapshot=policy.snapshot(), policy_snapshot_sha256="0" * 64, thresholds={},
            submitted_by=submitter)
        CheckResult.objects.create(case=case, kind="documentation", status=CheckStatus.PASSED)
        decision = gate_services.gate_check(actor=submitter, model=f"{version.model.use_case.key}/{version.model.key}",
                                            version=version.number, artifact_sha256=version.artifact_sha256,
                                            environment=environment)
        assert decision.verdict == "allow", decision.reasons
        return decision

    return allow


@pytest.fixture
def version(model, gate_allowed):
    version = ModelVersionFactory(model=model, number=1)
    gate_allowed(version)
    return version


def test_a_pipeline_key_records_a_deployment_and_it_is_audited(make_key, version):
    api_key, plaintext = make_key(scopes=["read", "deployments:write"])
    response = client_for(key=plaintext).post("/api/v1/deployments/", RECORD, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["environment"], response.json()["status"]) == ("staging", "active")
    deployment = Deployment.objects.get()
    recorded = AuditEntry.objects.get(action=Action.REGISTRY_DEPLOYMENT_RECORDED, subject_id=str(deployment.pk))
    assert recorded.actor_name == api_key.service_account.name
    assert recorded.data["pipeline_run"] == RECORD["pipeline_run"]
    authorized = last_audit_entry()
    assert (authorized.action, authorized.subject_id) == (Action.GATE_DEPLOYMENT_AUTHORIZED, str(deployment.pk))
    assert authorized.data["basis"]["kind"] == "allow_decision"


def test_a_new_deployment_retires_the_previous_one(submitter, model, version, gate_allowed):
    gate_allowed(ModelVersionFactory(model=model, number=2))
    client = client_for(submitter)
    first = client.post("/api/v1/deployments/", RECORD, format="json").json()
    client.post("/api/v1/deployments/", {**RECORD, "version": 2}, format="json")
    assert client.get(f"/api/v1/deployments/{first['id']}/").json()["status"] == "retired"
    active = client.get("/api/v1/deployments/", {"status": "active"}).json()["results"]
    assert [d["version"] for d in active] == [2]


@pytest.mark.parametrize("payload, field", [
    ({**RECORD, "environment": "moon"}, "environment"),
    ({**RECORD, "version": "latest"}, "version"),
    ({**RECORD, "deployed_at": "soon"}, "deployed_at"),
    ({**RECORD, "deployed_at": "2999-01-01T00:00:00Z"}, "deployed_at"),
    ({**RECORD, "approved": True}, "approved"),
    ({key: value for key, value in RECORD.items() if key != "model"}, "model"),
])
def test_record_refuses_bad_input_400(submitter, version, state, payload, field):
    before = state()
    assert_problem(client_for(submitter).post("/api/v1/deployments/", payload, format="json"), 400,
                   "validation-failed", field=field)
    assert state() == before


@pytest.mark.parametrize("who, status, slug", [
    ("anonymous", 401, "not-authenticated"),
    ("outsider", 404, "not-found"),
    ("registry-key", 403, "permission-denied"),
    ("auditor", 403, "permission-denied"),
])
def test_record_refusals(outsider, auditor, make_key, version, state, who, status, slug):
    client = {"anonymous": lambda: APIClient(), "outsider": lambda: client_for(outsider),
              "registry-key": lambda: client_for(key=make_key(scopes=["read", "registry:write"])[1]),
              "auditor": lambda: client_for(auditor)}[who]()
    before = state()
    assert_problem(client.post("/api/v1/deployments/", RECORD, format="json"), status, slug)
    assert state() == before


def test_status_change_is_audited_and_final(submitter, version, state):
    client = client_for(submitter)
    deployment = client.post("/api/v1/deployments/", RECORD, format="json").json()
    url = f"/api/v1/deployments/{deployment['id']}/status/"
    response = client.post(url, {"status": "rolled_back", "reason": "Latency regression."}, format="json")
    assert response.status_code == 200, response.json()
    entry = last_audit_entry()
    assert (entry.action, entry.data["before"], entry.data["after"]) == (
        Action.REGISTRY_DEPLOYMENT_STATUS_CHANGED, "active", "rolled_back")
    before = state()
    assert_problem(client.post(url, {"status": "retired", "reason": "x"}, format="json"), 409, "conflict")
    assert_problem(client.post(url, {"status": "active", "reason": "x"}, format="json"), 400, "validation-failed")
    assert state() == before


def test_an_invisible_deployment_is_404(submitter, outsider, version, state):
    deployment = client_for(submitter).post("/api/v1/deployments/", RECORD, format="json").json()
    assert_problem(client_for(outsider).get(f"/api/v1/deployments/{deployment['id']}/"), 404, "not-found")
    before = state()
    assert_problem(client_for(outsider).post(f"/api/v1/deployments/{deployment['id']}/status/",
                                             {"status": "retired", "reason": "x"}, format="json"), 404, "not-found")
    assert state() == before


def test_record_without_an_allow_decision_is_409_and_changes_nothing(submitter, model, state):
    ModelVersionFactory(model=model, number=1)  # registered, but the gate was never asked
    before = state()
    assert_problem(client_for(submitter).post("/api/v1/deployments/", RECORD, format="json"), 409, "conflict")
    assert state() == before


def test_record_for_another_environment_than_allowed_is_409(submitter, version, state):
    before = state()
    assert_problem(client_for(submitter).post("/api/v1/deployments/", {**RECORD, "environment": "production"},
                                              format="json"), 409, "conflict")
    assert state() == before


def test_record_names_the_gate_decision_it_relied_on(submitter, model, gate_allowed):
    version = ModelVersionFactory(model=model, number=1)
    decision = gate_allowed(version)
    response = client_for(submitter).post("/api/v1/deployments/", RECORD, format="json")
    assert response.status_code == 201, response.json()
    entry = last_audit_entry()
    assert entry.action == Action.GATE_DEPLOYMENT_AUTHORIZED
    assert entry.data["basis"]["decision_id"] == decision.decision_id
