"""Attempts to change or remove log rows behind the audit writer's back: each is refused."""

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit import services
from apps.audit.models import AppendOnlyError, AuditEntry, Checkpoint, SigningKey, TreeNode
from tests.audit.logdata import append_entries

pytestmark = pytest.mark.django_db

LOG_TABLES = ["audit_auditentry", "audit_treenode", "audit_checkpoint"]


@pytest.fixture
def log(signing_key_file):
    append_entries(6)
    services.checkpoint_sign()
    with connection.cursor() as cursor:
        # Run the deferred foreign-key checks now: PostgreSQL reports pending ones before any TRUNCATE trigger.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return AuditEntry.objects.order_by("index")


def _refused_sql(sql: str, params=None) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(excinfo.value)


def _snapshot():
    return (
        list(AuditEntry.objects.values_list("index", "encoded", "leaf_hash", "data")),
        list(TreeNode.objects.values_list("level", "index", "hash")),
        list(Checkpoint.objects.values_list("tree_size", "root_hash", "note")),
        list(SigningKey.objects.values_list("key_id", "public_key", "valid_until")),
    )


def test_queryset_update_and_delete_are_refused_on_every_log_model(log):
    before = _snapshot()
    for model in (AuditEntry, TreeNode, Checkpoint, SigningKey):
        with pytest.raises(AppendOnlyError):
            model.objects.all().update(pk=1)
        with pytest.raises(AppendOnlyError):
            model.objects.all().delete()
    assert _snapshot() == before


def test_saving_or_deleting_an_existing_row_is_refused(log):
    before = _snapshot()
    entry = log.first()
    entry.data = {"forged": True}
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    checkpoint = Checkpoint.objects.get()
    with pytest.raises(AppendOnlyError):
        checkpoint.delete()
    key = SigningKey.objects.get()
    key.valid_until = key.valid_from
    with pytest.raises(AppendOnlyError):
        key.save()
    assert _snapshot() == before


def test_bulk_create_with_forged_hashes_is_refused(log):
    forged = AuditEntry(
        index=6, timestamp=log.first().timestamp, actor_type="system", actor_id="", actor_name="Docket",
        action="accounts.user.created", subject_type="accounts.user", subject_id="1", subject_label="x", data={},
        format_version=1, encoded=b"{}", leaf_hash=b"\x00" * 32,
    )
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.bulk_create([forged])
    with pytest.raises(AppendOnlyError):
        TreeNode.objects.bulk_create([TreeNode(level=0, index=6, hash=b"\x00" * 32)])
    assert AuditEntry.objects.count() == 6 and not TreeNode.objects.filter(level=0, index=6).exists()


@pytest.mark.parametrize("table", LOG_TABLES)
def test_raw_sql_update_delete_and_truncate_are_refused_by_postgresql(log, table):
    before = _snapshot()
    assert "append-only" in _refused_sql(f"UPDATE {table} SET {'note' if table == 'audit_checkpoint' else 'index'} = {'note' if table == 'audit_checkpoint' else 'index'}")
    assert "append-only" in _refused_sql(f"DELETE FROM {table}")
    assert "append-only" in _refused_sql(f"TRUNCATE {table} CASCADE")
    assert _snapshot() == before


def test_session_replication_role_replica_does_not_silence_the_triggers(log):
    before = _snapshot()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for sql in (
            "UPDATE audit_auditentry SET data = '{}'::jsonb",
            "DELETE FROM audit_treenode",
            "TRUNCATE audit_checkpoint CASCADE",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql)
    assert _snapshot() == before


def test_a_signing_key_accepts_only_the_end_of_its_validity_once(log):
    key = SigningKey.objects.get()
    assert "validity ended once" in _refused_sql("UPDATE audit_signingkey SET public_key = '\\x00'::bytea")
    assert "validity ended once" in _refused_sql("DELETE FROM audit_signingkey")
    assert "append-only" in _refused_sql("TRUNCATE audit_signingkey CASCADE")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_signingkey SET valid_until = valid_from + interval '1 second'")
    assert "validity ended once" in _refused_sql("UPDATE audit_signingkey SET valid_until = now() + interval '1 day'")
    key.refresh_from_db()
    assert key.valid_until is not None


@pytest.fixture
def application_role():
    """A role with the recommended grants: INSERT and SELECT only on the log tables (docs/operations.md)."""
    with connection.cursor() as cursor:
        cursor.execute("DO $$ BEGIN CREATE ROLE docket_app_test NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        cursor.execute("GRANT USAGE ON SCHEMA public TO docket_app_test")
        cursor.execute(f"GRANT SELECT, INSERT ON {', '.join(LOG_TABLES + ['audit_signingkey'])} TO docket_app_test")
    return "docket_app_test"


def test_the_application_role_cannot_change_rows_or_disable_triggers(log, application_role):
    before = _snapshot()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {application_role}")
        for sql in (
            "UPDATE audit_auditentry SET data = '{}'::jsonb",
            "DELETE FROM audit_auditentry",
            "TRUNCATE audit_auditentry",
            "ALTER TABLE audit_auditentry DISABLE TRIGGER ALL",
            "SET session_replication_role = replica",
        ):
            with pytest.raises(DatabaseError, match="permission denied|must be owner|append-only"), transaction.atomic():
                cursor.execute(sql)
        cursor.execute("SELECT COUNT(*) FROM audit_auditentry")
        assert cursor.fetchone() == (6,)
    assert _snapshot() == before


def test_the_application_role_records_through_the_commit_time_queue(log, application_role):
    """The grants docs/operations.md recommends are enough for queued entries: INSERT and DELETE on the
    queue (the trigger deletes as the writer), INSERT and SELECT on the log."""
    from apps.audit.actions import Action
    from apps.audit.encoding import SubjectRef
    from apps.audit.services import SYSTEM, record

    with connection.cursor() as cursor:
        cursor.execute(f"GRANT SELECT, INSERT, DELETE ON audit_queuedentry TO {application_role}")
        cursor.execute(f"GRANT USAGE ON SEQUENCE audit_queuedentry_id_seq TO {application_role}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {application_role}")
        record(actor=SYSTEM, action=Action.ACCOUNTS_TEAM_CREATED, subject=SubjectRef(type="accounts.team", id="9",
                                                                                     label="as the app"), data={})
        cursor.execute("SELECT index, subject_label FROM audit_auditentry ORDER BY index DESC LIMIT 1")
        assert cursor.fetchone() == (6, "as the app")
        cursor.execute("SELECT COUNT(*) FROM audit_queuedentry")
        assert cursor.fetchone() == (0,)
