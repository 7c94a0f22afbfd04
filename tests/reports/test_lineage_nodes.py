"""A generated document about a model version or a review case joins the lineage graph in the same
transaction that records it: "report was produced by" that node; documents about a whole use case add none."""

import pytest

from apps.common.errors import ApplicationError
from apps.lineage.models import Edge, EdgeKind, Node, NodeKind
from apps.lineage.selectors import lineage

from .conftest import generate


def test_a_model_card_is_produced_by_its_model_version_and_shows_downstream(complete_system, submitter):
    version, _ = complete_system
    document = generate(submitter, "model_card", version)

    report = Node.objects.get(kind=NodeKind.REPORT, key=str(document.pk))
    edge = Edge.objects.get(target_node=report)
    assert (edge.kind, edge.source_node.model_version_id, edge.valid_to) == (EdgeKind.PRODUCED_BY, version.pk, None)
    assert edge.detail == {"kind": "model_card", "sha256": document.sha256}
    assert report.use_case_id == version.model.use_case_id
    downstream = lineage(fetched_by=submitter, reference={"model_version": version.pk}, direction="down", depth=1)
    assert report.pk in {node["id"] for node in downstream.nodes}


def test_a_validation_report_hangs_from_its_review_case(complete_system, submitter):
    _, case = complete_system
    document = generate(submitter, "validation_report", case)
    edge = Edge.objects.get(target_node__kind=NodeKind.REPORT, target_node__key=str(document.pk))
    assert edge.source_node.review_case_id == case.pk


def test_the_inventory_about_every_use_case_adds_no_node(complete_system, submitter):
    generate(submitter, "model_inventory")
    assert not Node.objects.filter(kind=NodeKind.REPORT).exists()


def test_a_refused_document_adds_no_node(complete_system, outsider):
    version, _ = complete_system
    with pytest.raises(ApplicationError):
        generate(outsider, "model_card", version)
    assert not Node.objects.filter(kind=NodeKind.REPORT).exists()
