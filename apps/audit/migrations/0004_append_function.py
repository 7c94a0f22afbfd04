"""The audit writer's append as one PostgreSQL function: take the sequencer lock, read the next index
and the latest checkpoint's size, stamp the time, assemble the canonical encoding around the index and
timestamp, hash the leaf (RFC 6962: SHA-256(0x00 || entry)) and insert the entry — one round trip
while the lock is held instead of two, and no Python work under the lock.

The timestamp is `clock_timestamp()` taken under the lock, so timestamps never decrease along the
index. Its text form is exactly `apps.audit.encoding.format_timestamp` (UTC, microseconds, "Z").
"""

from django.db import migrations

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION docket_audit_append(
    lock_key bigint, head bytea, middle bytea, tail bytea,
    p_actor_type varchar, p_actor_id varchar, p_actor_name varchar, p_action varchar,
    p_subject_type varchar, p_subject_id varchar, p_subject_label varchar, p_data text,
    p_request_id varchar, p_format_version smallint,
    OUT entry_index bigint, OUT entry_timestamp timestamptz, OUT covered bigint,
    OUT entry_encoded bytea, OUT entry_leaf_hash bytea)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT COALESCE(MAX("index") + 1, 0) INTO entry_index FROM audit_auditentry;
    SELECT COALESCE(MAX(tree_size), 0) INTO covered FROM audit_checkpoint;
    entry_timestamp := date_trunc('microseconds', clock_timestamp());
    entry_encoded := head || convert_to(entry_index::text, 'UTF8') || middle
        || convert_to(to_char(entry_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8') || tail;
    entry_leaf_hash := sha256('\\x00'::bytea || entry_encoded);
    INSERT INTO audit_auditentry ("index", "timestamp", actor_type, actor_id, actor_name, action, subject_type,
                                  subject_id, subject_label, data, request_id, format_version, encoded, leaf_hash)
    VALUES (entry_index, entry_timestamp, p_actor_type, p_actor_id, p_actor_name, p_action, p_subject_type,
            p_subject_id, p_subject_label, p_data::jsonb, p_request_id, p_format_version, entry_encoded,
            entry_leaf_hash);
END;
$$;
"""

DROP_FUNCTION = ("DROP FUNCTION IF EXISTS docket_audit_append(bigint, bytea, bytea, bytea, varchar, varchar, varchar, "
                 "varchar, varchar, varchar, varchar, text, varchar, smallint)")


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_FUNCTION, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only_triggers")]

    operations = [migrations.RunPython(install, remove)]
