"""Model versions over the API: multipart registration with streamed hashing, every refusal of bad
input with its exact problem type and proof that nothing changed, immutability, visibility."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.actions import Action
from apps.registry.models import ModelVersion
from tests.factories.accounts import UserFactory

from .conftest import assert_problem, client_for, last_audit_entry, sha256

URL = "/api/v1/use-cases/credit-scoring/models/default-lr/versions/"


def form(content: bytes, name: str = "model.skops", **overrides) -> dict:
    fields = {
        "artifact": SimpleUploadedFile(name, content, content_type="application/octet-stream"),
        "declared_sha256": sha256(content),
        "framework": "scikit-learn",
        "framework_version": "1.5.2",
        "intended_use": "Scoring consumer loan applications, reviewed by a credit officer.",
    }
    fields.update(overrides)
    return {name: value for name, value in fields.items() if value is not None}


def post(client, data, url=URL):
    return client.post(url, data, format="multipart")


# --- success ----------------------------------------------------------------------------------------


def test_a_submitter_registers_a_skops_version_with_datasets_and_metrics_and_it_is_audited(
    submitter, model, dataset_versions, skops_bytes, media_files
):
    data = form(
        skops_bytes,
        datasets=json.dumps([{"dataset": "loans", "version": 1, "role": "train"},
                             {"dataset": "loans", "version": 2, "role": "test"}]),
        claimed_metrics=json.dumps([{"name": "auc", "value": 0.91, "dataset": "loans", "version": 2,
                                     "higher_is_better": True}]),
        hyperparameters=json.dumps({"C": 1.0}),
        features=json.dumps(["x0", "x1", "x2"]),
        training_code_repository="https://git.example.test/credit/scoring.git",
        training_code_commit="0123456789abcdef0123456789abcdef01234567",
    )
    response = post(client_for(submitter), data)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["Location"] == URL + "1/"
    assert body["number"] == 1
    assert body["artifact_sha256"] == sha256(skops_bytes)
    assert body["artifact_size"] == len(skops_bytes)
    assert body["artifact_format"] == "skops"
    assert body["registered_by"] == "sam-submitter"
    assert sorted((d["dataset"], d["version"], d["role"]) for d in body["datasets"]) == [("loans", 1, "train"),
                                                                                       ("loans", 2, "test")]
    assert body["claimed_metrics"] == [{"name": "auc", "value": 0.91, "dataset": "loans", "version": 2,
                                        "higher_is_better": True, "threshold_note": ""}]
    assert media_files() == [f"artifacts/{sha256(skops_bytes)}/model.skops"]
    entry = last_audit_entry()
    version = ModelVersion.objects.get()
    assert entry.action == Action.REGISTRY_MODEL_VERSION_REGISTERED
    assert (entry.subject_type, entry.subject_id) == ("registry.modelversion", str(version.pk))
    assert (entry.actor_type, entry.actor_id) == ("user", str(submitter.pk))
    assert entry.data["artifact"]["sha256"] == sha256(skops_bytes)
    assert entry.data["claimed_metrics"][0]["name"] == "auc"
    assert entry.request_id == response["X-Request-ID"]


def test_a_pipeline_key_registers_an_onnx_version_and_the_log_names_the_service_account(
    model, make_key, onnx_bytes
):
    api_key, plaintext = make_key()
    response = post(client_for(key=plaintext), form(onnx_bytes, name="model.onnx"))

    assert response.status_code == 201, response.json()
    assert response.json()["artifact_format"] == "onnx"
    entry = last_audit_entry()
    assert entry.action == Action.REGISTRY_MODEL_VERSION_REGISTERED
    assert (entry.actor_type, entry.actor_name) == ("service_account", api_key.service_account.name)


def test_named_developers_are_registered_and_shown_with_their_names(submitter, model, skops_bytes):
    UserFactory(username="dee-developer", first_name="Dee", last_name="Developer")
    UserFactory(username="ann-analyst", first_name="", last_name="")
    response = post(client_for(submitter), form(skops_bytes, developers='["dee-developer", "ann-analyst"]'))

    assert response.status_code == 201, response.json()
    expected = [{"username": "dee-developer", "display_name": "Dee Developer"},
                {"username": "ann-analyst", "display_name": "ann-analyst"}]  # no name: the username
    assert response.json()["developers"] == expected
    assert response.json()["registered_by"] == "sam-submitter"
    assert last_audit_entry().data["developers"] == ["dee-developer", "ann-analyst"]
    assert client_for(submitter).get(URL + "1/").json()["developers"] == expected
    assert client_for(submitter).get("/api/v1/model-versions/").json()["results"][0]["developers"] == expected


def test_without_developers_a_person_is_the_developer_and_a_pipeline_key_names_nobody(
    submitter, model, make_key, skops_bytes, onnx_bytes
):
    by_person = post(client_for(submitter), form(skops_bytes))
    assert by_person.status_code == 201, by_person.json()
    assert [person["username"] for person in by_person.json()["developers"]] == ["sam-submitter"]
    by_pipeline = post(client_for(key=make_key()[1]), form(onnx_bytes, name="model.onnx"))
    assert by_pipeline.status_code == 201, by_pipeline.json()
    assert by_pipeline.json()["developers"] == []


def test_a_correction_is_a_new_version_naming_its_parent(submitter, model, skops_bytes, onnx_bytes):
    client = client_for(submitter)
    assert post(client, form(skops_bytes)).status_code == 201
    response = post(client, form(onnx_bytes, name="model.onnx", parent="1"))
    assert response.status_code == 201, response.json()
    assert (response.json()["number"], response.json()["parent"]) == (2, 1)
    assert last_audit_entry().data["parent"] == 1


def test_versions_are_fetched_back_and_listed(submitter, model, skops_bytes):
    client = client_for(submitter)
    post(client, form(skops_bytes))
    detail = client.get(URL + "1/")
    assert detail.status_code == 200
    assert detail.json()["artifact_sha256"] == sha256(skops_bytes)
    listed = client.get(URL)
    assert [v["number"] for v in listed.json()["results"]] == [1]
    everywhere = client.get("/api/v1/model-versions/", {"artifact_sha256": sha256(skops_bytes)})
    assert [v["model"] for v in everywhere.json()["results"]] == ["default-lr"]


# --- refused uploads: exact problem, nothing stored, nothing logged ---------------------------------


@pytest.fixture
def refused(submitter, model, state, pickle_marker):
    """refused(data, status, slug) posts as the submitter and proves nothing changed."""

    def check(data, status, slug, *, client=None, field=None, url=URL):
        before = state()
        response = post(client or client_for(submitter), data, url=url)
        body = assert_problem(response, status, slug, field=field)
        assert state() == before
        assert not pickle_marker.exists()
        return body

    return check


def test_a_declared_sha256_that_does_not_match_is_refused_422(refused, skops_bytes):
    body = refused(form(skops_bytes, declared_sha256="0" * 64), 422, "checksum-mismatch")
    assert body["computed"] == sha256(skops_bytes)
    assert body["declared"] == "0" * 64


def test_a_declared_sha256_that_is_not_hex_is_refused_400(refused, skops_bytes):
    refused(form(skops_bytes, declared_sha256="not-a-hash"), 400, "validation-failed", field="declared_sha256")


def test_an_oversize_artifact_is_refused_413_before_it_is_stored(refused, skops_bytes, settings):
    settings.DOCKET_MAX_ARTIFACT_BYTES = 1024
    body = refused(form(skops_bytes), 413, "file-too-large")
    assert body["limit"] == 1024


def test_a_pickle_named_skops_is_refused_415_and_never_unpickled(refused, pickle_bytes):
    body = refused(form(pickle_bytes, name="model.skops"), 415, "refused-file-format")
    assert "pickle" in body["detail"].lower()
    assert "skops.io.dump" in body["detail"]


@pytest.mark.parametrize("fixture_name, untrusted", [
    ("skops_calling_eval", "builtins.eval"),
    ("skops_calling_system", "system"),
])
def test_a_skops_file_with_an_untrusted_type_is_refused_415_naming_it(refused, request, fixture_name, untrusted):
    content = request.getfixturevalue(fixture_name)
    body = refused(form(content), 415, "refused-file-format")
    assert any(untrusted in name for name in body["untrusted_types"]), body
    assert "allow-list" in body["detail"]


def test_an_untrusted_type_list_sent_with_the_upload_is_refused_as_an_unknown_field(refused, skops_calling_eval):
    refused(form(skops_calling_eval, trusted='["builtins.eval"]'), 400, "validation-failed", field="trusted")


def test_an_onnx_file_with_external_data_is_refused_415(refused, onnx_external_bytes):
    body = refused(form(onnx_external_bytes, name="model.onnx"), 415, "refused-file-format")
    assert "external data" in body["detail"]


def raw_multipart(fields: dict, *, file_field: str, file_name: str, content: bytes) -> tuple[bytes, str]:
    """A multipart body built by hand, because Django's test client shortens file names to their base name."""
    boundary = "docket-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("name", ["../../../etc/model.skops", "..\\..\\model.skops", "/tmp/model.skops", ".."])
def test_a_path_traversal_file_name_is_refused_400(submitter, model, skops_bytes, state, name):
    fields = {key: value for key, value in form(skops_bytes).items() if key != "artifact"}
    body, content_type = raw_multipart(fields, file_field="artifact", file_name=name, content=skops_bytes)
    before = state()
    response = client_for(submitter).generic("POST", URL, body, content_type=content_type)
    assert_problem(response, 400, "validation-failed", field="filename")
    assert state() == before


def test_an_unknown_field_is_refused_400(refused, skops_bytes):
    refused(form(skops_bytes, colour="blue"), 400, "validation-failed", field="colour")


@pytest.mark.parametrize("missing", ["artifact", "declared_sha256", "framework", "intended_use"])
def test_a_missing_required_field_is_refused_400(refused, skops_bytes, missing):
    refused(form(skops_bytes, **{missing: None}), 400, "validation-failed", field=missing)


@pytest.mark.parametrize("field, value", [
    ("hyperparameters", "{not json"),
    ("hyperparameters", "[1, 2]"),
    ("features", '{"a": 1}'),
    ("datasets", '[{"dataset": "loans", "version": "one", "role": "train"}]'),
    ("datasets", '[{"dataset": "loans", "version": 1, "role": "sideways"}]'),
    ("parent", "first"),
    ("claimed_metrics", '[{"name": "auc", "value": "high", "dataset": "loans", "version": 1}]'),
])
def test_wrong_types_are_refused_400(refused, skops_bytes, dataset_versions, field, value):
    refused(form(skops_bytes, **{field: value}), 400, "validation-failed", field=field)


@pytest.mark.parametrize("value, message", [
    ('["nobody-here"]', "There is no user named 'nobody-here'."),
    ('["svc.ci"]', "'svc.ci' is a service account; developers are people."),
    ('["dee-developer", "dee-developer"]', "'dee-developer' is named twice in developers."),
    ('["dee-developer", 7]', "developers[1] must be a username (got 7)."),
    (json.dumps([f"developer-{n}" for n in range(51)]), "At most 50 developers may be named (got 51)."),
], ids=["unknown-username", "service-account", "duplicate", "not-a-string", "51-names"])
def test_bad_developers_are_refused_400_naming_the_problem(refused, skops_bytes, value, message):
    """Tried: an unknown username, a service account, the same name twice, a number in the list, 51 names."""
    from apps.accounts.models import User

    UserFactory(username="dee-developer")
    User.objects.create(username="svc.ci", kind=User.Kind.SERVICE)
    body = refused(form(skops_bytes, developers=value), 400, "validation-failed", field="developers")
    assert message in " ".join(body["errors"]["developers"]), body


@pytest.mark.parametrize("value", ['"dee-developer"', '{"dee-developer": 1}', "dee-developer"],
                         ids=["json-string", "json-object", "not-json"])
def test_developers_that_are_not_a_json_array_are_refused_400(refused, skops_bytes, value):
    refused(form(skops_bytes, developers=value), 400, "validation-failed", field="developers")


def test_a_dataset_version_the_caller_may_not_see_is_refused_400(refused, skops_bytes, other_team):
    from tests.factories.registry import DatasetFactory, DatasetVersionFactory

    DatasetVersionFactory(dataset=DatasetFactory(key="cvs", owner_team=other_team), number=1)
    refused(form(skops_bytes, datasets='[{"dataset": "cvs", "version": 1, "role": "train"}]'), 400,
            "validation-failed", field="datasets[0]")


def test_a_metric_on_an_unlinked_dataset_is_refused_400(refused, skops_bytes, dataset_versions):
    refused(form(skops_bytes, datasets='[{"dataset": "loans", "version": 1, "role": "train"}]',
                 claimed_metrics='[{"name": "auc", "value": 0.9, "dataset": "loans", "version": 2}]'),
            400, "validation-failed", field="claimed_metrics[0]")


def test_a_json_body_is_refused_415_because_the_artifact_must_be_uploaded(submitter, model, state):
    before = state()
    response = client_for(submitter).post(URL, {"framework": "x"}, format="json")
    assert_problem(response, 415, "unsupported-media-type")
    assert state() == before


def test_a_malformed_multipart_body_is_refused_400(submitter, model, state):
    before = state()
    response = client_for(submitter).generic(
        "POST", URL, b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
        content_type="multipart/form-data; boundary=xyz",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert state() == before


# --- who may register -------------------------------------------------------------------------------


def test_without_credentials_registration_is_401(refused, skops_bytes):
    from rest_framework.test import APIClient

    body = refused(form(skops_bytes), 401, "not-authenticated", client=APIClient())
    assert body["title"]


def test_a_submitter_of_another_team_gets_404_not_403(refused, outsider, skops_bytes):
    refused(form(skops_bytes), 404, "not-found", client=client_for(outsider))


def test_an_auditor_sees_the_model_but_is_refused_403(refused, auditor, skops_bytes):
    refused(form(skops_bytes), 403, "permission-denied", client=client_for(auditor))


def test_a_read_only_key_is_refused_403_naming_the_scope(refused, make_key, skops_bytes):
    body = refused(form(skops_bytes), 403, "permission-denied", client=client_for(key=make_key(scopes=["read"])[1]))
    assert "registry:write" in body["detail"]


def test_a_key_limited_to_another_use_case_gets_404(refused, make_key, other_use_case, skops_bytes):
    _, plaintext = make_key(allowed_use_cases=[other_use_case])
    refused(form(skops_bytes), 404, "not-found", client=client_for(key=plaintext))


# --- immutability -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_registered_version_cannot_be_changed_409(submitter, model, skops_bytes, state, method):
    client = client_for(submitter)
    post(client, form(skops_bytes))
    before = state()
    response = getattr(client, method)(URL + "1/", {"framework": "pytorch"}, format="json")
    body = assert_problem(response, 409, "immutable-record")
    assert "parent=1" in body["detail"]
    assert state() == before
    assert ModelVersion.objects.get().framework == "scikit-learn"


def test_changing_a_version_the_caller_may_not_see_is_404(submitter, outsider, model, skops_bytes):
    post(client_for(submitter), form(skops_bytes))
    assert_problem(client_for(outsider).patch(URL + "1/", {}, format="json"), 404, "not-found")


def test_an_invisible_version_is_404_with_the_same_answer_as_a_missing_one(submitter, outsider, model, skops_bytes):
    post(client_for(submitter), form(skops_bytes))
    hidden = client_for(outsider).get(URL + "1/").json()
    missing = client_for(outsider).get(URL + "9/").json()
    assert hidden["type"] == missing["type"] == "https://docket.dev/problems/not-found"
    assert hidden["detail"].replace("1", "N") == missing["detail"].replace("9", "N")
