"""Tampering with the log in the database as its owner (triggers disabled): `audit verify` catches each
change and names the first failing index."""

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from apps.audit import services, signing
from apps.audit.encoding import leaf_hash
from apps.audit.models import AuditEntry, Checkpoint
from tests.audit.logdata import append_entries

pytestmark = pytest.mark.django_db

TABLES = ["audit_auditentry", "audit_treenode", "audit_checkpoint", "audit_cosignature", "audit_signingkey"]


def tamper(*statements, params=None):
    """Runs SQL as the table owner with the append-only triggers disabled, then re-enables them ALWAYS.

    `params` go to the statements that have placeholders.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending deferred checks
        for table in TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for statement in statements:
            cursor.execute(statement, params if "%" in statement else None)
        for table in TABLES:
            cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only")
            cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate")


def verify(*args) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, err.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def log(signing_key_file):
    """20 entries: checkpoints of 8 and 20 entries, then 3 entries not yet checkpointed."""
    append_entries(8)
    services.checkpoint_sign()
    append_entries(12, start_label=8)
    services.checkpoint_sign()
    append_entries(3, start_label=20)
    return signing_key_file


def test_an_untouched_log_verifies(log):
    status, output = verify()
    assert status == 0, output
    assert output.startswith("OK: 23 entries") and "2 checkpoints (latest covers 20)" in output


def test_flipping_a_byte_of_an_entry_is_detected_at_that_index(log):
    tamper("UPDATE audit_auditentry SET encoded = overlay(encoded placing '\\x21'::bytea from 30 for 1) WHERE index = 5")
    status, output = verify()
    assert status == 1 and "first failing index 5:" in output


def test_flipping_a_byte_and_rehashing_the_entry_is_detected_by_the_stored_tree(log):
    entry = AuditEntry.objects.get(index=5)
    forged = bytes(entry.encoded).replace(b'"n":5', b'"n":6')
    data = json.loads(forged)["data"]
    tamper(
        "UPDATE audit_auditentry SET encoded = %s, leaf_hash = %s, data = %s::jsonb WHERE index = 5",
        params=[forged, leaf_hash(forged), json.dumps(data)],
    )
    status, output = verify()
    assert status == 1 and "first failing index 5:" in output and "tree node 0/5" in output


def test_changing_a_column_without_the_bytes_is_detected(log):
    tamper("UPDATE audit_auditentry SET actor_name = 'Someone else' WHERE index = 11")
    status, output = verify()
    assert status == 1 and "first failing index 11: column actor_name" in output


def test_deleting_an_entry_is_detected_at_its_index(log):
    tamper("DELETE FROM audit_auditentry WHERE index = 7")
    status, output = verify()
    assert status == 1 and "first failing index 7: entry 7 is missing" in output


def test_inserting_an_entry_is_detected_at_its_index(log):
    entry = AuditEntry.objects.get(index=6)
    forged = bytes(entry.encoded).replace(b'"n":6', b'"n":66')
    tamper(
        "UPDATE audit_auditentry SET index = -index - 1 WHERE index >= 6",
        "UPDATE audit_auditentry SET index = -index WHERE index < 0",
        "INSERT INTO audit_auditentry SELECT 6, timestamp, actor_type, actor_id, actor_name, action, subject_type,"
        " subject_id, subject_label, '{\"n\": 66}'::jsonb, request_id, format_version, %s, %s"
        " FROM audit_auditentry WHERE index = 7",
        params=[forged, leaf_hash(forged)],
    )
    status, output = verify()
    assert status == 1 and "first failing index 6:" in output


def test_swapping_two_entries_is_detected_at_the_first_of_them(log):
    tamper(
        "UPDATE audit_auditentry SET index = -1 WHERE index = 3",
        "UPDATE audit_auditentry SET index = 3 WHERE index = 9",
        "UPDATE audit_auditentry SET index = 9 WHERE index = -1",
    )
    status, output = verify()
    assert status == 1 and "first failing index 3: the entry's bytes say it is entry 9" in output


def test_truncating_the_tail_is_detected_where_entries_are_missing(log):
    tamper("DELETE FROM audit_auditentry WHERE index >= 15")
    status, output = verify()
    assert status == 1 and "first failing index 15:" in output and "covers 20 entries" in output


def test_a_checkpoint_re_signed_with_a_wrong_key_is_detected(log, settings):
    intruder = signing.generate_signer(settings.DOCKET_AUDIT_ORIGIN)
    checkpoint = Checkpoint.objects.get(tree_size=20)
    body = checkpoint.note.split("\n\n")[0] + "\n"
    tamper("UPDATE audit_checkpoint SET note = %s WHERE tree_size = 20", params=[signing.sign_note(body, intruder)])
    status, output = verify()
    assert status == 1 and "first failing index 8: checkpoint of 20 entries" in output and "trusted key" in output


def test_a_planted_signing_key_is_caught_by_a_pinned_verifier_key(log, settings):
    genuine = signing.load_signer().vkey
    intruder = signing.generate_signer(settings.DOCKET_AUDIT_ORIGIN)
    re_signed = {
        size: signing.sign_note(Checkpoint.objects.get(tree_size=size).note.split("\n\n")[0] + "\n", intruder)
        for size in (8, 20)
    }
    tamper(
        "UPDATE audit_signingkey SET public_key = %(public_key)s, vkey = %(vkey)s, key_id = %(key_id)s",
        "UPDATE audit_checkpoint SET note = CASE tree_size WHEN 8 THEN %(note8)s ELSE %(note20)s END",
        params={
            "public_key": intruder.public_key, "vkey": intruder.vkey, "key_id": intruder.key_id.hex(),
            "note8": re_signed[8], "note20": re_signed[20],
        },
    )
    assert verify()[0] == 0  # consistent with itself: only an outside key can tell
    status, output = verify("--key", genuine)
    assert status == 1 and "first failing index 0: checkpoint of 8 entries" in output


def test_rolling_back_to_an_earlier_checkpoint_is_caught_by_a_checkpoint_the_auditor_kept(log, tmp_path):
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(Checkpoint.objects.get(tree_size=20).note)
    tamper(
        "DELETE FROM audit_checkpoint WHERE tree_size = 20",
        "DELETE FROM audit_treenode WHERE ((\"index\" + 1) << level) > 8",
        "DELETE FROM audit_auditentry WHERE index >= 8",
    )
    assert verify()[0] == 0  # a complete rollback is self-consistent ...
    status, output = verify("--checkpoint", str(kept))
    assert status == 1 and "first failing index 8:" in output and "trusted checkpoint covers 20" in output


def test_removing_the_latest_checkpoint_alone_is_detected(log):
    tamper("DELETE FROM audit_checkpoint WHERE tree_size = 20")
    status, output = verify()
    assert status == 1 and "first failing index 8:" in output and "beyond the checkpointed log" in output


def test_history_rewritten_and_re_signed_with_the_real_key_is_caught_by_a_kept_checkpoint(log, tmp_path):
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(Checkpoint.objects.get(tree_size=8).note)
    entry = AuditEntry.objects.get(index=2)
    forged = bytes(entry.encoded).replace(b'"n":2', b'"n":22')
    tamper(
        "DELETE FROM audit_checkpoint",
        "DELETE FROM audit_treenode",
        "UPDATE audit_auditentry SET encoded = %s, leaf_hash = %s, data = '{\"n\": 22}'::jsonb WHERE index = 2",
        params=[forged, leaf_hash(forged)],
    )
    services.checkpoint_sign()
    assert verify()[0] == 0
    status, output = verify("--checkpoint", str(kept))
    assert status == 1 and "first failing index 0:" in output and "history" in output
