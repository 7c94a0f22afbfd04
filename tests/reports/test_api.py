"""The reports API: request (202, task queued), status, download; malformed, unauthorised, forbidden and
invisible requests answer their exact problem and change nothing."""

from __future__ import annotations

import hashlib
from unittest import mock

import pytest

from apps.accounts.scopes import Scope
from apps.audit.models import AuditEntry
from apps.reports import services, tasks
from apps.reports.models import GeneratedDocument
from tests.api.conftest import assert_problem, client_for
from tests.factories.accounts import api_key_with_plaintext

REPORTS = "/api/v1/reports/"


@pytest.fixture
def unchanged():
    before = (GeneratedDocument.objects.count(), AuditEntry.objects.count())
    return lambda: (GeneratedDocument.objects.count(), AuditEntry.objects.count()) == before


def test_request_status_and_download_of_an_annex_iv(complete_system, submitter, django_capture_on_commit_callbacks):
    version, _ = complete_system
    client = client_for(submitter)
    with mock.patch.object(tasks.report_build_task, "delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        response = client.post(REPORTS, {"kind": "annex_iv", "use_case": version.model.use_case.key,
                                         "model": version.model.key, "version": 1}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["download"] is None and body["subject"]["type"] == "registry.modelversion"
    assert response["Location"] == f"{REPORTS}{body['id']}/"
    delay.assert_called_once_with(body["id"])
    assert AuditEntry.objects.order_by("-index").first().action == "reports.document.requested"
    assert_problem(client.get(f"{REPORTS}{body['id']}/download/"), 409, "conflict")

    services.report_build(document_id=body["id"])
    detail = client.get(f"{REPORTS}{body['id']}/").json()
    assert detail["status"] == "done" and detail["progress"] == 100 and detail["audit_index"] is not None
    download = client.get(detail["download"])
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == detail["sha256"] == download["X-Content-SHA256"]
    listed = client.get(REPORTS).json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]


def test_unauthenticated_request_is_401_and_changes_nothing(complete_system, unchanged):
    response = client_for().post(REPORTS, {"kind": "model_inventory"}, format="json")
    assert_problem(response, 401, "not-authenticated")
    assert unchanged()


def test_malformed_requests_are_400_and_change_nothing(complete_system, submitter, unchanged):
    client = client_for(submitter)
    assert_problem(client.post(REPORTS, {"kind": "horoscope"}, format="json"), 400, "validation-failed", field="kind")
    assert_problem(client.post(REPORTS, {"kind": "model_inventory", "colour": "red"}, format="json"), 400,
                   "validation-failed", field="colour")
    assert_problem(client.post(REPORTS, {"kind": "annex_iv", "use_case": "credit-scoring"}, format="json"), 400,
                   "validation-failed", field="model")
    assert_problem(client.post(REPORTS, b"{not json", content_type="application/json"), 400, "malformed-request")
    assert unchanged()


def test_invisible_subject_is_404_and_changes_nothing(complete_system, outsider, unchanged):
    _, case = complete_system
    client = client_for(outsider)
    assert_problem(client.post(REPORTS, {"kind": "validation_report", "review": case.pk}, format="json"), 404,
                   "not-found")
    assert_problem(client.post(REPORTS, {"kind": "evidence_pack", "use_case": "credit-scoring"}, format="json"), 404,
                   "not-found")
    assert unchanged()


def test_audit_extract_by_a_submitter_is_403_and_changes_nothing(complete_system, submitter, unchanged):
    _, case = complete_system
    response = client_for(submitter).post(REPORTS, {"kind": "audit_extract", "subject_type": "reviews.reviewcase",
                                                    "subject_id": str(case.pk)}, format="json")
    assert_problem(response, 403, "permission-denied")
    assert unchanged()


def test_api_key_without_read_scope_is_403_and_with_it_may_request(complete_system, team, unchanged):
    _, no_read = api_key_with_plaintext(service_account__name="deployer", service_account__team=team,
                                        service_account__scopes=[Scope.GATE_CHECK])
    assert_problem(client_for(key=no_read).post(REPORTS, {"kind": "model_inventory"}, format="json"), 403,
                   "permission-denied")
    assert unchanged()
    _, reader = api_key_with_plaintext(service_account__name="reader", service_account__team=team,
                                       service_account__scopes=[Scope.READ])
    assert client_for(key=reader).post(REPORTS, {"kind": "model_inventory"}, format="json").status_code == 202


def test_another_users_documents_are_404(complete_system, submitter, outsider):
    version, _ = complete_system
    document = services.report_generate(actor=submitter, kind="annex_iv", subject=version)
    assert_problem(client_for(outsider).get(f"{REPORTS}{document.pk}/"), 404, "not-found")
    assert_problem(client_for(outsider).get(f"{REPORTS}{document.pk}/download/"), 404, "not-found")
    assert client_for(outsider).get(REPORTS).json()["results"] == []
