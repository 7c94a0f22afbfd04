"""Datasets and dataset versions over the API: declared facts (JSON) or an uploaded CSV/Parquet file."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.audit.actions import Action
from apps.registry.models import DatasetVersion
from tests.factories.registry import DatasetFactory, DatasetVersionFactory

from .conftest import assert_problem, client_for, last_audit_entry, sha256

CSV = b"age,income,label\n31,42000.5,1\n45,51000,0\n"
DECLARED = {
    "content_sha256": "a" * 64,
    "row_count": 1000,
    "schema": [{"name": "age", "type": "integer"}, {"name": "label", "type": "integer"}],
}


def test_a_submitter_creates_a_dataset_and_it_is_audited(submitter, team):
    response = client_for(submitter).post("/api/v1/datasets/", {"key": "loans", "name": "Loans",
                                                                "owner_team": "credit-risk"}, format="json")
    assert response.status_code == 201, response.json()
    entry = last_audit_entry()
    assert (entry.action, entry.data["key"], entry.data["owner_team"]) == (Action.REGISTRY_DATASET_CREATED,
                                                                           "loans", "credit-risk")


@pytest.mark.parametrize("client_kind, payload, status, slug", [
    ("anonymous", {"key": "loans", "name": "Loans", "owner_team": "credit-risk"}, 401, "not-authenticated"),
    ("outsider", {"key": "loans", "name": "Loans", "owner_team": "credit-risk"}, 403, "permission-denied"),
    ("submitter", {"key": "loans", "name": "Loans", "owner_team": "credit-risk", "rows": 3}, 400,
     "validation-failed"),
    ("submitter", {"key": "loans", "owner_team": "credit-risk"}, 400, "validation-failed"),
    ("submitter", {"key": "lo ans", "name": "Loans", "owner_team": "credit-risk"}, 400, "validation-failed"),
])
def test_dataset_create_refusals(submitter, outsider, team, state, client_kind, payload, status, slug):
    client = {"anonymous": APIClient(), "outsider": client_for(outsider), "submitter": client_for(submitter)}[client_kind]
    before = state()
    assert_problem(client.post("/api/v1/datasets/", payload, format="json"), status, slug)
    assert state() == before


def test_a_version_with_declared_facts_is_registered_as_json_and_audited(submitter, dataset):
    response = client_for(submitter).post("/api/v1/datasets/loans/versions/", DECLARED, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["number"] == 1
    assert response.json()["has_file"] is False
    entry = last_audit_entry()
    assert entry.action == Action.REGISTRY_DATASET_VERSION_REGISTERED
    assert entry.subject_id == str(DatasetVersion.objects.get().pk)
    assert entry.data["content_sha256"] == "a" * 64


def test_a_version_with_a_csv_file_reads_schema_and_rows_from_it(submitter, dataset, media_files):
    response = client_for(submitter).post(
        "/api/v1/datasets/loans/versions/",
        {"file": SimpleUploadedFile("loans.csv", CSV), "content_sha256": sha256(CSV),
         "datasheet": '{"motivation": "Credit decisions."}'},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["row_count"], body["content_sha256"], body["file_format"]) == (2, sha256(CSV), "csv")
    assert [column["name"] for column in body["schema"]] == ["age", "income", "label"]
    assert body["datasheet"] == {"motivation": "Credit decisions."}
    assert media_files() == [f"datasets/{sha256(CSV)}/loans.csv"]
    assert last_audit_entry().data["file"]["format"] == "csv"


@pytest.mark.parametrize("payload, field", [
    ({**DECLARED, "row_count": "many"}, "row_count"),
    ({**DECLARED, "row_count": -1}, "row_count"),
    ({**DECLARED, "schema": {"age": "integer"}}, "schema"),
    ({**DECLARED, "schema": [{"name": "age", "type": "complex"}]}, "schema"),
    ({**DECLARED, "content_sha256": "xyz"}, "content_sha256"),
    ({**DECLARED, "contains_personal_data": True}, "legal_basis"),
    ({**DECLARED, "retention_until": "yesterday"}, "retention_until"),
    ({**DECLARED, "colour": "blue"}, "colour"),
    ({"row_count": 3}, "content_sha256"),
])
def test_dataset_version_refuses_bad_input_400(submitter, dataset, state, payload, field):
    before = state()
    response = client_for(submitter).post("/api/v1/datasets/loans/versions/", payload, format="json")
    assert_problem(response, 400, "validation-failed", field=field)
    assert state() == before


def test_a_file_whose_declared_hash_differs_is_refused_422(submitter, dataset, state):
    before = state()
    response = client_for(submitter).post("/api/v1/datasets/loans/versions/",
                                          {"file": SimpleUploadedFile("loans.csv", CSV), "content_sha256": "b" * 64},
                                          format="multipart")
    assert_problem(response, 422, "checksum-mismatch")
    assert state() == before


def test_an_oversize_dataset_file_is_refused_413(submitter, dataset, state, settings):
    settings.DOCKET_MAX_DATASET_FILE_BYTES = 10
    before = state()
    response = client_for(submitter).post("/api/v1/datasets/loans/versions/",
                                          {"file": SimpleUploadedFile("loans.csv", CSV)}, format="multipart")
    assert_problem(response, 413, "file-too-large")
    assert state() == before


def test_a_pickle_as_a_dataset_file_is_refused_415(submitter, dataset, state, pickle_bytes, pickle_marker):
    before = state()
    response = client_for(submitter).post("/api/v1/datasets/loans/versions/",
                                          {"file": SimpleUploadedFile("loans.csv", pickle_bytes)}, format="multipart")
    assert_problem(response, 415, "refused-file-format")
    assert state() == before
    assert not pickle_marker.exists()


def test_another_teams_dataset_is_404_for_reads_and_writes(outsider, dataset, state):
    client = client_for(outsider)
    assert_problem(client.get("/api/v1/datasets/loans/"), 404, "not-found")
    before = state()
    assert_problem(client.post("/api/v1/datasets/loans/versions/", DECLARED, format="json"), 404, "not-found")
    assert state() == before


def test_registering_without_credentials_is_401(dataset, state):
    before = state()
    assert_problem(APIClient().post("/api/v1/datasets/loans/versions/", DECLARED, format="json"), 401,
                   "not-authenticated")
    assert state() == before


def test_versions_are_listed_filtered_and_fetched(submitter, dataset_versions):
    client = client_for(submitter)
    listed = client.get("/api/v1/datasets/loans/versions/").json()["results"]
    assert [v["number"] for v in listed] == [1, 2]
    wanted = dataset_versions[1].content_sha256
    assert [v["number"] for v in client.get("/api/v1/datasets/loans/versions/",
                                            {"content_sha256": wanted}).json()["results"]] == [2]
    assert client.get("/api/v1/datasets/loans/versions/2/").json()["content_sha256"] == wanted


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_registered_dataset_version_cannot_be_changed_409(submitter, dataset_versions, state, method):
    before = state()
    response = getattr(client_for(submitter), method)("/api/v1/datasets/loans/versions/1/", {"row_count": 5},
                                                      format="json")
    assert_problem(response, 409, "immutable-record")
    assert state() == before


def test_lifecycle_changes_through_its_endpoint_and_is_audited(submitter, dataset_versions, state):
    client = client_for(submitter)
    response = client.post("/api/v1/datasets/loans/versions/1/lifecycle/",
                           {"state": "pseudonymised", "reason": "Art. 17 request."}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["lifecycle_state"] == "pseudonymised"
    entry = last_audit_entry()
    assert (entry.action, entry.data["before"], entry.data["after"]) == (
        Action.REGISTRY_DATASET_VERSION_LIFECYCLE_CHANGED, "active", "pseudonymised")
    before = state()
    assert_problem(client.post("/api/v1/datasets/loans/versions/1/lifecycle/",
                               {"state": "active", "reason": "undo"}, format="json"), 409, "conflict")
    assert_problem(client.post("/api/v1/datasets/loans/versions/1/lifecycle/", {"state": "deleted"}, format="json"),
                   400, "validation-failed")
    assert state() == before


def test_retention_until_must_be_a_future_date(submitter, dataset, state):
    before = state()
    past = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    payload = {**DECLARED, "contains_personal_data": True, "legal_basis": "b", "retention_until": past}
    response = client_for(submitter).post("/api/v1/datasets/loans/versions/", payload, format="json")
    assert_problem(response, 400, "validation-failed", field="retention_until")
    assert state() == before


# --- derived_from -------------------------------------------------------------------------------------


@pytest.fixture
def sources(team, other_team):
    """raw-applications v1 (the submitter's team) and hr-records v1 (another team's, not visible)."""
    return (DatasetVersionFactory(dataset=DatasetFactory(key="raw-applications", owner_team=team), number=1),
            DatasetVersionFactory(dataset=DatasetFactory(key="hr-records", owner_team=other_team), number=1))


def test_a_version_derived_from_others_is_registered_201_and_lists_them(submitter, dataset, sources):
    raw, _ = sources
    client = client_for(submitter)
    response = client.post("/api/v1/datasets/loans/versions/",
                           {**DECLARED, "derived_from": [{"dataset": "raw-applications", "version": 1}]}, format="json")
    assert response.status_code == 201, response.json()
    expected = [{"dataset": "raw-applications", "version": 1, "content_sha256": raw.content_sha256}]
    assert response.json()["derived_from"] == expected
    assert client.get("/api/v1/datasets/loans/versions/1/").json()["derived_from"] == expected
    assert client.get("/api/v1/datasets/loans/versions/").json()["results"][0]["derived_from"] == expected
    assert client.get("/api/v1/datasets/raw-applications/versions/1/").json()["derived_from"] == []
    assert last_audit_entry().data["derived_from"] == expected
    assert list(DatasetVersion.objects.get(dataset=dataset).derived_from.all()) == [raw]


def test_derived_from_sent_as_json_text_in_a_multipart_upload_is_accepted(submitter, dataset, sources):
    response = client_for(submitter).post(
        "/api/v1/datasets/loans/versions/",
        {"file": SimpleUploadedFile("loans.csv", CSV, content_type="text/csv"), "content_sha256": sha256(CSV),
         "derived_from": '[{"dataset": "raw-applications", "version": 1}]'},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert [(s["dataset"], s["version"]) for s in response.json()["derived_from"]] == [("raw-applications", 1)]


@pytest.mark.parametrize("derived_from, message", [
    ([{"dataset": "raw-applications", "version": 9}], "no version 9 of dataset 'raw-applications' that you may see"),
    ([{"dataset": "hr-records", "version": 1}], "no version 1 of dataset 'hr-records' that you may see"),
    ([{"dataset": "raw-applications", "version": 1}] * 2, "is named twice in derived_from"),
    ([{"dataset": "raw-applications", "version": 1}] * 51, "At most 50 source dataset versions"),
    ({"dataset": "raw-applications", "version": 1}, "derived_from"),
    ("raw-applications@1", "derived_from"),
    (["raw-applications@1"], "derived_from"),
    ([{"dataset": "raw-applications"}], "derived_from"),
    ([{"dataset": "raw-applications", "version": 0}], "derived_from"),
    ([{"dataset": "raw-applications", "version": 1, "role": "train"}], "derived_from"),
])
def test_bad_derived_from_is_refused_400_and_changes_nothing(submitter, dataset, sources, state, derived_from,
                                                             message):
    """Unknown version, another team's invisible dataset (worded like an unknown one), a duplicate, 51
    sources, not a list, a "key@n" string instead of an object, a missing or non-positive version, an
    unknown field."""
    before = state()
    response = client_for(submitter).post("/api/v1/datasets/loans/versions/",
                                          {**DECLARED, "derived_from": derived_from}, format="json")
    body = assert_problem(response, 400, "validation-failed", field="derived_from")
    assert message in json.dumps(body), body
    assert state() == before
