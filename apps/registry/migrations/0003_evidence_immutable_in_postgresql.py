"""PostgreSQL refuses what the models refuse: a DELETE of registered evidence, and an UPDATE that changes
anything but the columns a model lists in MUTABLE_FIELDS — whoever asks, raw SQL and
`session_replication_role = replica` included (ENABLE ALWAYS). The function is shared with the reviews
app's signed records (reviews.0004). SQLite, used by the embedded demo only, relies on the models' checks.

The mutable columns are given to each trigger as its arguments; a model that gains a MUTABLE_FIELDS
entry needs a migration that re-creates its trigger (tests/registry/test_database_immutability.py
compares the triggers with the models)."""

from django.db import migrations

from apps.common import evidence_triggers

# table -> columns that may change after insertion (the model's MUTABLE_FIELDS)
PROTECTED = {
    "registry_classificationdecision": [],
    "registry_modelversion": [],
    "registry_modelversiondataset": [],
    "registry_claimedmetric": [],
    "registry_datasetversion": ["file", "lifecycle_state", "lifecycle_changed_at"],
}


def forwards(apps, schema_editor):
    evidence_triggers.install(schema_editor, PROTECTED)


def backwards(apps, schema_editor):
    evidence_triggers.remove(schema_editor, PROTECTED)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS docket_refuse_evidence_change()")


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_modelversion_registry_mv_registered_at")]

    operations = [migrations.RunPython(forwards, backwards)]
