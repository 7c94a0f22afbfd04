"""Commit-time sequencing on PostgreSQL: `record()` queues the entry (a plain INSERT, no lock) and a
deferred constraint trigger appends it with `docket_audit_append` when the transaction commits.

Before, the sequencer lock was taken inside the transaction and held across the client's round trip
to COMMIT, so concurrent writers queued behind each other's network hops and scheduling delays. Now
the lock is taken in the committing backend right before the commit record is written and released
right after it: the index is still gap-free (assigned under the lock, in commit order; a rolled-back
transaction never fires the trigger) and every committed change still has its entry, written in the
same transaction.

`docket_audit_sequence_now()` fires the transaction's queued entries at once (SET CONSTRAINTS ...
IMMEDIATE, then DEFERRED again for later ones): the writer calls it before a caller needs an entry's
index inside the transaction, and before the transaction reads the log.
"""

from django.db import migrations, models

CREATE = """
ALTER TABLE audit_queuedentry SET UNLOGGED;

-- Unused since docket_audit_append (0004) took over its lock-and-read.
DROP FUNCTION IF EXISTS docket_audit_lock_sequencer(bigint);

CREATE OR REPLACE FUNCTION docket_audit_sequence_queued_entry() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    appended record;
BEGIN
    SELECT * INTO appended FROM docket_audit_append(
        {SEQUENCER_LOCK_KEY}, NEW.head, NEW.middle, NEW.tail, NEW.actor_type, NEW.actor_id, NEW.actor_name, NEW.action,
        NEW.subject_type, NEW.subject_id, NEW.subject_label, NEW.data, NEW.request_id, NEW.format_version::smallint);
    IF appended.entry_index + 1 - appended.covered > NEW.max_uncovered THEN
        RAISE EXCEPTION 'docket audit log: % entries would not be covered by a signed checkpoint (at most % may be); sign one with `manage.py audit checkpoint` and check the signing key',
            appended.entry_index + 1 - appended.covered, NEW.max_uncovered
            USING ERRCODE = 'check_violation';
    END IF;
    DELETE FROM audit_queuedentry WHERE id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER docket_audit_sequence AFTER INSERT ON audit_queuedentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION docket_audit_sequence_queued_entry();
ALTER TABLE audit_queuedentry ENABLE ALWAYS TRIGGER docket_audit_sequence;

-- How many committed entries no signed checkpoint covers yet (the writer reads it while queuing).
-- PL/pgSQL rather than SQL: its statements' plans are cached for the session, not made on every call.
CREATE OR REPLACE FUNCTION docket_audit_uncovered() RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT COALESCE(MAX("index") + 1, 0) FROM audit_auditentry)
         - (SELECT COALESCE(MAX(tree_size), 0) FROM audit_checkpoint);
END;
$$;

CREATE OR REPLACE FUNCTION docket_audit_sequence_now() RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SET CONSTRAINTS docket_audit_sequence IMMEDIATE;
    SET CONSTRAINTS docket_audit_sequence DEFERRED;
END;
$$;
"""

DROP = """
CREATE OR REPLACE FUNCTION docket_audit_lock_sequencer(lock_key bigint, OUT next_index bigint, OUT covered bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT COALESCE(MAX("index") + 1, 0) INTO next_index FROM audit_auditentry;
    SELECT COALESCE(MAX(tree_size), 0) INTO covered FROM audit_checkpoint;
END;
$$;
DROP FUNCTION IF EXISTS docket_audit_sequence_now();
DROP FUNCTION IF EXISTS docket_audit_uncovered();
DROP TRIGGER IF EXISTS docket_audit_sequence ON audit_queuedentry;
DROP FUNCTION IF EXISTS docket_audit_sequence_queued_entry();
"""

# The sequencer lock's key (apps.audit.services._SEQUENCER_LOCK_KEY); kept here as a literal so the
# migration does not change if the module does.
SEQUENCER_LOCK_KEY = 0x646F636B6574_01


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE.replace("{SEQUENCER_LOCK_KEY}", str(SEQUENCER_LOCK_KEY)), params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_append_function")]

    operations = [
        migrations.CreateModel(
            name="QueuedEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("head", models.BinaryField()),
                ("middle", models.BinaryField()),
                ("tail", models.BinaryField()),
                ("actor_type", models.CharField(max_length=32)),
                ("actor_id", models.CharField(blank=True, max_length=64)),
                ("actor_name", models.CharField(max_length=300)),
                ("action", models.CharField(max_length=100)),
                ("subject_type", models.CharField(max_length=100)),
                ("subject_id", models.CharField(max_length=100)),
                ("subject_label", models.CharField(max_length=300)),
                ("data", models.TextField(help_text="The entry's data as JSON text.")),
                ("request_id", models.CharField(blank=True, max_length=128, null=True)),
                ("format_version", models.PositiveSmallIntegerField()),
                ("max_uncovered", models.BigIntegerField(help_text=(
                    "DOCKET_AUDIT_MAX_UNCHECKPOINTED when recorded: the trigger refuses to commit an entry that "
                    "would leave more entries than this without a signed checkpoint."))),
            ],
        ),
        migrations.RunPython(install, remove),
    ]
