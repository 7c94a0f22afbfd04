"""/api/v1/gate/: the check (scopes, bad input, fail-closed 503), the key, expiring approvals,
revocation and overrides."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.scopes import Scope
from apps.audit.actions import Action
from apps.gate.attestation import verify_attestation
from apps.gate.models import EmergencyOverride
from tests.factories.accounts import UserFactory, api_key_with_plaintext
from tests.gate.conftest import last_entry

pytestmark = pytest.mark.django_db
PROBLEM = "https://docket.dev/problems/"


def client(*, key=None, user=None) -> APIClient:
    api = APIClient()
    if key:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    if user:
        api.force_login(user)
    return api


def body(model_version, /, **overrides) -> dict:
    version = model_version
    return {"model": "credit-scoring/default-lr", "version": version.number, "artifact_sha256": version.artifact_sha256,
            "environment": "production", "context": {"pipeline": "deploy", "commit": "abc1234"}, **overrides}


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content[:1000]
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM + slug
    return response.json()


def test_check_allows_and_the_attestation_verifies_with_the_published_key(pipeline, version, approve):
    approve(version, "production")
    api = client(key=pipeline[2])

    answer = api.post("/api/v1/gate/check", body(version), format="json")
    keys = api.get("/api/v1/gate/keys")

    assert answer.status_code == 200
    decision = answer.json()
    assert (decision["decision"], decision["reasons"][0]["code"]) == ("allow", "approval_valid")
    assert decision["audit_index"] == last_entry().index
    assert decision["approval"]["signed_by"][0]["name"] == "Ada Approver"
    assert keys.status_code == 200
    statement = verify_attestation(decision["attestation"], [keys.json()[0]["vkey"]],
                                   artifact_sha256=version.artifact_sha256)
    assert statement["predicate"]["decision_id"] == decision["decision_id"]


def test_check_denies_a_well_formed_request_for_an_unknown_version_with_200(pipeline, version):
    answer = client(key=pipeline[2]).post("/api/v1/gate/check", body(version, version=42), format="json")

    assert answer.status_code == 200
    assert [reason["code"] for reason in answer.json()["reasons"]] == ["unknown_version"]


def test_check_without_credentials_is_401(version, state):
    before = state()
    assert_problem(APIClient().post("/api/v1/gate/check", body(version), format="json"), 401, "not-authenticated")
    assert state() == before


def test_check_with_a_key_lacking_gate_check_is_403(team, version, state):
    _, plaintext = api_key_with_plaintext(service_account__team=team, service_account__scopes=[Scope.READ])
    before = state()

    problem = assert_problem(client(key=plaintext).post("/api/v1/gate/check", body(version), format="json"), 403,
                             "permission-denied")

    assert "gate:check" in problem["detail"]
    assert state() == before


@pytest.mark.parametrize(("change", "field"), [
    ({"artifact_sha256": "abc"}, "artifact_sha256"),
    ({"artifact_sha256": "z" * 64}, "artifact_sha256"),
    ({"artifact_sha256": "a" * 63}, "artifact_sha256"),
    ({"environment": "moon"}, "environment"),
    ({"model": "default-lr"}, "model"),
    ({"version": "one"}, "version"),
    ({"version": True}, "version"),
    ({"version": 0}, "version"),
    ({"version": 2**31}, "version"),
    ({"model": 42}, "model"),
    ({"model": "a" * 300 + "/b"}, "model"),
    ({"environment": None}, "environment"),
    ({"artifact_sha256": ["a" * 64]}, "artifact_sha256"),
    ({"context": "text"}, "context"),
    ({"context": ["pipeline"]}, "context"),
    ({"surprise": 1}, "surprise"),
])
def test_check_refuses_malformed_bodies_with_400(pipeline, version, state, change, field):
    before = state()

    problem = assert_problem(client(key=pipeline[2]).post("/api/v1/gate/check", body(version, **change),
                                                          format="json"), 400, "validation-failed")

    assert field in problem["errors"]
    assert state() == before


def test_check_refuses_a_missing_field_and_unparseable_json(pipeline, version, state):
    before = state()
    api = client(key=pipeline[2])
    missing = {key: value for key, value in body(version).items() if key != "artifact_sha256"}

    assert "artifact_sha256" in assert_problem(api.post("/api/v1/gate/check", missing, format="json"), 400,
                                               "validation-failed")["errors"]
    assert_problem(api.post("/api/v1/gate/check", "{not json", content_type="application/json"), 400,
                   "malformed-request")
    assert "non_field_errors" in assert_problem(api.post("/api/v1/gate/check", [body(version)], format="json"), 400,
                                                "validation-failed")["errors"]
    assert state() == before


def test_check_refuses_an_oversized_body_with_413(pipeline, version, state, settings):
    settings.DOCKET_GATE_MAX_REQUEST_BYTES = 1024
    before = state()

    problem = assert_problem(client(key=pipeline[2]).post(
        "/api/v1/gate/check", json.dumps(body(version, context={"log": "x" * 2000})),
        content_type="application/json"), 413, "request-too-large")

    assert problem["limit"] == 1024
    assert state() == before


@pytest.mark.django_db(transaction=True)
def test_check_with_the_database_unavailable_answers_503_deny(pipeline, version, approve):
    approve(version, "production")
    api = client(key=pipeline[2])
    settings_dict = connection.settings_dict
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", "1"
    try:
        answer = api.post("/api/v1/gate/check", body(version), format="json")
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved

    assert answer.status_code == 503
    decision = answer.json()
    assert decision["decision"] == "deny"
    assert [reason["code"] for reason in decision["reasons"]] == ["internal_error"]
    assert "OperationalError" in decision["reasons"][0]["detail"]


def test_keys_need_credentials(db):
    assert_problem(APIClient().get("/api/v1/gate/keys"), 401, "not-authenticated")


# --- expiring approvals -----------------------------------------------------------------------------


def test_expiring_approvals_lists_those_within_the_window_only(pipeline, model, approve):
    from tests.factories.registry import ModelVersionFactory

    soon = approve(ModelVersionFactory(model=model, number=1), "production",
                   approved=timezone.now() - dt.timedelta(days=170), valid_for=dt.timedelta(days=180))
    approve(ModelVersionFactory(model=model, number=2), "production")

    answer = client(key=pipeline[2]).get("/api/v1/gate/expiring-approvals", {"within_days": 30})

    assert answer.status_code == 200
    assert [row["id"] for row in answer.json()["results"]] == [soon.pk]
    assert answer.json()["results"][0]["version"] == 1


@pytest.mark.parametrize("within", ["0", "366", "x", "-1"])
def test_expiring_approvals_refuses_a_bad_window(pipeline, within):
    assert_problem(client(key=pipeline[2]).get("/api/v1/gate/expiring-approvals", {"within_days": within}), 400,
                   "validation-failed")


def test_expiring_approvals_needs_read(team):
    _, plaintext = api_key_with_plaintext(service_account__team=team, service_account__scopes=[Scope.GATE_CHECK])
    assert_problem(client(key=plaintext).get("/api/v1/gate/expiring-approvals"), 403, "permission-denied")


# --- revocation -------------------------------------------------------------------------------------


def test_an_approver_revokes_over_the_api_and_the_next_check_denies(pipeline, version, approve, approver):
    approval = approve(version, "production")

    answer = client(user=approver).post(f"/api/v1/gate/approvals/{approval.pk}/revoke", {"reason": "Drift."},
                                        format="json")
    check = client(key=pipeline[2]).post("/api/v1/gate/check", body(version), format="json").json()

    assert answer.status_code == 200 and answer.json()["revocation_reason"] == "Drift."
    assert [reason["code"] for reason in check["reasons"]] == ["approval_revoked"]


@pytest.mark.parametrize(("who", "payload", "status", "slug"), [
    ("submitter", {"reason": "No."}, 403, "permission-denied"),
    ("pipeline", {"reason": "No."}, 403, "permission-denied"),
    ("approver", {}, 400, "validation-failed"),
    ("approver", {"reason": "x", "extra": 1}, 400, "validation-failed"),
    ("anonymous", {"reason": "No."}, 401, "not-authenticated"),
])
def test_revocation_refusals(pipeline, version, approve, approver, submitter, state, who, payload, status, slug):
    approval = approve(version, "production")
    api = {"submitter": client(user=submitter), "pipeline": client(key=pipeline[2]),
           "approver": client(user=approver), "anonymous": APIClient()}[who]
    before = state()

    assert_problem(api.post(f"/api/v1/gate/approvals/{approval.pk}/revoke", payload, format="json"), status, slug)

    assert state() == before


def test_revoking_an_invisible_approval_is_404(version, approve, state):
    approval = approve(version, "production")
    stranger = UserFactory(roles=["approver"])
    before = state()

    assert_problem(client(user=stranger).post(f"/api/v1/gate/approvals/{approval.pk}/revoke", {"reason": "x"},
                                              format="json"), 404, "not-found")

    assert state() == before


# --- overrides --------------------------------------------------------------------------------------


def test_an_approver_grants_an_override_over_the_api(version, approver):
    answer = client(user=approver).post("/api/v1/gate/overrides", {
        "use_case": "credit-scoring", "model": "default-lr", "version": 1, "environment": "production",
        "rationale": "Outage."}, format="json")

    assert answer.status_code == 201
    assert answer.json()["granted_by"] == "ada-approver"
    assert last_entry().action == Action.GATE_OVERRIDE_GRANTED


def test_a_pipeline_cannot_grant_itself_an_override(pipeline, version, state):
    before = state()

    assert_problem(client(key=pipeline[2]).post("/api/v1/gate/overrides", {
        "use_case": "credit-scoring", "model": "default-lr", "version": 1, "environment": "production",
        "rationale": "Trust me."}, format="json"), 403, "permission-denied")

    assert state() == before and not EmergencyOverride.objects.exists()
