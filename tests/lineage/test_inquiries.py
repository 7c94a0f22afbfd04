"""Saving an inquiry (who asked, why, the answer, the checkpoint), its audit entries, its PDF, and who
may read it."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from apps.audit.actions import Action
from apps.audit.services import SYSTEM
from apps.common.errors import NotFound, ValidationFailed
from apps.lineage import selectors, services
from apps.lineage.models import Inquiry
from apps.registry import services as registry

from .conftest import client_for, register_dataset_version


@pytest.fixture
def deployed(team, model, register_version):
    train = register_dataset_version(key="loans", team=team)
    version = register_version(model, train=[train])
    return registry.deployment_record(actor=SYSTEM, model_version=version, environment="production")


def test_an_inquiry_is_saved_with_its_answer_and_checkpoint_and_audited(deployed, submitter, last_entry):
    inquiry = services.inquiry_save(actor=submitter, kind="upstream", parameters={"deployment": deployed.pk},
                                    requester="Data protection authority, case DPA-2026-17",
                                    reason="Art. 15 GDPR access request about loan scoring")
    assert [n["label"] for n in inquiry.answer["nodes"]] == ["credit-scoring/default-lr v1", "loans v1"]
    assert inquiry.checkpoint_tree_size >= 1 and inquiry.checkpoint_root_hash
    entry = last_entry()
    assert entry.action == Action.LINEAGE_INQUIRY_SAVED and entry.subject_id == str(inquiry.pk)
    assert entry.data["answer_sha256"] == inquiry.answer_sha256
    assert entry.data["checkpoint"]["tree_size"] == inquiry.checkpoint_tree_size
    assert entry.data["requester"].startswith("Data protection authority")


def test_an_inquiry_without_a_reason_or_with_a_bad_question_saves_nothing(deployed, submitter, audit_count):
    before = audit_count()
    with pytest.raises(ValidationFailed) as no_reason:
        services.inquiry_save(actor=submitter, kind="upstream", parameters={"deployment": deployed.pk},
                              requester="court", reason=" ")
    assert "reason" in no_reason.value.field_errors
    with pytest.raises(ValidationFailed):
        services.inquiry_save(actor=submitter, kind="upstream", parameters={"deployment": deployed.pk, "depth": 42},
                              requester="court", reason="order 12")
    assert not Inquiry.objects.exists() and audit_count() == before


def test_the_pdf_renders_the_answer_and_is_audited_once(deployed, submitter, last_entry):
    inquiry = services.inquiry_save(actor=submitter, kind="behind",
                                    parameters={"use_case": "credit-scoring", "at": deployed.deployed_at.isoformat()},
                                    requester="Court of Frankfurt, 2-03 O 17/26", reason="Decision of 3 March")
    exported = services.inquiry_export_pdf(actor=submitter, inquiry=inquiry)
    entry = last_entry()
    assert entry.action == Action.LINEAGE_INQUIRY_EXPORTED and entry.data["sha256"] == exported.pdf_sha256
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(exported.pdf.read())).pages)
    assert "Lineage inquiry record" in text and "Court of Frankfurt" in text
    assert "default-lr v1" in text and "loans v1" in text and "GDPR Art. 6(1)(b)" in text
    assert inquiry.answer_sha256 in text
    index = entry.index
    again = services.inquiry_export_pdf(actor=submitter, inquiry=exported)
    assert again.pdf_sha256 == exported.pdf_sha256 and last_entry().index == index


def test_inquiries_are_read_by_their_asker_and_auditors_only(deployed, submitter, outsider, auditor):
    inquiry = services.inquiry_save(actor=submitter, kind="downstream", parameters={"dataset": "loans"},
                                    requester="data subject", reason="erasure request")
    assert selectors.inquiry_get(fetched_by=auditor, pk=inquiry.pk) == inquiry
    with pytest.raises(NotFound):
        selectors.inquiry_get(fetched_by=outsider, pk=inquiry.pk)
    with pytest.raises(NotFound):
        services.inquiry_export_pdf(actor=outsider, inquiry=inquiry)


def test_the_inquiry_api_saves_exports_and_downloads(deployed, submitter):
    client = client_for(submitter)
    saved = client.post("/api/v1/lineage/inquiries", {
        "kind": "window", "requester": "regulator", "reason": "dataset recall",
        "parameters": {"dataset": "loans", "environment": "production", "start": "2020-01-01T00:00:00Z",
                       "end": "2099-01-01T00:00:00Z"}}, format="json")
    assert saved.status_code == 201, saved.content
    pk = saved.json()["id"]
    assert saved.json()["answer"]["deployments"][0]["deployment"] == deployed.pk
    assert client.get(f"/api/v1/lineage/inquiries/{pk}/pdf").status_code == 409
    assert client.post(f"/api/v1/lineage/inquiries/{pk}/pdf").status_code == 201
    download = client.get(f"/api/v1/lineage/inquiries/{pk}/pdf", HTTP_ACCEPT="application/pdf")
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"%PDF")
