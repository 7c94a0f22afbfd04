"""PostgreSQL refuses what the models refuse: a DELETE of registered evidence, and an UPDATE that changes
anything but the columns a model lists in MUTABLE_FIELDS — whoever asks, raw SQL and
`session_replication_role = replica` included (ENABLE ALWAYS). The function is shared with the reviews
app's signed records (reviews.0004). SQLite, used by the embedded demo only, relies on the models' checks.

The mutable columns are given to each trigger as its arguments; a model that gains a MUTABLE_FIELDS
entry needs a migration that re-creates its trigger (tests/registry/test_database_immutability.py
compares the triggers with the models)."""

from django.db import migrations

from apps.common.evidence_triggers import FUNCTION, trigger_sql

# table -> columns that may change after insertion (the model's MUTABLE_FIELDS)
PROTECTED = {
    "registry_classificationdecision": [],
    "registry_modelversion": [],
    "registry_modelversiondataset": [],
    "registry_claimedmetric": [],
    "registry_datasetversion": ["file", "lifecycle_state", "lifecycle_changed_at"],
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table, mutable in PROTECTED.items():
        for statement in trigger_sql(table, mutable):
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in PROTECTED:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS docket_refuse_evidence_change()")


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_modelversion_registry_mv_registered_at")]

    operations = [migrations.RunPython(forwards, backwards)]
