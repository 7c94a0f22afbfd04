"""The /lineage/ explore page: sign-in required, the graph drawn and tabled, hidden nodes only counted,
bad input shown next to the field, and a constant number of queries whatever the graph's size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.audit.services import SYSTEM
from apps.lineage.models import Node
from apps.registry import services as registry

from .conftest import register_dataset_version


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def deployed(team, model, register_version):
    train = register_dataset_version(key="loans", team=team)
    version = register_version(model, train=[train])
    return registry.deployment_record(actor=SYSTEM, model_version=version, environment="production")


def test_the_page_needs_sign_in(db):
    response = Client().get("/lineage/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_without_a_node_it_offers_the_visible_deployments(deployed, submitter, outsider):
    page = signed_in(submitter).get("/lineage/").content.decode()
    assert page.count("<h1>") == 1 and "credit-scoring/default-lr v1 in production" in page
    assert "credit-scoring" not in signed_in(outsider).get("/lineage/").content.decode()


def test_a_node_is_drawn_with_its_upstream_and_downstream(deployed, submitter):
    node = Node.objects.get(model_version=deployed.model_version)
    response = signed_in(submitter).get("/lineage/", {"node": node.pk, "direction": "both", "depth": 3})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in page and page.count("<rect") == 3  # dataset, model version (start), deployment
    assert "trained_on" in page and "deployed_as" in page and "loans v1" in page
    assert "0 upstream, 0 downstream" in page


def test_hidden_nodes_are_counted_on_the_page(team, model, other_model, register_version, outsider):
    shared = register_dataset_version(key="shared", team=team)
    register_version(model, train=[shared])
    register_version(other_model, train=[shared])
    node = Node.objects.get(dataset_version=shared)
    page = signed_in(outsider).get("/lineage/", {"node": node.pk, "direction": "down"}).content.decode()
    assert "0 upstream, 1 downstream" in page and "credit-scoring" not in page


def test_bad_input_is_shown_and_unknown_nodes_are_404(deployed, submitter):
    bad = signed_in(submitter).get("/lineage/", {"node": 1, "depth": 42})
    assert bad.status_code == 400 and "field-error" in bad.content.decode()
    missing = signed_in(submitter).get("/lineage/", {"node": 999999})
    assert missing.status_code == 404 and "No lineage node" in missing.content.decode()


def test_search_finds_visible_nodes(deployed, submitter):
    page = signed_in(submitter).get("/lineage/", {"search": "loans"}).content.decode()
    assert "loans v1" in page


def test_the_number_of_queries_does_not_grow_with_the_graph(team, model, register_version, submitter):
    def queries_for(node) -> int:
        client = signed_in(submitter)
        client.get("/lineage/")  # session and user caches warm
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/lineage/", {"node": node.pk, "depth": 3}).status_code == 200
        return len(captured)

    small = register_version(model, train=[register_dataset_version(key="d0", team=team)])
    registry.deployment_record(actor=SYSTEM, model_version=small, environment="production")
    small_count = queries_for(Node.objects.get(model_version=small))
    big = register_version(model, train=[register_dataset_version(key=f"d{i}", team=team) for i in range(1, 21)])
    for _ in range(3):
        registry.deployment_record(actor=SYSTEM, model_version=big, environment="staging")
    assert queries_for(Node.objects.get(model_version=big)) == small_count
