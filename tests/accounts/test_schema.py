import pytest
from rest_framework.test import APIClient

from tests.factories.accounts import api_key_with_plaintext

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_describes_bearer_api_keys_and_is_served_to_a_key():
    _, plaintext = api_key_with_plaintext()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    scheme = response.json()["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_the_schema_endpoint_refuses_a_wrong_key_with_problem_json():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer dkt_abcdefgh_" + "x" * 43)

    response = client.get("/api/schema/")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
