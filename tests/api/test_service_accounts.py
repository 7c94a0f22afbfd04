"""Service accounts and API keys over the API (administrators only); the plaintext key is shown once."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey, ServiceAccount
from apps.audit.actions import Action
from apps.audit.models import AuditEntry

from .conftest import assert_problem, client_for, last_audit_entry

NEW_ACCOUNT = {"name": "training-pipeline", "team": "credit-risk", "scopes": ["read", "registry:write"],
               "allowed_use_cases": ["credit-scoring"], "description": "Nightly training."}


def counts():
    return (ServiceAccount.objects.count(), ApiKey.objects.count(), AuditEntry.objects.count())


def test_an_admin_creates_an_account_issues_a_key_and_the_key_works_once_shown(admin_user, use_case):
    client = client_for(admin_user)
    created = client.post("/api/v1/service-accounts/", NEW_ACCOUNT, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["allowed_use_cases"] == ["credit-scoring"]
    assert last_audit_entry().action == Action.ACCOUNTS_SERVICE_ACCOUNT_CREATED

    issued = client.post("/api/v1/service-accounts/training-pipeline/keys/", {"label": "ci"}, format="json")
    assert issued.status_code == 201, issued.json()
    assert issued["Cache-Control"] == "no-store"
    plaintext = issued.json()["key"]
    assert plaintext.startswith(issued.json()["prefix"] + "_")
    entry = last_audit_entry()
    assert entry.action == Action.ACCOUNTS_API_KEY_ISSUED
    assert plaintext not in str(entry.data)

    listed = client.get("/api/v1/service-accounts/training-pipeline/keys/").json()["results"]
    assert "key" not in listed[0]
    me = client_for(key=plaintext).get("/api/v1/me/").json()
    assert (me["service_account"], sorted(me["scopes"]), me["allowed_use_cases"]) == (
        "training-pipeline", ["read", "registry:write"], ["credit-scoring"])


def test_an_admin_revokes_a_key_and_it_stops_working(admin_user, make_key):
    api_key, plaintext = make_key()
    name = api_key.service_account.name
    response = client_for(admin_user).post(f"/api/v1/service-accounts/{name}/keys/{api_key.display_prefix}/revoke/",
                                           {"reason": "Leaked in a CI log."}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "revoked"
    assert last_audit_entry().action == Action.ACCOUNTS_API_KEY_REVOKED
    assert_problem(client_for(key=plaintext).get("/api/v1/me/"), 401, "authentication-failed")


def test_deactivating_an_account_is_audited(admin_user, make_key):
    api_key, _ = make_key()
    response = client_for(admin_user).post(f"/api/v1/service-accounts/{api_key.service_account.name}/deactivate/",
                                           {"reason": "Pipeline retired."}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["is_active"] is False
    assert last_audit_entry().action == Action.ACCOUNTS_SERVICE_ACCOUNT_DEACTIVATED


@pytest.mark.parametrize("payload, field", [
    ({**NEW_ACCOUNT, "scopes": ["root"]}, "scopes"),
    ({**NEW_ACCOUNT, "scopes": []}, "scopes"),
    ({**NEW_ACCOUNT, "allowed_use_cases": ["nope"]}, "allowed_use_cases"),
    ({**NEW_ACCOUNT, "team": "nope"}, "team"),
    ({**NEW_ACCOUNT, "name": "has space"}, "name"),
    ({**NEW_ACCOUNT, "superuser": True}, "superuser"),
])
def test_create_refuses_bad_input_400(admin_user, use_case, payload, field):
    before = counts()
    assert_problem(client_for(admin_user).post("/api/v1/service-accounts/", payload, format="json"), 400,
                   "validation-failed", field=field)
    assert counts() == before


def test_a_key_expiring_in_the_past_is_refused_400(admin_user, make_key):
    api_key, _ = make_key()
    before = counts()
    response = client_for(admin_user).post(f"/api/v1/service-accounts/{api_key.service_account.name}/keys/",
                                           {"expires_at": "2000-01-01T00:00:00Z"}, format="json")
    assert_problem(response, 400, "validation-failed", field="expires_at")
    assert counts() == before


@pytest.mark.parametrize("who, status, slug", [
    ("anonymous", 401, "not-authenticated"),
    ("submitter", 403, "permission-denied"),
    ("key", 403, "permission-denied"),
    ("auditor", 403, "permission-denied"),
])
def test_only_administrators_manage_accounts(submitter, auditor, make_key, use_case, who, status, slug):
    client = {"anonymous": lambda: APIClient(), "submitter": lambda: client_for(submitter),
              "key": lambda: client_for(key=make_key(scopes=["read", "registry:write"])[1]),
              "auditor": lambda: client_for(auditor)}[who]()
    before = counts()
    assert_problem(client.post("/api/v1/service-accounts/", NEW_ACCOUNT, format="json"), status, slug)
    assert counts() == before


def test_non_admins_cannot_list_accounts_but_auditors_can(submitter, auditor, make_key):
    make_key()
    assert_problem(client_for(submitter).get("/api/v1/service-accounts/"), 403, "permission-denied")
    assert len(client_for(auditor).get("/api/v1/service-accounts/").json()["results"]) == 1


def test_an_unknown_account_is_404(admin_user):
    assert_problem(client_for(admin_user).get("/api/v1/service-accounts/ghost/"), 404, "not-found")
