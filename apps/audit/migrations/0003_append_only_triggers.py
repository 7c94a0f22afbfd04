"""PostgreSQL refuses UPDATE, DELETE and TRUNCATE on the audit log tables, whoever asks; and the
audit writer's lock-and-read function (one round trip instead of two while the sequencer lock is held).

The triggers are ENABLE ALWAYS so that `SET session_replication_role = replica` (which silences
ordinary triggers) cannot skip them. Signing keys accept exactly one change: closing the validity
window of the current key during rotation. Other databases rely on the Django-level refusals in
apps/audit/models.py.
"""

from django.db import migrations

APPEND_ONLY_TABLES = ["audit_auditentry", "audit_treenode", "audit_checkpoint", "audit_cosignature"]

CREATE_FUNCTIONS = """
CREATE OR REPLACE FUNCTION docket_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'docket audit log: % on % is refused; the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- The audit writer's first round trip: take the sequencer lock, then read (with a fresh snapshot, as
-- every statement of a VOLATILE function has under READ COMMITTED) the next index and the size of the
-- latest checkpoint.
CREATE OR REPLACE FUNCTION docket_audit_lock_sequencer(lock_key bigint, OUT next_index bigint, OUT covered bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT COALESCE(MAX("index") + 1, 0) INTO next_index FROM audit_auditentry;
    SELECT COALESCE(MAX(tree_size), 0) INTO covered FROM audit_checkpoint;
END;
$$;

CREATE OR REPLACE FUNCTION docket_audit_signing_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.valid_until IS NULL AND NEW.valid_until IS NOT NULL AND NEW.valid_until >= OLD.valid_from
       AND NEW.id = OLD.id AND NEW.name = OLD.name AND NEW.key_id = OLD.key_id
       AND NEW.public_key = OLD.public_key AND NEW.vkey = OLD.vkey AND NEW.valid_from = OLD.valid_from THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'docket audit log: % on % is refused; a signing key only has its validity ended once', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def _trigger_sql(table: str, function: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION docket_audit_refuse_change()",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
    ]


def install_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTIONS, params=None)
    for table in APPEND_ONLY_TABLES:
        for statement in _trigger_sql(table, "docket_audit_refuse_change"):
            schema_editor.execute(statement)
    for statement in _trigger_sql("audit_signingkey", "docket_audit_signing_key_guard"):
        schema_editor.execute(statement)


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in [*APPEND_ONLY_TABLES, "audit_signingkey"]:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS docket_audit_refuse_change()")
    schema_editor.execute("DROP FUNCTION IF EXISTS docket_audit_lock_sequencer(bigint)")
    schema_editor.execute("DROP FUNCTION IF EXISTS docket_audit_signing_key_guard()")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_tree_checkpoints_keys")]

    operations = [migrations.RunPython(install_triggers, remove_triggers)]
