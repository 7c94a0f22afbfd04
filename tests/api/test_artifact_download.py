"""Downloading a model version's artifact: the exact registered bytes with their SHA-256, only for those
who may see the version, and never when the stored file no longer matches what was registered."""

from __future__ import annotations

import hashlib

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEntry

from .conftest import assert_problem, client_for
from .test_model_versions import URL, form, post

ARTIFACT = URL + "1/artifact/"


@pytest.fixture
def registered(submitter, model, skops_bytes, media_files):
    response = post(client_for(submitter), form(skops_bytes, name="credit model.skops"))
    assert response.status_code == 201, response.content
    return skops_bytes


def test_the_artifact_downloads_byte_for_byte_with_its_sha256(submitter, registered):
    entries = AuditEntry.objects.count()
    response = client_for(submitter).get(ARTIFACT)
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and body == registered
    digest = hashlib.sha256(registered).hexdigest()
    assert response["X-Content-SHA256"] == digest and response["ETag"] == f'"{digest}"'
    assert response["Content-Type"] == "application/octet-stream"
    assert 'attachment; filename="credit model.skops"' in response["Content-Disposition"]
    assert AuditEntry.objects.count() == entries  # a read, not a change


def test_a_read_key_downloads_and_a_key_without_read_is_403(make_key, registered):
    _, reader = make_key(scopes=["read"])
    assert client_for(key=reader).get(ARTIFACT).status_code == 200
    _, writer_only = make_key(scopes=["registry:write"])
    assert_problem(client_for(key=writer_only).get(ARTIFACT), 403, "permission-denied")


@pytest.mark.parametrize("who, status, slug", [
    ("anonymous", 401, "not-authenticated"),
    ("outsider", 404, "not-found"),
])
def test_who_may_not_see_the_version_gets_no_bytes(outsider, registered, who, status, slug):
    client = APIClient() if who == "anonymous" else client_for(outsider)
    assert_problem(client.get(ARTIFACT), status, slug)


def test_an_unknown_version_is_404(submitter, registered):
    assert_problem(client_for(submitter).get(URL + "9/artifact/"), 404, "not-found")


def test_a_damaged_stored_artifact_is_refused_409_and_not_served(submitter, registered, caplog):
    from apps.registry.models import ModelVersion

    stored = ModelVersion.objects.get().artifact
    with open(stored.path, "r+b") as handle:  # someone with access to the storage flips a byte
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))
    response = client_for(submitter).get(ARTIFACT)
    problem = assert_problem(response, 409, "stored-artifact-damaged")
    assert "not the registered" in problem["detail"]
    assert "is damaged" in caplog.text
