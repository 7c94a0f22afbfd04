import pytest

from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def test_login_page_is_served_to_anonymous_visitors(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in to Docket" in response.content


def test_home_redirects_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_wrong_password_shows_an_error_and_does_not_sign_in(client):
    UserFactory(username="alice")
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_signed_in_user_sees_their_name_and_roles_on_home(client):
    user = UserFactory(username="alice", first_name="Alice", last_name="Smith", roles=["auditor"])
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Alice Smith" in response.content and b"auditor" in response.content


def test_health_endpoint_reports_database_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_request_id_is_echoed_when_well_formed_and_replaced_when_not(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="pipeline-run-42").headers["X-Request-ID"] == "pipeline-run-42"
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces").headers["X-Request-ID"]
    assert replaced != "bad id with spaces" and len(replaced) == 32
