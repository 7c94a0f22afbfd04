"""report_generate / report_build: permission, validation that changes nothing, the audit entries, the
Celery task queued on commit, idempotence, failure recorded."""

from __future__ import annotations

import hashlib
from unittest import mock

import pytest
from guardian.shortcuts import remove_perm

from apps.audit.models import AuditEntry
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.reports import services, tasks
from apps.reports.models import DocumentStatus, GeneratedDocument

from .conftest import generate


def _unchanged(before_entries: int) -> None:
    assert GeneratedDocument.objects.count() == 0
    assert AuditEntry.objects.count() == before_entries


def test_generate_records_the_request_and_queues_the_build_task_on_commit(
        complete_system, submitter, django_capture_on_commit_callbacks):
    version, _ = complete_system
    with mock.patch.object(tasks.report_build_task, "delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        document = services.report_generate(actor=submitter, kind="annex_iv", subject=version)
    delay.assert_called_once_with(document.pk)
    assert document.status == DocumentStatus.QUEUED and document.use_case == version.model.use_case
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == "reports.document.requested"
    assert (entry.subject_type, entry.subject_id) == ("reports.generateddocument", str(document.pk))
    assert entry.data["kind"] == "annex_iv"
    assert entry.data["subject"] == {"type": "registry.modelversion", "id": str(version.pk), "label": str(version)}
    assert entry.actor_id == str(submitter.pk)


def test_build_stores_the_pdf_and_records_its_sha256_checkpoint_and_index_range(complete_system, submitter):
    version, _ = complete_system
    document = generate(submitter, "annex_iv", version)
    with document.file.open("rb") as handle:
        data = handle.read()
    assert data.startswith(b"%PDF-") and hashlib.sha256(data).hexdigest() == document.sha256
    assert document.size == len(data) and document.content_type == "application/pdf"
    entry = AuditEntry.objects.get(index=document.audit_index)
    assert entry.action == "reports.document.generated" and entry.actor_id == str(submitter.pk)
    assert entry.subject_id == str(document.pk)
    assert entry.data["sha256"] == document.sha256 and entry.data["content_sha256"] == document.content_sha256
    assert entry.data["checkpoint"]["tree_size"] == document.checkpoint_tree_size
    assert entry.data["audit_index_last"] == document.checkpoint_tree_size - 1 == document.audit_index_last
    assert 0 <= entry.data["audit_index_first"] == document.audit_index_first < document.audit_index_last
    # The document reflects only entries before its own.
    assert document.audit_index > document.audit_index_last


def test_build_twice_and_the_task_leave_a_done_document_as_it_is(complete_system, submitter):
    version, _ = complete_system
    document = generate(submitter, "model_card", version)
    entries = AuditEntry.objects.count()
    assert services.report_build(document_id=document.pk).sha256 == document.sha256
    assert tasks.report_build_task.apply(args=[document.pk]).get() == "done"
    assert AuditEntry.objects.count() == entries


def test_task_builds_a_queued_document(complete_system, submitter):
    _, case = complete_system
    document = services.report_generate(actor=submitter, kind="validation_report", subject=case)
    assert tasks.report_build_task.apply(args=[document.pk]).get() == "done"
    document.refresh_from_db()
    assert document.status == DocumentStatus.DONE and document.progress == 100


def test_requester_who_lost_access_before_the_build_gets_a_failed_document_and_a_failed_entry(
        complete_system, submitter, team):
    version, _ = complete_system
    document = services.report_generate(actor=submitter, kind="annex_iv", subject=version)
    for codename in ("view_usecase", "submit_to_usecase"):
        remove_perm(f"registry.{codename}", team.group, version.model.use_case)
    built = services.report_build(document_id=document.pk)
    assert built.status == DocumentStatus.FAILED and "no longer see" in built.error and not built.file
    entry = AuditEntry.objects.order_by("-index").first()
    assert entry.action == "reports.document.failed" and entry.data["reason"] == built.error


def test_unknown_kind_is_refused_and_changes_nothing(complete_system, submitter):
    version, _ = complete_system
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        services.report_generate(actor=submitter, kind="horoscope", subject=version)
    assert "kind" in refused.value.field_errors
    _unchanged(before)


def test_subject_the_reader_may_not_see_is_not_found_and_changes_nothing(complete_system, outsider):
    version, case = complete_system
    before = AuditEntry.objects.count()
    for kind, subject in (("annex_iv", version), ("validation_report", case), ("evidence_pack", case)):
        with pytest.raises(NotFound):
            services.report_generate(actor=outsider, kind=kind, subject=subject)
    _unchanged(before)


def test_audit_extract_by_a_submitter_is_permission_denied_and_changes_nothing(complete_system, submitter):
    _, case = complete_system
    before = AuditEntry.objects.count()
    with pytest.raises(PermissionDenied):
        services.report_generate(actor=submitter, kind="audit_extract", subject=case)
    _unchanged(before)


@pytest.mark.parametrize("bad", ["wrong_subject_type", "inventory_with_subject", "extract_without_selection",
                                 "until_before_since", "time_range_on_annex_iv", "unknown_checkpoint"])
def test_bad_requests_are_validation_failures_that_change_nothing(complete_system, submitter, auditor, bad):
    version, case = complete_system
    before = AuditEntry.objects.count()
    calls = {
        "wrong_subject_type": lambda: services.report_generate(actor=submitter, kind="annex_iv", subject=case),
        "inventory_with_subject": lambda: services.report_generate(actor=submitter, kind="model_inventory",
                                                                   subject=version),
        "extract_without_selection": lambda: services.report_generate(actor=auditor, kind="audit_extract"),
        "until_before_since": lambda: services.report_generate(
            actor=auditor, kind="audit_extract", since="2026-02-01T00:00:00+00:00", until="2026-01-01T00:00:00+00:00"),
        "time_range_on_annex_iv": lambda: services.report_generate(
            actor=submitter, kind="annex_iv", subject=version, since="2026-01-01T00:00:00+00:00"),
        "unknown_checkpoint": lambda: services.report_generate(actor=submitter, kind="annex_iv", subject=version,
                                                               checkpoint_tree_size=10**9),
    }
    with pytest.raises(ValidationFailed):
        calls[bad]()
    _unchanged(before)


def test_deactivated_user_is_permission_denied_and_changes_nothing(complete_system, submitter):
    version, _ = complete_system
    submitter.is_active = False
    submitter.save()
    before = AuditEntry.objects.count()
    with pytest.raises(PermissionDenied):
        services.report_generate(actor=submitter, kind="annex_iv", subject=version)
    _unchanged(before)


def test_audit_extract_of_a_time_range_covers_entries_in_the_window(complete_system, auditor):
    first = AuditEntry.objects.order_by("index").first()
    document = generate(auditor, "audit_extract", since=first.timestamp.isoformat())
    assert document.status == DocumentStatus.DONE, document.error
    assert document.parameters["since"] == first.timestamp.isoformat()
