"""The audit log browser: who may read it, filters, keyset pages, subject links, the checkpoint badge,
entry pages, inclusion-proof downloads (the API's document) and evidence pack exports."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.audit import services as audit_services
from apps.audit.actions import Action
from apps.audit.models import AuditEntry, Checkpoint
from apps.audit.services import SYSTEM, record
from apps.audit.verifier import hash_leaf, parse_vkey, verify_inclusion, verify_pack
from tests.factories.accounts import ServiceAccountFactory, UserFactory
from tests.factories.registry import ModelVersionFactory, UseCaseFactory

pytestmark = pytest.mark.django_db

ENTRY_LIST_QUERIES = 8


@pytest.fixture(autouse=True)
def _own_signing_key(signing_key_file):
    """Every test signs checkpoints with its own fresh key."""


@pytest.fixture
def submitter():
    return UserFactory(username="sam", roles=[Role.SUBMITTER])


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    return client


def entries(count: int, *, action=Action.REGISTRY_USE_CASE_UPDATED, subject=None, actor=SYSTEM) -> list[AuditEntry]:
    subject = subject or UseCaseFactory()
    return [record(actor=actor, action=action, subject=subject, data={"n": n}, sequenced=True) for n in range(count)]


def shown_indexes(response) -> list[int]:
    return [entry.index for entry, _label, _url in response.context["rows"]]


# --- who may read -------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("audit:entry_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_people_without_the_auditor_or_admin_role_get_403_everywhere(client, submitter):
    entry = entries(1)[0]
    client.force_login(submitter)
    assert client.get(reverse("audit:entry_list")).status_code == 403
    assert client.get(reverse("audit:entry_detail", args=[entry.index])).status_code == 403
    assert client.get(reverse("audit:entry_proof", args=[entry.index])).status_code == 403
    assert client.post(reverse("audit:export"), {}).status_code == 403
    assert not Checkpoint.objects.exists()  # the refused proof download signed nothing


def test_administrators_read_the_log(client):
    entries(1)
    client.force_login(UserFactory(roles=[Role.ADMIN]))
    assert client.get(reverse("audit:entry_list")).status_code == 200


# --- filters and pages --------------------------------------------------------------------------


def test_entries_are_listed_newest_first_with_labels(auditor_client):
    written = entries(3)
    response = auditor_client.get(reverse("audit:entry_list"))
    assert shown_indexes(response) == [entry.index for entry in reversed(written)]
    assert "Use case updated" in response.content.decode()


def test_filter_by_action(auditor_client):
    entries(2, action=Action.REGISTRY_USE_CASE_UPDATED)
    created = entries(1, action=Action.REGISTRY_USE_CASE_CREATED)
    response = auditor_client.get(reverse("audit:entry_list"), {"action": Action.REGISTRY_USE_CASE_CREATED})
    assert shown_indexes(response) == [created[0].index]


def test_filter_by_subject(auditor_client):
    use_case = UseCaseFactory()
    about = entries(2, subject=use_case)
    entries(2)
    response = auditor_client.get(reverse("audit:entry_list"),
                                  {"subject_type": "registry.usecase", "subject_id": use_case.pk})
    assert shown_indexes(response) == [about[1].index, about[0].index]


def test_filter_by_actor_username_service_account_name_and_system(auditor_client, submitter):
    by_person = entries(1, actor=submitter)
    account = ServiceAccountFactory(name="deploy-bot")
    by_account = entries(1, actor=account.user)
    by_system = entries(1)
    url = reverse("audit:entry_list")
    assert shown_indexes(auditor_client.get(url, {"actor": "sam"})) == [by_person[0].index]
    assert shown_indexes(auditor_client.get(url, {"actor": "deploy-bot"})) == [by_account[0].index]
    assert shown_indexes(auditor_client.get(url, {"actor": "svc.deploy-bot"})) == [by_account[0].index]
    assert shown_indexes(auditor_client.get(url, {"actor": "system"})) == [by_system[0].index]


def test_unknown_actor_is_an_error_by_the_field(auditor_client):
    entries(1)
    response = auditor_client.get(reverse("audit:entry_list"), {"actor": "nobody-at-all"})
    assert response.status_code == 200
    assert response.context["form"].errors["actor"] == ["No user or service account is named “nobody-at-all”."]
    assert shown_indexes(response) == []


def test_filter_by_date_range_in_whole_utc_days(auditor_client):
    written = entries(1)
    today = timezone.now().date()
    url = reverse("audit:entry_list")
    assert shown_indexes(auditor_client.get(url, {"since": today, "until": today})) == [written[0].index]
    assert shown_indexes(auditor_client.get(url, {"since": today + dt.timedelta(days=1)})) == []
    assert shown_indexes(auditor_client.get(url, {"until": today - dt.timedelta(days=1)})) == []
    reversed_range = auditor_client.get(url, {"since": today, "until": today - dt.timedelta(days=1)})
    assert "until" in reversed_range.context["form"].errors


def test_keyset_pages_walk_older_and_back_newer(auditor_client):
    written = [entry.index for entry in entries(120)]
    url = reverse("audit:entry_list")
    first = auditor_client.get(url)
    assert shown_indexes(first) == written[::-1][:50]
    assert first.context["newer_cursor"] is None
    second = auditor_client.get(url, {"before": first.context["older_cursor"]})
    assert shown_indexes(second) == written[::-1][50:100]
    third = auditor_client.get(url, {"before": second.context["older_cursor"]})
    assert shown_indexes(third) == written[::-1][100:]
    assert third.context["older_cursor"] is None
    back = auditor_client.get(url, {"after": third.context["newer_cursor"]})
    assert shown_indexes(back) == written[::-1][50:100]


def test_pages_keep_the_filter(auditor_client):
    use_case = UseCaseFactory()
    entries(60, subject=use_case)
    entries(5)
    response = auditor_client.get(reverse("audit:entry_list"),
                                  {"subject_type": "registry.usecase", "subject_id": use_case.pk})
    older = f"subject_type=registry.usecase&amp;subject_id={use_case.pk}&amp;before={response.context['older_cursor']}"
    assert older in response.content.decode()


def test_entries_link_to_their_subjects_pages(auditor_client):
    use_case = UseCaseFactory(key="fraud-alerts")
    version = ModelVersionFactory()
    entries(1, subject=use_case)
    entries(1, subject=version, action=Action.REGISTRY_MODEL_VERSION_REGISTERED)
    content = auditor_client.get(reverse("audit:entry_list")).content.decode()
    assert f'href="{reverse("registry:use_case_detail", args=["fraud-alerts"])}"' in content
    assert f'href="{reverse("registry:model_version_detail", args=[version.pk])}"' in content


def test_entry_list_query_count_does_not_grow(auditor_client, django_assert_num_queries):
    use_case, version = UseCaseFactory(), ModelVersionFactory()
    audit_services.checkpoint_sign()
    for rows in (2, 20):
        while AuditEntry.objects.count() < rows:
            entries(1, subject=use_case)
            entries(1, subject=version, action=Action.REGISTRY_MODEL_VERSION_REGISTERED)
        with django_assert_num_queries(ENTRY_LIST_QUERIES):
            response = auditor_client.get(reverse("audit:entry_list"))
        assert len(response.context["rows"]) == rows


# --- verification badge -------------------------------------------------------------------------


def test_badge_says_when_no_checkpoint_was_signed(auditor_client):
    entries(2)
    content = auditor_client.get(reverse("audit:entry_list")).content.decode()
    assert "No checkpoint yet" in content and "The log holds 2 entries." in content


def test_badge_shows_the_latest_checkpoint_and_what_was_checked(auditor_client):
    entries(3)
    checkpoint = audit_services.checkpoint_sign()
    entries(2)
    response = auditor_client.get(reverse("audit:entry_list"))
    check = response.context["check"]
    assert check.checkpoint.tree_size == 3
    assert (check.signature_valid, check.note_matches_row, check.root_matches_tree) == (True, True, True)
    assert check.unsigned_entries == 2
    content = response.content.decode()
    assert "Latest checkpoint verified" in content
    assert checkpoint.signing_key.key_id in content
    assert "not a full <code>manage.py audit verify</code>" in content


# --- one entry and its proof --------------------------------------------------------------------


def test_entry_page_shows_every_recorded_field(auditor_client):
    entry = record(actor=SYSTEM, action=Action.REGISTRY_USE_CASE_UPDATED, subject=UseCaseFactory(),
                   data={"name": {"before": "Old", "after": "New"}}, sequenced=True)
    response = auditor_client.get(reverse("audit:entry_detail", args=[entry.index]))
    content = response.content.decode()
    assert bytes(entry.leaf_hash).hex() in content
    assert '"after": "New"' in response.context["data_json"]
    assert "&quot;after&quot;: &quot;New&quot;" in content
    assert reverse("audit:entry_proof", args=[entry.index]) in content


def test_missing_entry_is_404(auditor_client):
    assert auditor_client.get(reverse("audit:entry_detail", args=[999])).status_code == 404
    assert auditor_client.get(reverse("audit:entry_proof", args=[999])).status_code == 404


def test_proof_download_is_the_api_document_and_verifies(auditor_client):
    written = entries(5)
    target = written[2]
    response = auditor_client.get(reverse("audit:entry_proof", args=[target.index]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="docket-audit-entry-{target.index}-proof.json"'
    document = json.loads(response.content)
    api = auditor_client.get(f"/api/v1/audit/entries/{target.index}").json()
    assert document == api
    checkpoint = Checkpoint.objects.get(tree_size=document["checkpoint"]["tree_size"])
    verify_inclusion(leaf_index=target.index, tree_size=checkpoint.tree_size,
                     leaf_hash=hash_leaf(bytes(target.encoded)),
                     proof=[base64.b64decode(node) for node in document["inclusion_proof"]],
                     root=bytes(checkpoint.root_hash))


# --- evidence pack export -----------------------------------------------------------------------


def test_export_for_a_subject_streams_a_subject_pack_that_verifies(auditor_client, tmp_path):
    from apps.audit.models import SigningKey

    use_case = UseCaseFactory()
    about = entries(3, subject=use_case)
    entries(2)
    response = auditor_client.post(reverse("audit:export"),
                                   {"subject_type": "registry.usecase", "subject_id": use_case.pk})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert "attachment" in response["Content-Disposition"]
    path = tmp_path / "pack.tar.gz"
    path.write_bytes(b"".join(response.streaming_content))
    report = verify_pack(path, keys=[parse_vkey(key.vkey) for key in SigningKey.objects.all()])
    assert report.kind == "subject"
    assert (report.entry_count, report.first_index, report.last_index) == (3, about[0].index, about[-1].index)


def test_export_for_an_action_filter_is_the_range_from_first_to_last_match(auditor_client, tmp_path):
    from apps.audit.models import SigningKey

    entries(2)
    first = entries(1, action=Action.REGISTRY_USE_CASE_CREATED)[0]
    entries(2)
    last = entries(1, action=Action.REGISTRY_USE_CASE_CREATED)[0]
    entries(2)
    response = auditor_client.post(reverse("audit:export"), {"action": Action.REGISTRY_USE_CASE_CREATED})
    path = tmp_path / "pack.tar.gz"
    path.write_bytes(b"".join(response.streaming_content))
    report = verify_pack(path, keys=[parse_vkey(key.vkey) for key in SigningKey.objects.all()])
    assert report.kind == "range"
    assert (report.first_index, report.last_index, report.entry_count) == (first.index, last.index, 4)


def test_export_above_the_configured_size_is_refused_with_a_message(auditor_client, settings):
    settings.DOCKET_AUDIT_UI_EXPORT_MAX_ENTRIES = 3
    entries(5)
    response = auditor_client.post(reverse("audit:export"), {}, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("audit:entry_list"))
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [("This pack would hold 5 entries; the web export stops at 3. Narrow the filter, or run "
                         "`manage.py audit export` on the server, which streams packs of any size.")]
    assert not Checkpoint.objects.exists()  # nothing was exported, so nothing was signed


def test_export_with_no_matching_entries_says_so(auditor_client):
    entries(2)
    response = auditor_client.post(reverse("audit:export"), {"action": Action.GATE_APPROVAL_REVOKED}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "No entries match this filter; there is nothing to export."]


def test_export_with_an_invalid_filter_is_refused(auditor_client):
    entries(2)
    response = auditor_client.post(reverse("audit:export"), {"actor": "nobody-at-all"}, follow=True)
    assert "Fix the filter before exporting" in next(str(m) for m in response.context["messages"])
    assert not Checkpoint.objects.exists()


def test_export_is_post_only(auditor_client):
    assert auditor_client.get(reverse("audit:export")).status_code == 405
