"""The OpenAPI 3 schema describes the registry and accounts API and is valid."""

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from .conftest import client_for


def test_the_schema_validates_and_names_every_registry_endpoint(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    paths = schema["paths"]
    for path in ["/api/v1/use-cases/", "/api/v1/use-cases/{key}/classifications/",
                 "/api/v1/use-cases/{use_case}/models/{model}/versions/", "/api/v1/model-versions/",
                 "/api/v1/datasets/{key}/versions/", "/api/v1/deployments/", "/api/v1/service-accounts/{name}/keys/",
                 "/api/v1/me/"]:
        assert path in paths, path
    upload = paths["/api/v1/use-cases/{use_case}/models/{model}/versions/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    assert "apiKey" in schema["components"]["securitySchemes"]


def test_the_schema_is_served_to_signed_in_callers(submitter):
    response = client_for(submitter).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
