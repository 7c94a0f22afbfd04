"""The lineage API: OpenLineage ingestion over HTTP (valid, invalid schema, unknown dataset, duplicate,
gzip, missing scope, oversized), the queries and their bad inputs, and permission filtering (hidden nodes
counted, never revealed)."""

from __future__ import annotations

import gzip
import json

import pytest
from django.utils import timezone

from apps.accounts.scopes import Scope
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM
from apps.lineage.models import Edge, Node, NodeKind, OpenLineageEvent
from apps.registry import services as registry

from .conftest import client_for, grant_view, register_dataset_version, run_event

PROBLEM = "https://docket.dev/problems/"


def post_event(client, body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.generic("POST", "/api/v1/lineage", data, content_type="application/json", **headers)


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM + slug
    return body


def nothing_ingested(audit_before: int) -> bool:
    return not OpenLineageEvent.objects.exists() and not Edge.objects.exists() and \
        AuditEntry.objects.count() == audit_before


# --- ingestion --------------------------------------------------------------------------------------


def test_a_valid_event_is_stored_with_201_and_audited(make_key):
    _, key = make_key()
    response = post_event(client_for(key=key), run_event(inputs=[("pg", "public.loans")], outputs=[("s3://f", "x")]))
    assert response.status_code == 201 and response.json()["created"] is True
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == Action.LINEAGE_EVENT_INGESTED and entry.actor_type == "service_account"
    assert Node.objects.filter(kind=NodeKind.EXTERNAL_DATASET).count() == 2


def test_a_gzipped_event_is_accepted(make_key):
    _, key = make_key()
    body = gzip.compress(json.dumps(run_event(inputs=[("pg", "a")])).encode())
    response = post_event(client_for(key=key), body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201


def test_a_duplicate_delivery_answers_200_and_records_nothing(make_key):
    _, key = make_key()
    client = client_for(key=key)
    body = run_event(inputs=[("pg", "a")], outputs=[("pg", "b")])
    assert post_event(client, body).status_code == 201
    counts = (Edge.objects.count(), AuditEntry.objects.count())
    again = post_event(client, body)
    assert again.status_code == 200 and again.json()["created"] is False
    assert (Edge.objects.count(), AuditEntry.objects.count()) == counts


def test_an_event_breaking_the_schema_is_a_400_naming_the_path(make_key):
    _, key = make_key()
    body = run_event(inputs=[("pg", "a")])
    body["inputs"][0]["namespace"] = 42
    problem = assert_problem(post_event(client_for(key=key), body), 400, "validation-failed")
    assert problem["failing_path"] == "/inputs/0/namespace" and "/inputs/0/namespace" in problem["errors"]
    assert nothing_ingested(0)


def test_malformed_json_and_bad_gzip_are_400(make_key):
    _, key = make_key()
    assert_problem(post_event(client_for(key=key), b"{not json"), 400, "validation-failed")
    assert_problem(post_event(client_for(key=key), b"\x1f\x8bnope", HTTP_CONTENT_ENCODING="gzip"), 400,
                   "validation-failed")
    assert nothing_ingested(0)


def test_an_unknown_dataset_becomes_an_external_node(make_key):
    _, key = make_key()
    post_event(client_for(key=key), run_event(inputs=[("bigquery", "proj.ds.unknown_table")]))
    node = Node.objects.get(kind=NodeKind.EXTERNAL_DATASET)
    assert (node.namespace, node.name) == ("bigquery", "proj.ds.unknown_table") and node.dataset_version is None


def test_a_key_without_lineage_write_is_forbidden(make_key):
    _, key = make_key(scopes=[Scope.READ])
    problem = assert_problem(post_event(client_for(key=key), run_event()), 403, "permission-denied")
    assert "lineage:write" in problem["detail"]
    assert nothing_ingested(0)


def test_no_credentials_is_401(db):
    assert_problem(post_event(client_for(), run_event()), 401, "not-authenticated")


def test_an_oversized_event_is_413(make_key, settings):
    settings.DOCKET_LINEAGE_MAX_EVENT_BYTES = 2000
    _, key = make_key()
    body = run_event(inputs=[("pg", "x" * 3000)])
    assert_problem(post_event(client_for(key=key), body), 413, "request-too-large")
    bomb = gzip.compress(json.dumps(body).encode())  # small on the wire, too large once decompressed
    assert len(bomb) < 2000
    assert_problem(post_event(client_for(key=key), bomb, HTTP_CONTENT_ENCODING="gzip"), 413, "request-too-large")
    assert nothing_ingested(0)


# --- queries and their bad inputs -------------------------------------------------------------------


@pytest.fixture
def deployed(team, model, register_version):
    train = register_dataset_version(key="loans", team=team)
    version = register_version(model, train=[train])
    deployment = registry.deployment_record(actor=SYSTEM, model_version=version, environment="production")
    return train, version, deployment


def test_upstream_of_a_deployment_by_registry_reference(deployed, submitter):
    _, _, deployment = deployed
    response = client_for(submitter).get("/api/v1/lineage/upstream", {"deployment": deployment.pk, "depth": 5})
    assert response.status_code == 200
    body = response.json()
    assert [(n["kind"], n["depth"]) for n in body["nodes"]] == [("model_version", 1), ("dataset_version", 2)]
    assert {e["kind"] for e in body["edges"]} == {"deployed_as", "trained_on"}
    assert body["hidden"] == {"total": 0, "by_depth": {}}


def test_downstream_of_a_dataset_by_key(deployed, submitter):
    response = client_for(submitter).get("/api/v1/lineage/downstream", {"dataset": "loans"})
    assert [n["kind"] for n in response.json()["nodes"]] == ["model_version", "deployment"]


def test_downstream_of_a_dataset_reaches_versions_registered_as_derived_from_it(team, other_team, submitter):
    """A version registered in Docket as derived from `raw` is downstream of it; one in a dataset the caller
    may not see is counted as hidden, never shown."""
    raw = register_dataset_version(key="raw-applications", team=team)
    mine = register_dataset_version(key="loans", team=team, derived_from=[raw])
    register_dataset_version(key="hr-extract", team=other_team, derived_from=[raw])
    response = client_for(submitter).get("/api/v1/lineage/downstream", {"dataset_version": raw.pk})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [(n["reference"], n["depth"]) for n in body["nodes"]] == [({"dataset_version": mine.pk}, 1)]
    assert [e["kind"] for e in body["edges"]] == ["derived_from"]
    assert body["hidden"] == {"total": 1, "by_depth": {"1": 1}}


@pytest.mark.parametrize("params, field", [
    ({"deployment": 999999}, None),
    ({"node": "abc"}, "node"),
    ({"depth": "11"}, "depth"),
    ({"depth": "0"}, "depth"),
    ({"depth": "three"}, "depth"),
    ({"as_of": "yesterday"}, "as_of"),
    ({"as_of": "2026-03-01T00:00:00"}, "as_of"),
])
def test_bad_query_inputs_are_problems(deployed, submitter, params, field):
    _, _, deployment = deployed
    query = {"deployment": deployment.pk, **params}
    response = client_for(submitter).get("/api/v1/lineage/upstream", query)
    if field is None:
        assert_problem(response, 404, "not-found")
    else:
        assert field in assert_problem(response, 400, "validation-failed")["errors"]


def test_no_start_node_is_a_400(submitter):
    assert_problem(client_for(submitter).get("/api/v1/lineage/upstream"), 400, "validation-failed")


def test_window_query_over_http_and_end_before_start(deployed, submitter):
    _, _, deployment = deployed
    now = timezone.now()
    ok = client_for(submitter).get("/api/v1/lineage/window", {
        "dataset": "loans", "environment": "production", "start": (now.replace(year=now.year - 1)).isoformat(),
        "end": now.isoformat()})
    assert [d["deployment"] for d in ok.json()["deployments"]] == [deployment.pk]
    bad = client_for(submitter).get("/api/v1/lineage/window", {
        "dataset": "loans", "environment": "production", "start": "2026-03-02T00:00:00Z",
        "end": "2026-03-01T00:00:00Z"})
    assert "end" in assert_problem(bad, 400, "validation-failed")["errors"]


def test_behind_names_the_deployed_version_and_the_legal_basis_of_its_data(deployed, submitter):
    _, version, deployment = deployed
    response = client_for(submitter).get("/api/v1/lineage/behind", {"use_case": "credit-scoring",
                                                                     "at": timezone.now().isoformat()})
    (running,) = response.json()["deployments"]
    assert running["model_version"] == version.pk and running["approvals"] == []
    (dataset,) = running["datasets"]
    assert (dataset["dataset"], dataset["legal_basis"]) == ("loans", "b")
    assert dataset["legal_basis_label"].startswith("GDPR Art. 6(1)(b)")
    before = client_for(submitter).get("/api/v1/lineage/behind", {
        "use_case": "credit-scoring", "at": deployment.deployed_at.replace(year=2020).isoformat()})
    assert before.json()["deployments"] == []
    assert_problem(client_for(submitter).get("/api/v1/lineage/behind", {"use_case": "nope", "at": "2026-01-01T00:00Z"}),
                   404, "not-found")


# --- permission filtering ---------------------------------------------------------------------------


def test_hidden_nodes_are_counted_but_never_revealed(team, other_team, model, other_model, register_version,
                                                    outsider, submitter):
    """A dataset of team A trained a version in use case A and one in use case B. Someone who sees only
    use case B learns that one node downstream is hidden, and nothing of it or of what lies beyond."""
    shared = register_dataset_version(key="shared-loans", team=team)
    version_a = register_version(model, train=[shared])
    registry.deployment_record(actor=SYSTEM, model_version=version_a, environment="production")
    version_b = register_version(other_model, train=[shared])
    # The outsider sees use case B (their team's) and, through it, the dataset its version used.
    response = client_for(outsider).get("/api/v1/lineage/downstream", {"dataset": "shared-loans", "depth": 5})
    assert response.status_code == 200
    body = response.json()
    assert [n["reference"] for n in body["nodes"]] == [{"model_version": version_b.pk}]
    assert body["hidden"] == {"total": 1, "by_depth": {"1": 1}}  # version A; its deployment is not even counted
    text = response.content.decode()
    assert str(model.key) not in text and "credit-scoring" not in text and f'"id": {version_a.pk}' not in text
    # The owner of use case A sees both versions' side only as far as they may: B is hidden for them.
    mine = client_for(submitter).get("/api/v1/lineage/downstream", {"dataset": "shared-loans", "depth": 5}).json()
    assert {n["kind"] for n in mine["nodes"]} == {"model_version", "deployment"}
    assert mine["hidden"]["total"] == 1


def test_a_start_node_the_caller_may_not_see_is_404(deployed, outsider):
    _, version, _ = deployed
    assert_problem(client_for(outsider).get("/api/v1/lineage/upstream", {"model_version": version.pk}), 404,
                   "not-found")


def test_an_api_key_limited_to_another_use_case_sees_nothing_of_this_one(deployed, make_key, other_use_case,
                                                                      other_team):
    _, version, _ = deployed
    _, key = make_key(scopes=[Scope.READ], allowed_use_cases=[other_use_case], owner=other_team)
    assert_problem(client_for(key=key).get("/api/v1/lineage/upstream", {"model_version": version.pk}), 404,
                   "not-found")


def test_the_window_query_counts_hidden_deployments(deployed, other_team, register_version, other_model, outsider,
                                                    submitter):
    train, _, _ = deployed
    grant_view(outsider, other_model.use_case)
    other = register_version(other_model, train=[train])
    registry.deployment_record(actor=SYSTEM, model_version=other, environment="production")
    now = timezone.now()
    params = {"dataset": "loans", "environment": "production", "start": now.replace(year=now.year - 1).isoformat(),
              "end": now.isoformat()}
    seen_by_owner = client_for(submitter).get("/api/v1/lineage/window", params).json()
    assert len(seen_by_owner["deployments"]) == 1 and seen_by_owner["hidden"] == {"total": 1}


# --- dataset mappings over the API ------------------------------------------------------------------


def test_admins_map_datasets_over_the_api_and_others_are_refused(team, admin_user, submitter):
    register_dataset_version(key="loans", team=team)
    body = {"namespace_pattern": "postgres://*", "name_pattern": "public.loans", "dataset": "loans"}
    refused = client_for(submitter).post("/api/v1/lineage/mappings", body, format="json")
    assert_problem(refused, 403, "permission-denied")
    unknown = client_for(admin_user).post("/api/v1/lineage/mappings", {**body, "dataset": "nope"}, format="json")
    assert_problem(unknown, 404, "not-found")
    created = client_for(admin_user).post("/api/v1/lineage/mappings", body, format="json")
    assert created.status_code == 201 and created.json()["dataset"] == "loans"
    listed = client_for(submitter).get("/api/v1/lineage/mappings").json()
    assert [m["name_pattern"] for m in listed] == ["public.loans"]
    deactivated = client_for(admin_user).post(f"/api/v1/lineage/mappings/{created.json()['id']}/deactivate")
    assert deactivated.json()["active"] is False


def test_a_body_that_is_not_declared_json_is_415(make_key):
    _, key = make_key()
    response = client_for(key=key).generic("POST", "/api/v1/lineage", json.dumps(run_event()).encode(),
                                           content_type="text/plain")
    assert_problem(response, 415, "unsupported-media-type")
    assert nothing_ingested(0)
