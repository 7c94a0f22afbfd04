"""Edges written by the registry, reviews and gate services (one per relation), as-of answers before and
after a change, ending edges, mappings and OpenLineage ingestion at the service level."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.services import SYSTEM
from apps.common.errors import Conflict, ImmutableRecord, PermissionDenied, ValidationFailed
from apps.lineage import selectors, services
from apps.lineage.models import DatasetMapping, Edge, EdgeKind, Node, NodeKind, OpenLineageEvent
from apps.registry import services as registry

from .conftest import register_dataset_version, run_event


def edges_of(kind) -> list[Edge]:
    return list(Edge.objects.filter(kind=kind).select_related("source_node", "target_node"))


# --- relations written by the registry services -----------------------------------------------------


def test_registering_a_model_version_writes_trained_on_and_evaluated_on_per_dataset_role(team, model, register_version):
    train = register_dataset_version(key="loans", team=team)
    test = register_dataset_version(key="loans-holdout", team=team)
    version = register_version(model, train=[train], test=[test])
    (trained,) = edges_of(EdgeKind.TRAINED_ON)
    (evaluated,) = edges_of(EdgeKind.EVALUATED_ON)
    assert (trained.source_node.dataset_version, trained.target_node.model_version) == (train, version)
    assert (evaluated.source_node.dataset_version, evaluated.target_node.model_version) == (test, version)
    assert evaluated.detail == {"role": "test"} and trained.valid_from == version.registered_at
    assert trained.valid_to is None
    assert trained.target_node.use_case == model.use_case and trained.source_node.owner_team == team


def test_a_parent_version_gives_fine_tuned_from(team, model, register_version):
    parent = register_version(model)
    child = register_version(model, parent=parent)
    (edge,) = edges_of(EdgeKind.FINE_TUNED_FROM)
    assert (edge.source_node.model_version, edge.target_node.model_version) == (parent, child)


def test_registering_a_dataset_version_creates_its_node_without_a_derived_from_edge(team):
    version = register_dataset_version(key="loans", team=team)
    node = Node.objects.get(dataset_version=version)
    assert node.kind == NodeKind.DATASET_VERSION and node.label == "loans v1"
    assert not Edge.objects.exists()


def test_registering_a_dataset_version_with_sources_writes_derived_from_from_each(team):
    raw = register_dataset_version(key="raw-applications", team=team)
    bureau = register_dataset_version(key="bureau-scores", team=team)
    derived = register_dataset_version(key="loans", team=team, derived_from=[raw, bureau])
    edges = edges_of(EdgeKind.DERIVED_FROM)
    assert sorted((edge.source_node.label, edge.target_node.label) for edge in edges) == [
        ("bureau-scores v1", "loans v1"), ("raw-applications v1", "loans v1")]
    assert {edge.target_node.dataset_version for edge in edges} == {derived}
    assert {(edge.valid_from, edge.valid_to, edge.event_id) for edge in edges} == {(derived.registered_at, None, None)}


def test_downstream_of_a_source_reaches_the_derived_version_and_the_models_trained_on_it(team, model,
                                                                                         register_version):
    """The privacy question: which datasets (and models) were derived from this personal-data version?"""
    personal = register_dataset_version(key="raw-applications", team=team)
    derived = register_dataset_version(key="loans", team=team, derived_from=[personal])
    version = register_version(model, train=[derived])
    graph = selectors.lineage(fetched_by=SYSTEM, reference={"dataset_version": personal.pk}, direction="down")
    assert [(node["reference"], node["depth"]) for node in graph.nodes] == [
        ({"dataset_version": derived.pk}, 1), ({"model_version": version.pk}, 2)]
    assert [edge["kind"] for edge in graph.edges] == ["derived_from", "trained_on"]
    before = selectors.lineage(fetched_by=SYSTEM, reference={"dataset_version": personal.pk}, direction="down",
                               as_of=derived.registered_at - dt.timedelta(seconds=1))
    assert before.nodes == []


def test_a_deployment_is_deployed_as_until_retired_by_the_next_one(team, model, register_version):
    first, second = register_version(model), register_version(model)
    d1 = registry.deployment_record(actor=SYSTEM, model_version=first, environment="production")
    d2 = registry.deployment_record(actor=SYSTEM, model_version=second, environment="production")
    d1.refresh_from_db()
    by_deployment = {edge.target_node.deployment_id: edge for edge in edges_of(EdgeKind.DEPLOYED_AS)}
    assert by_deployment[d1.pk].valid_from == d1.deployed_at
    assert by_deployment[d1.pk].valid_to == d1.status_changed_at
    assert "retired" in by_deployment[d1.pk].ended_reason
    assert by_deployment[d2.pk].valid_to is None
    assert by_deployment[d2.pk].target_node.environment == "production"


def test_a_rolled_back_deployment_ends_its_edge(model, register_version):
    deployment = registry.deployment_record(actor=SYSTEM, model_version=register_version(model),
                                            environment="staging")
    registry.deployment_change_status(actor=SYSTEM, deployment=deployment, status="rolled_back", reason="bad AUC")
    (edge,) = edges_of(EdgeKind.DEPLOYED_AS)
    assert edge.valid_to is not None and "rolled_back" in edge.ended_reason


def test_edges_are_append_only(model, register_version):
    deployment = registry.deployment_record(actor=SYSTEM, model_version=register_version(model),
                                            environment="staging")
    edge = Edge.objects.get(target_node__deployment=deployment)
    with pytest.raises(ImmutableRecord):
        edge.delete()
    with pytest.raises(ImmutableRecord):
        Edge.objects.filter(pk=edge.pk).update(valid_to=timezone.now())
    edge.kind = EdgeKind.TRAINED_ON
    with pytest.raises(ImmutableRecord):
        edge.save()


# --- as of ------------------------------------------------------------------------------------------


def test_as_of_before_and_after_a_retirement(model, register_version):
    version = register_version(model)
    deployment = registry.deployment_record(actor=SYSTEM, model_version=version, environment="production")
    registry.deployment_change_status(actor=SYSTEM, deployment=deployment, status="retired", reason="replaced")
    deployment.refresh_from_db()
    while_running = deployment.status_changed_at - dt.timedelta(microseconds=1)
    after = deployment.status_changed_at + dt.timedelta(seconds=1)
    reference = {"model_version": version.pk}
    during = selectors.lineage(fetched_by=SYSTEM, reference=reference, direction="down", as_of=while_running)
    later = selectors.lineage(fetched_by=SYSTEM, reference=reference, direction="down", as_of=after)
    assert [node["reference"] for node in during.nodes] == [{"deployment": deployment.pk}]
    assert later.nodes == []


def test_as_of_before_a_version_existed_shows_no_training_data(team, model, register_version):
    train = register_dataset_version(key="loans", team=team)
    version = register_version(model, train=[train])
    before = version.registered_at - dt.timedelta(seconds=1)
    graph = selectors.lineage(fetched_by=SYSTEM, reference={"model_version": version.pk}, direction="up", as_of=before)
    now = selectors.lineage(fetched_by=SYSTEM, reference={"model_version": version.pk}, direction="up")
    assert graph.nodes == [] and [node["label"] for node in now.nodes] == ["loans v1"]


def test_depth_limits_the_walk_and_cycles_terminate(team, model, register_version):
    v1 = register_version(model)
    v2 = register_version(model, parent=v1)
    v3 = register_version(model, parent=v2)
    shallow = selectors.lineage(fetched_by=SYSTEM, reference={"model_version": v3.pk}, direction="up", depth=1)
    deep = selectors.lineage(fetched_by=SYSTEM, reference={"model_version": v3.pk}, direction="up", depth=10)
    assert [n["reference"] for n in shallow.nodes] == [{"model_version": v2.pk}]
    assert [(n["reference"], n["depth"]) for n in deep.nodes] == [({"model_version": v2.pk}, 1),
                                                                  ({"model_version": v1.pk}, 2)]
    # A cycle (only OpenLineage can state one: a job reading and writing the same table) still ends.
    services.event_ingest(actor=SYSTEM, body=run_event(inputs=[("pg", "t")], outputs=[("pg", "t")]))
    table = Node.objects.get(kind=NodeKind.EXTERNAL_DATASET)
    cyclic = selectors.lineage(fetched_by=SYSTEM, reference={"node": table.pk}, direction="down", depth=10)
    assert {n["kind"] for n in cyclic.nodes} == {"run"}


# --- the window query -------------------------------------------------------------------------------


def test_window_finds_deployments_that_depended_transitively_during_the_window(team, model, register_version):
    raw = register_dataset_version(key="loans-raw", team=team)
    other = register_dataset_version(key="weather", team=team)
    base = register_version(model, train=[raw])
    tuned = register_version(model, parent=base)  # depends on loans-raw only through its parent
    unrelated = register_version(model, train=[other])
    t0 = timezone.now()
    deployment = registry.deployment_record(actor=SYSTEM, model_version=tuned, environment="production")
    registry.deployment_record(actor=SYSTEM, model_version=unrelated, environment="staging")
    registry.deployment_change_status(actor=SYSTEM, deployment=deployment, status="retired", reason="done")
    deployment.refresh_from_db()
    after = deployment.status_changed_at + dt.timedelta(seconds=5)

    hit = selectors.deployment_window(fetched_by=SYSTEM, reference={"dataset": "loans-raw"}, environment="production",
                                      start=t0 - dt.timedelta(days=1), end=after)
    assert [(d["deployment"], d["distance"]) for d in hit["deployments"]] == [(deployment.pk, 3)]
    miss_after = selectors.deployment_window(fetched_by=SYSTEM, reference={"dataset": "loans-raw"},
                                             environment="production", start=after, end=after + dt.timedelta(1))
    assert miss_after["deployments"] == []
    other_env = selectors.deployment_window(fetched_by=SYSTEM, reference={"dataset": "loans-raw"},
                                            environment="staging", start=t0, end=after)
    assert other_env["deployments"] == []


def test_window_refuses_an_end_before_its_start_and_unknown_environments(team):
    register_dataset_version(key="loans", team=team)
    with pytest.raises(ValidationFailed) as reversed_window:
        selectors.deployment_window(fetched_by=SYSTEM, reference={"dataset": "loans"}, environment="production",
                                    start="2026-03-02T00:00:00Z", end="2026-03-01T00:00:00Z")
    assert "end" in reversed_window.value.field_errors
    with pytest.raises(ValidationFailed) as environment:
        selectors.deployment_window(fetched_by=SYSTEM, reference={"dataset": "loans"}, environment="moon",
                                    start="2026-03-01T00:00:00Z", end="2026-03-02T00:00:00Z")
    assert "environment" in environment.value.field_errors


# --- ending edges by hand, mappings -----------------------------------------------------------------


def test_edge_end_is_audited_and_refused_to_non_admins_and_twice(model, register_version, admin_user, submitter,
                                                                 last_entry, audit_count):
    version = register_version(model)
    deployment = registry.deployment_record(actor=SYSTEM, model_version=version, environment="staging")
    edge = Edge.objects.get(target_node__deployment=deployment)
    before = audit_count()
    with pytest.raises(PermissionDenied):
        services.edge_end(actor=submitter, edge=edge, reason="wrong")
    with pytest.raises(ValidationFailed):
        services.edge_end(actor=admin_user, edge=edge, reason="  ")
    with pytest.raises(ValidationFailed):
        services.edge_end(actor=admin_user, edge=edge, reason="future", at=timezone.now() + dt.timedelta(hours=1))
    edge.refresh_from_db()
    assert edge.valid_to is None and audit_count() == before
    services.edge_end(actor=admin_user, edge=edge, reason="recorded against the wrong version")
    entry = last_entry()
    assert entry.action == Action.LINEAGE_EDGE_ENDED and entry.subject_id == str(edge.pk)
    assert entry.data["reason"] == "recorded against the wrong version"
    with pytest.raises(Conflict):
        services.edge_end(actor=admin_user, edge=edge, reason="again")


def test_mapping_create_is_admin_only_and_audited(team, admin_user, submitter, last_entry, audit_count):
    register_dataset_version(key="loans", team=team)
    from apps.registry.models import Dataset

    dataset = Dataset.objects.get(key="loans")
    before = audit_count()
    with pytest.raises(PermissionDenied):
        services.mapping_create(actor=submitter, namespace_pattern="pg://*", name_pattern="public.loans",
                                dataset=dataset)
    with pytest.raises(ValidationFailed):
        services.mapping_create(actor=admin_user, namespace_pattern="", name_pattern="public.loans", dataset=dataset)
    assert not DatasetMapping.objects.exists() and audit_count() == before
    mapping = services.mapping_create(actor=admin_user, namespace_pattern="pg://*", name_pattern="public.loans",
                                      dataset=dataset)
    entry = last_entry()
    assert entry.action == Action.LINEAGE_MAPPING_CREATED and entry.data["dataset"] == "loans"
    services.mapping_deactivate(actor=admin_user, mapping=mapping)
    assert last_entry().action == Action.LINEAGE_MAPPING_DEACTIVATED
    with pytest.raises(Conflict):
        services.mapping_deactivate(actor=admin_user, mapping=mapping)


# --- OpenLineage ingestion (service level) ----------------------------------------------------------


def test_an_event_maps_known_datasets_and_makes_unknown_ones_external(team, admin_user, submitter, last_entry):
    version = register_dataset_version(key="loans", team=team)
    services.mapping_create(actor=admin_user, namespace_pattern="postgres://warehouse*", name_pattern="public.loans",
                            dataset=version.dataset)
    body = run_event(inputs=[("postgres://warehouse:5432", "public.loans")],
                     outputs=[("s3://features", "loans_features")])
    ingested = services.event_ingest(actor=submitter, body=body)
    assert ingested.created
    consumed = Edge.objects.get(kind=EdgeKind.CONSUMED_BY)
    produced = Edge.objects.get(kind=EdgeKind.PRODUCED_BY)
    derived = Edge.objects.get(kind=EdgeKind.DERIVED_FROM)
    assert consumed.source_node.dataset_version == version
    assert produced.target_node.kind == NodeKind.EXTERNAL_DATASET
    assert produced.target_node.label == "s3://features/loans_features"
    assert (derived.source_node, derived.target_node) == (consumed.source_node, produced.target_node)
    assert Edge.objects.get(kind=EdgeKind.RUN_OF).source_node.label == "airflow/etl.loans"
    entry = last_entry()
    assert entry.action == Action.LINEAGE_EVENT_INGESTED and entry.subject_id == str(ingested.event.pk)
    assert entry.data["inputs"][0]["docket_dataset_version"] == {"dataset": "loans", "number": 1}
    assert entry.data["outputs"][0]["name"] == "loans_features"


def test_a_setting_maps_datasets_too(team, settings, submitter):
    register_dataset_version(key="loans", team=team)
    settings.DOCKET_LINEAGE_DATASET_MAPPINGS = ["s3://lake*|raw/loans*=loans"]
    services.event_ingest(actor=submitter, body=run_event(inputs=[("s3://lake-eu", "raw/loans/2026")]))
    assert Edge.objects.get(kind=EdgeKind.CONSUMED_BY).source_node.kind == NodeKind.DATASET_VERSION


def test_a_failed_run_consumed_its_inputs_but_produced_nothing(submitter):
    services.event_ingest(actor=submitter, body=run_event(event_type="FAIL", inputs=[("pg", "a")],
                                                          outputs=[("pg", "b")]))
    assert Edge.objects.filter(kind=EdgeKind.CONSUMED_BY).count() == 1
    assert not Edge.objects.filter(kind__in=[EdgeKind.PRODUCED_BY, EdgeKind.DERIVED_FROM]).exists()


def test_a_repeated_delivery_changes_nothing_and_is_not_audited(submitter, audit_count):
    body = run_event(inputs=[("pg", "a")], outputs=[("pg", "b")])
    services.event_ingest(actor=submitter, body=body)
    edges, events, entries = Edge.objects.count(), OpenLineageEvent.objects.count(), audit_count()
    again = services.event_ingest(actor=submitter, body=dict(body))
    same_identity = services.event_ingest(actor=submitter, body={**body, "producer": "https://other.example/"})
    assert not again.created and not same_identity.created
    assert (Edge.objects.count(), OpenLineageEvent.objects.count(), audit_count()) == (edges, events, entries)


def test_an_invalid_event_names_the_failing_path_and_changes_nothing(submitter, audit_count):
    body = run_event()
    del body["job"]["name"]
    with pytest.raises(ValidationFailed) as refused:
        services.event_ingest(actor=submitter, body=body)
    assert refused.value.extra["failing_path"] == "/job"
    assert "name" in refused.value.detail
    bad_uuid = run_event()
    bad_uuid["run"]["runId"] = "not-a-uuid"
    with pytest.raises(ValidationFailed) as refused_uuid:
        services.event_ingest(actor=submitter, body=bad_uuid)
    assert refused_uuid.value.extra["failing_path"] == "/run/runId"
    assert not OpenLineageEvent.objects.exists() and not Node.objects.exists() and audit_count() == 0
