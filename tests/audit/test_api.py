import base64

import pytest
from rest_framework.test import APIClient

from apps.accounts.roles import Role
from apps.audit import services
from apps.audit.models import Checkpoint
from apps.audit.verifier import open_note, parse_checkpoint, parse_vkey, verify_consistency, verify_inclusion
from tests.audit.logdata import append_entries
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/audit/"


def b64d(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
def auditor_client():
    client = APIClient()
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    return client


@pytest.fixture
def admin_client():
    client = APIClient()
    client.force_login(UserFactory(roles=[Role.ADMIN]))
    return client


@pytest.fixture
def log(signing_key_file):
    append_entries(12)
    services.checkpoint_sign()
    append_entries(3, start_label=12)


def test_auditor_lists_entries_in_index_order_with_cursor_pages(auditor_client, log, django_assert_num_queries):
    with django_assert_num_queries(4):  # session, user, role check, one page of entries
        first = auditor_client.get(API + "entries", {"page_size": 10})
    assert first.status_code == 200
    assert [e["index"] for e in first.json()["results"]] == list(range(10))
    second = auditor_client.get(first.json()["next"])
    assert [e["index"] for e in second.json()["results"]] == list(range(10, 15))
    entry = first.json()["results"][3]
    assert entry["subject"] == {"type": "accounts.user", "id": "3", "label": "user 3"}
    assert entry["actor"]["type"] == "system" and entry["data"] == {"n": 3}


def test_entry_list_filters(auditor_client, log):
    response = auditor_client.get(API + "entries", {"subject_type": "accounts.user", "subject_id": "7"})
    assert [e["index"] for e in response.json()["results"]] == [7]
    response = auditor_client.get(API + "entries", {"index_from": 4, "index_to": 6, "action": "accounts.user.created"})
    assert [e["index"] for e in response.json()["results"]] == [4, 5, 6]
    response = auditor_client.get(API + "entries", {"actor_type": "user"})
    assert response.json()["results"] == []
    response = auditor_client.get(API + "entries", {"since": "2999-01-01T00:00:00Z"})
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    "params", [{"index_from": "seven"}, {"index_to": "-1"}, {"since": "yesterday"}, {"until": "2026-01-01T00:00:00"}],
    ids=["non-integer-index", "negative-index", "unparseable-time", "time-without-zone"],
)
def test_malformed_filters_are_a_validation_problem(auditor_client, log, params):
    response = auditor_client.get(API + "entries", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/validation-failed")


def test_anonymous_callers_are_refused(log):
    response = APIClient().get(API + "entries")
    assert response.status_code in (401, 403) and response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("role", [Role.SUBMITTER, Role.VALIDATOR, Role.APPROVER])
def test_other_roles_are_forbidden(log, role):
    client = APIClient()
    client.force_login(UserFactory(roles=[role]))
    for url in ("entries", "entries/1", "checkpoints/latest", "keys", "proofs/consistency?old_size=1"):
        response = client.get(API + url)
        assert response.status_code == 403, url
        assert response.json()["type"].endswith("/permission-denied")


def test_entry_detail_carries_an_inclusion_proof_that_verifies_against_the_signed_checkpoint(auditor_client, log):
    keys = [parse_vkey(k["vkey"]) for k in auditor_client.get(API + "keys").json()]
    body = auditor_client.get(API + "entries/5").json()
    text, _ = open_note(body["checkpoint"]["note"], keys)
    checkpoint = parse_checkpoint(text)
    assert checkpoint.tree_size == 12
    verify_inclusion(
        leaf_index=5, tree_size=12, leaf_hash=b64d(body["entry"]["leaf_hash"]),
        proof=[b64d(h) for h in body["inclusion_proof"]], root=checkpoint.root_hash,
    )
    lines = body["tlog_proof"].split("\n")
    assert lines[:2] == ["c2sp.org/tlog-proof@v1", "index 5"]
    assert body["tlog_proof"].endswith("\n\n" + body["checkpoint"]["note"])


def test_entry_detail_of_an_uncovered_entry_signs_a_checkpoint_first(auditor_client, log):
    assert Checkpoint.objects.count() == 1
    body = auditor_client.get(API + "entries/14").json()
    assert body["checkpoint"]["tree_size"] == 15 and Checkpoint.objects.count() == 2


def test_entry_detail_in_a_requested_checkpoint(auditor_client, log):
    services.checkpoint_sign()
    body = auditor_client.get(API + "entries/3", {"tree_size": 12}).json()
    assert body["checkpoint"]["tree_size"] == 12 and len(body["inclusion_proof"]) == 4


@pytest.mark.parametrize(
    ("url", "status", "problem"),
    [
        ("entries/99", 404, "not-found"),
        ("entries/3?tree_size=13", 400, "validation-failed"),
        ("entries/13?tree_size=12", 400, "validation-failed"),
        ("entries/3?tree_size=x", 400, "validation-failed"),
    ],
    ids=["no-such-entry", "no-such-checkpoint", "entry-not-in-checkpoint", "non-integer-size"],
)
def test_entry_detail_errors(auditor_client, log, url, status, problem):
    before = Checkpoint.objects.count()
    response = auditor_client.get(API + url)
    assert response.status_code == status and response.json()["type"].endswith("/" + problem)
    assert Checkpoint.objects.count() == before


def test_latest_checkpoint_as_json_and_as_a_signed_note(auditor_client, log):
    as_json = auditor_client.get(API + "checkpoints/latest").json()
    note = auditor_client.get(API + "checkpoints/latest/note")
    assert note["Content-Type"].startswith("text/plain")
    assert note.content.decode() == as_json["note"]
    keys = [parse_vkey(k["vkey"]) for k in auditor_client.get(API + "keys").json()]
    text, _ = open_note(as_json["note"], keys)
    assert parse_checkpoint(text).tree_size == as_json["tree_size"] == 12


def test_latest_checkpoint_before_any_is_not_found(auditor_client, db):
    response = auditor_client.get(API + "checkpoints/latest")
    assert response.status_code == 404 and response.json()["type"].endswith("/not-found")


def test_consistency_proof_between_two_checkpoints_verifies(auditor_client, log):
    old = Checkpoint.objects.get(tree_size=12)
    new = services.checkpoint_sign()
    body = auditor_client.get(API + "proofs/consistency", {"old_size": 12}).json()
    assert (body["old_size"], body["new_size"]) == (12, 15)
    verify_consistency(
        old_size=12, new_size=15, old_root=bytes(old.root_hash), new_root=bytes(new.root_hash),
        proof=[b64d(h) for h in body["proof"]],
    )


@pytest.mark.parametrize(
    "params", [{}, {"old_size": 0}, {"old_size": 5, "new_size": 4}, {"old_size": 3, "new_size": 13}],
    ids=["missing-old-size", "old-size-zero", "old-above-new", "new-beyond-latest-checkpoint"],
)
def test_consistency_proof_refuses_bad_sizes(auditor_client, log, params):
    response = auditor_client.get(API + "proofs/consistency", params)
    assert response.status_code == 400 and response.json()["type"].endswith("/validation-failed")


def test_keys_publish_vkeys_with_validity(auditor_client, log):
    keys = auditor_client.get(API + "keys").json()
    assert len(keys) == 1 and keys[0]["valid_until"] is None
    assert parse_vkey(keys[0]["vkey"]).key_id.hex() == keys[0]["key_id"]


def test_admin_signs_a_checkpoint_on_demand(admin_client, log):
    response = admin_client.post(API + "checkpoints")
    assert response.status_code == 201 and response.json()["tree_size"] == 15
    listed = admin_client.get(API + "checkpoints").json()["results"]
    assert [c["tree_size"] for c in listed] == [12, 15]


def test_an_auditor_may_not_sign_a_checkpoint_and_nothing_is_signed(auditor_client, log):
    response = auditor_client.post(API + "checkpoints")
    assert response.status_code == 403 and response.json()["type"].endswith("/permission-denied")
    assert Checkpoint.objects.count() == 1
