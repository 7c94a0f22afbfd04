"""Use cases, their classification decisions and model-risk tier over the API; models within them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.audit.actions import Action
from apps.registry.models import UseCase

from .conftest import assert_problem, client_for, last_audit_entry

NEW_USE_CASE = {
    "key": "fraud-alerts",
    "name": "Fraud alerts",
    "intended_purpose": "Flag card transactions for a fraud analyst to check.",
    "owner_team": "credit-risk",
    "business_owner": "sam-submitter",
    "operator_role": "deployer",
    "member_states": ["DE", "fr"],
}
NO_ART5 = {letter: False for letter in "abcdefgh"}
CLASSIFICATION = {
    "art5_answers": NO_ART5,
    "annex_i_safety_component": False,
    "annex_iii_code": "III-5-b",
    "profiles_natural_persons": True,
    "rationale": "Creditworthiness of natural persons.",
}


def test_a_submitter_creates_a_use_case_for_their_team_and_it_is_audited(submitter):
    response = client_for(submitter).post("/api/v1/use-cases/", NEW_USE_CASE, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["member_states"] == ["DE", "FR"]
    assert response["Location"] == "/api/v1/use-cases/fraud-alerts/"
    entry = last_audit_entry()
    assert entry.action == Action.REGISTRY_USE_CASE_CREATED
    assert entry.subject_id == str(UseCase.objects.get(key="fraud-alerts").pk)
    assert entry.data["owner_team"] == "credit-risk"


@pytest.mark.parametrize("payload, field", [
    ({**NEW_USE_CASE, "operator_role": "owner"}, "operator_role"),
    ({**NEW_USE_CASE, "member_states": "DE"}, "member_states"),
    ({**NEW_USE_CASE, "shoe_size": 43}, "shoe_size"),
    ({key: value for key, value in NEW_USE_CASE.items() if key != "name"}, "name"),
    ({**NEW_USE_CASE, "owner_team": "no-such-team"}, "owner_team"),
    ({**NEW_USE_CASE, "business_owner": "nobody"}, "business_owner"),
    ({**NEW_USE_CASE, "member_states": ["XX"]}, "member_states"),
    ({**NEW_USE_CASE, "key": "has spaces"}, "key"),
])
def test_use_case_create_refuses_bad_input_400(submitter, state, payload, field):
    before = state()
    response = client_for(submitter).post("/api/v1/use-cases/", payload, format="json")
    assert_problem(response, 400, "validation-failed", field=field)
    assert state() == before


def test_malformed_json_is_refused_400_malformed_request(submitter, state):
    before = state()
    response = client_for(submitter).generic("POST", "/api/v1/use-cases/", b'{"key": "x",', content_type="application/json")
    assert_problem(response, 400, "malformed-request")
    assert state() == before


def test_use_case_create_without_credentials_is_401(state):
    before = state()
    response = APIClient().post("/api/v1/use-cases/", NEW_USE_CASE, format="json")
    body = assert_problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="docket"'
    assert body["detail"]
    assert state() == before


def test_a_submitter_may_not_create_a_use_case_for_another_team_403(outsider, state, team):
    before = state()
    payload = {**NEW_USE_CASE, "business_owner": "olga-outsider"}
    response = client_for(outsider).post("/api/v1/use-cases/", payload, format="json")
    assert_problem(response, 403, "permission-denied")
    assert state() == before


def test_a_duplicate_key_is_409(submitter, use_case, state):
    before = state()
    response = client_for(submitter).post("/api/v1/use-cases/", {**NEW_USE_CASE, "key": "credit-scoring"},
                                          format="json")
    assert_problem(response, 409, "duplicate-key")
    assert state() == before


def test_lists_show_only_the_use_cases_the_caller_may_see(submitter, outsider, auditor, use_case, other_use_case):
    assert [u["key"] for u in client_for(submitter).get("/api/v1/use-cases/").json()["results"]] == ["credit-scoring"]
    assert [u["key"] for u in client_for(outsider).get("/api/v1/use-cases/").json()["results"]] == ["cv-screening"]
    assert {u["key"] for u in client_for(auditor).get("/api/v1/use-cases/").json()["results"]} == {
        "credit-scoring", "cv-screening"}


def test_lists_filter_by_risk_class_and_refuse_an_unknown_one(auditor, use_case, other_use_case):
    client = client_for(auditor)
    assert client.get("/api/v1/use-cases/", {"owner_team": "talent"}).json()["results"][0]["key"] == "cv-screening"
    assert_problem(client.get("/api/v1/use-cases/", {"risk_class": "spicy"}), 400, "validation-failed")


def test_another_teams_use_case_is_404(outsider, use_case):
    assert_problem(client_for(outsider).get("/api/v1/use-cases/credit-scoring/"), 404, "not-found")


def test_update_records_before_and_after(submitter, use_case):
    response = client_for(submitter).patch("/api/v1/use-cases/credit-scoring/", {"name": "Credit scoring v2"},
                                           format="json")
    assert response.status_code == 200, response.json()
    entry = last_audit_entry()
    assert entry.action == Action.REGISTRY_USE_CASE_UPDATED
    assert entry.data["after"] == {"name": "Credit scoring v2"}


@pytest.mark.parametrize("payload, field", [({"key": "renamed"}, "key"), ({"owner_team": "talent"}, "owner_team"),
                                            ({"member_states": {"DE": True}}, "member_states")])
def test_update_refuses_fields_it_cannot_change_and_wrong_types(submitter, use_case, state, payload, field):
    before = state()
    response = client_for(submitter).patch("/api/v1/use-cases/credit-scoring/", payload, format="json")
    assert_problem(response, 400, "validation-failed", field=field)
    assert state() == before


def test_update_of_an_invisible_use_case_is_404(outsider, use_case, state):
    before = state()
    response = client_for(outsider).patch("/api/v1/use-cases/credit-scoring/", {"name": "x"}, format="json")
    assert_problem(response, 404, "not-found")
    assert state() == before


# --- classification and risk tier -------------------------------------------------------------------


def test_a_reviewer_classifies_and_the_decision_is_listed_and_audited(reviewer, use_case):
    client = client_for(reviewer)
    response = client.post("/api/v1/use-cases/credit-scoring/classifications/", CLASSIFICATION, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["risk_class"] == "high"
    assert response.json()["annex_iii_point"] == "III-5-b"
    entry = last_audit_entry()
    assert entry.action == Action.REGISTRY_USE_CASE_CLASSIFIED
    assert entry.data["risk_class"] == {"before": None, "after": "high"}
    listed = client.get("/api/v1/use-cases/credit-scoring/classifications/").json()["results"]
    assert [decision["risk_class"] for decision in listed] == ["high"]
    assert client.get("/api/v1/use-cases/credit-scoring/").json()["risk_class"] == "high"


@pytest.mark.parametrize("payload, field", [
    ({**CLASSIFICATION, "art5_answers": {**NO_ART5, "z": True}}, "art5_answers"),
    ({**CLASSIFICATION, "art5_answers": {"a": False}}, "art5_answers"),
    ({**CLASSIFICATION, "annex_i_safety_component": "maybe"}, "annex_i_safety_component"),
    ({**CLASSIFICATION, "annex_iii_code": "III-99"}, "annex_iii_code"),
    ({**CLASSIFICATION, "risk_class": "minimal"}, "risk_class"),
])
def test_classification_refuses_bad_input_400(reviewer, use_case, state, payload, field):
    before = state()
    response = client_for(reviewer).post("/api/v1/use-cases/credit-scoring/classifications/", payload, format="json")
    assert_problem(response, 400, "validation-failed", field=field)
    assert state() == before


def test_a_submitter_may_not_classify_403(submitter, use_case, state):
    before = state()
    response = client_for(submitter).post("/api/v1/use-cases/credit-scoring/classifications/", CLASSIFICATION,
                                          format="json")
    assert_problem(response, 403, "permission-denied")
    assert state() == before


def test_classifying_an_invisible_use_case_is_404(outsider, use_case, state):
    before = state()
    response = client_for(outsider).post("/api/v1/use-cases/credit-scoring/classifications/", CLASSIFICATION,
                                         format="json")
    assert_problem(response, 404, "not-found")
    assert state() == before


def test_a_reviewer_sets_the_risk_tier(reviewer, use_case, state):
    response = client_for(reviewer).put("/api/v1/use-cases/credit-scoring/risk-tier/",
                                        {"tier": "1", "rationale": "Material to lending decisions."}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["model_risk_tier"] == "1"
    assert last_audit_entry().action == Action.REGISTRY_USE_CASE_RISK_TIER_SET
    before = state()
    assert_problem(client_for(reviewer).put("/api/v1/use-cases/credit-scoring/risk-tier/", {"tier": "7"},
                                            format="json"), 400, "validation-failed", field="tier")
    assert state() == before


# --- models -----------------------------------------------------------------------------------------


def test_a_submitter_creates_a_model_and_it_is_audited(submitter, use_case):
    response = client_for(submitter).post("/api/v1/use-cases/credit-scoring/models/",
                                          {"key": "gbm", "name": "Gradient boosting"}, format="json")
    assert response.status_code == 201, response.json()
    entry = last_audit_entry()
    assert (entry.action, entry.data["key"], entry.data["use_case"]) == (Action.REGISTRY_MODEL_CREATED, "gbm",
                                                                         "credit-scoring")
    listed = client_for(submitter).get("/api/v1/models/", {"use_case": "credit-scoring"}).json()["results"]
    assert [m["key"] for m in listed] == ["gbm"]
    assert client_for(submitter).get("/api/v1/use-cases/credit-scoring/models/gbm/").json()["name"] == "Gradient boosting"


@pytest.mark.parametrize("client_kind, status, slug", [
    ("anonymous", 401, "not-authenticated"),
    ("outsider", 404, "not-found"),
    ("auditor", 403, "permission-denied"),
    ("bad-input", 400, "validation-failed"),
])
def test_model_create_refusals(submitter, outsider, auditor, use_case, state, client_kind, status, slug):
    client = {"anonymous": APIClient(), "outsider": client_for(outsider), "auditor": client_for(auditor),
              "bad-input": client_for(submitter)}[client_kind]
    payload = {"key": "gbm", "name": "GBM"} if client_kind != "bad-input" else {"key": ["gbm"], "name": "GBM"}
    before = state()
    assert_problem(client.post("/api/v1/use-cases/credit-scoring/models/", payload, format="json"), status, slug)
    assert state() == before
