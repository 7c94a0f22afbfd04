import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.authentication import INVALID_KEY_MESSAGE, LAST_USED_RESOLUTION
from apps.accounts.models import ApiKey
from apps.accounts.roles import Role
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM
from tests.factories.accounts import ServiceAccountFactory, UserFactory, api_key_with_plaintext

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

PROBLEM = "application/problem+json"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def assert_refused(response, detail: str):
    assert response.status_code == 401
    assert response["Content-Type"].startswith(PROBLEM)
    assert response["WWW-Authenticate"] == 'Bearer realm="docket"'
    body = response.json()
    assert body["type"] == "https://docket.dev/problems/authentication-failed"
    assert body["status"] == 401
    assert body["detail"] == detail


def test_a_valid_key_authenticates_as_the_service_account_user():
    api_key, plaintext = api_key_with_plaintext(service_account=ServiceAccountFactory(name="ci"))

    response = bearer(plaintext).get("/whoami")

    assert response.status_code == 200
    assert response.json() == {"username": "svc.ci", "key": api_key.display_prefix}


def test_a_key_issued_by_the_service_authenticates():
    account = ServiceAccountFactory()
    _, plaintext = services.api_key_issue(actor=SYSTEM, service_account=account)

    assert bearer(plaintext).get("/whoami").status_code == 200


def test_without_credentials_the_answer_is_401_with_a_bearer_challenge():
    response = APIClient().get("/whoami")

    assert response.status_code == 401
    assert response["Content-Type"].startswith(PROBLEM)
    assert response["WWW-Authenticate"] == 'Bearer realm="docket"'
    assert response.json()["type"] == "https://docket.dev/problems/not-authenticated"


def test_a_wrong_secret_for_a_real_prefix_is_refused_like_an_unknown_key():
    _, plaintext = api_key_with_plaintext()
    tampered = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    unknown_prefix = "dkt_zzzzzzzz_" + plaintext.split("_", 2)[2]

    assert_refused(bearer(tampered).get("/whoami"), INVALID_KEY_MESSAGE)
    assert_refused(bearer(unknown_prefix).get("/whoami"), INVALID_KEY_MESSAGE)


@pytest.mark.parametrize(
    "key",
    ["not-a-docket-key", "dkt_short_abc", "dkt_UPPERCAS_" + "a" * 43, "ghp_" + "a" * 40],
    ids=["free-text", "too-short", "uppercase-prefix", "foreign-token"],
)
def test_a_malformed_key_is_refused(key):
    assert_refused(bearer(key).get("/whoami"), INVALID_KEY_MESSAGE)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer two parts", "Bearer dkt_abcdefgh_\u00e9\u00e9\u00e9"],
    ids=["no-token", "token-with-space", "non-ascii-token"],
)
def test_a_malformed_authorization_header_is_refused(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/whoami")

    assert response.status_code == 401
    assert response["Content-Type"].startswith(PROBLEM)
    assert "Malformed Authorization header" in response.json()["detail"]


def test_a_revoked_key_is_refused_and_says_so():
    admin = UserFactory(roles=[Role.ADMIN])
    api_key, plaintext = api_key_with_plaintext()
    assert bearer(plaintext).get("/whoami").status_code == 200

    services.api_key_revoke(actor=admin, api_key=api_key, reason="leaked")

    assert_refused(bearer(plaintext).get("/whoami"), f"This API key ({api_key.display_prefix}) has been revoked.")


def test_an_expired_key_is_refused():
    api_key, plaintext = api_key_with_plaintext(expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = bearer(plaintext).get("/whoami")

    assert_refused(response, f"This API key ({api_key.display_prefix}) expired at {api_key.expires_at.isoformat()}.")


def test_a_key_of_a_deactivated_service_account_is_refused():
    admin = UserFactory(roles=[Role.ADMIN])
    account = ServiceAccountFactory(name="old-pipeline")
    _, plaintext = api_key_with_plaintext(service_account=account)

    services.service_account_deactivate(actor=admin, service_account=account)

    assert_refused(bearer(plaintext).get("/whoami"), "The service account old-pipeline is deactivated.")


def test_a_refused_key_writes_nothing():
    api_key, plaintext = api_key_with_plaintext(expires_at=timezone.now() - dt.timedelta(days=1))

    bearer(plaintext).get("/whoami")

    api_key.refresh_from_db()
    assert api_key.last_used_at is None
    assert AuditEntry.objects.count() == 0


def test_last_used_at_is_written_at_most_once_a_minute():
    api_key, plaintext = api_key_with_plaintext()
    client = bearer(plaintext)

    client.get("/whoami")
    api_key.refresh_from_db()
    first_use = api_key.last_used_at
    assert first_use is not None

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/whoami").status_code == 200
    assert not any(query["sql"].lstrip().upper().startswith("UPDATE") for query in queries.captured_queries)
    api_key.refresh_from_db()
    assert api_key.last_used_at == first_use

    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=first_use - LAST_USED_RESOLUTION)
    client.get("/whoami")
    api_key.refresh_from_db()
    assert api_key.last_used_at > first_use


def test_session_sign_in_still_works_for_people():
    person = UserFactory(username="pat")
    client = APIClient()
    client.force_login(person)

    response = client.get("/whoami")

    assert response.status_code == 200
    assert response.json() == {"username": "pat", "key": None}


# --- scopes ------------------------------------------------------------------------------------------


def test_require_scope_lets_a_key_with_the_scope_through_and_refuses_one_without():
    _, with_scope = api_key_with_plaintext(service_account=ServiceAccountFactory(scopes=["gate:check"]))
    _, without = api_key_with_plaintext(service_account=ServiceAccountFactory(scopes=["read", "registry:write"]))

    assert bearer(with_scope).post("/gate-check").status_code == 200
    refused = bearer(without).post("/gate-check")
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith(PROBLEM)
    assert refused.json()["detail"] == "This API key lacks the scope gate:check that this endpoint requires."


def test_has_scope_reads_the_scopes_a_view_declares_per_method():
    _, reader = api_key_with_plaintext(service_account=ServiceAccountFactory(scopes=["read"]))
    _, writer = api_key_with_plaintext(service_account=ServiceAccountFactory(scopes=["registry:write"]))

    assert bearer(reader).get("/registry").status_code == 200
    assert bearer(reader).post("/registry").status_code == 403
    assert bearer(writer).post("/registry").status_code == 201
    assert bearer(writer).get("/registry").status_code == 403


def test_scopes_do_not_limit_people_signed_in_with_a_session():
    client = APIClient()
    client.force_login(UserFactory())

    assert client.post("/gate-check").status_code == 200
