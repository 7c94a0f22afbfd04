"""API keys: expired, revoked, deactivated, malformed, out of scope, limited to other use cases."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from .conftest import assert_problem, client_for


def test_an_expired_key_is_401_saying_so(make_key, use_case, state):
    _, plaintext = make_key(expires_at=timezone.now() - dt.timedelta(minutes=1))
    before = state()
    body = assert_problem(client_for(key=plaintext).post("/api/v1/use-cases/credit-scoring/models/",
                                                          {"key": "m", "name": "M"}, format="json"),
                          401, "authentication-failed")
    assert "expired" in body["detail"]
    assert state() == before


def test_a_revoked_key_is_401_saying_so(make_key, use_case, state):
    _, plaintext = make_key(revoked_at=timezone.now(), revocation_reason="Leaked.")
    before = state()
    body = assert_problem(client_for(key=plaintext).post("/api/v1/use-cases/credit-scoring/models/",
                                                          {"key": "m", "name": "M"}, format="json"),
                          401, "authentication-failed")
    assert "revoked" in body["detail"]
    assert state() == before


@pytest.mark.parametrize("header", ["Bearer", "Bearer dkt_nope_nope", "Bearer a b", "Bearer dkt_zzzzzzzz_" + "x" * 43])
def test_malformed_or_unknown_keys_are_401(header, use_case):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/use-cases/")
    assert_problem(response, 401, "authentication-failed")
    assert response["WWW-Authenticate"] == 'Bearer realm="docket"'


def test_a_key_without_read_scope_cannot_list_403(make_key, use_case):
    _, plaintext = make_key(scopes=["registry:write"])
    body = assert_problem(client_for(key=plaintext).get("/api/v1/use-cases/"), 403, "permission-denied")
    assert "read" in body["detail"]


def test_a_key_limited_to_one_use_case_sees_only_that_one(make_key, use_case, team):
    from tests.factories.registry import UseCaseFactory

    UseCaseFactory(key="second-team-use-case", owner_team=team)
    _, unlimited = make_key()
    _, limited = make_key(allowed_use_cases=[use_case])
    assert {u["key"] for u in client_for(key=unlimited).get("/api/v1/use-cases/").json()["results"]} == {
        "credit-scoring", "second-team-use-case"}
    assert [u["key"] for u in client_for(key=limited).get("/api/v1/use-cases/").json()["results"]] == [
        "credit-scoring"]
    assert_problem(client_for(key=limited).get("/api/v1/use-cases/second-team-use-case/"), 404, "not-found")


def test_a_key_of_another_team_does_not_see_the_use_case(make_key, use_case, other_team, state):
    _, plaintext = make_key(owner=other_team)
    before = state()
    assert_problem(client_for(key=plaintext).post("/api/v1/use-cases/credit-scoring/models/",
                                                  {"key": "m", "name": "M"}, format="json"), 404, "not-found")
    assert state() == before


def test_unknown_urls_and_methods_answer_problem_json(submitter):
    assert_problem(client_for(submitter).get("/api/v1/no-such-thing/"), 404, "not-found")
    assert_problem(client_for(submitter).delete("/api/v1/use-cases/"), 405, "method-not-allowed")
