"""PostgreSQL refuses DELETE, and UPDATE beyond each model's MUTABLE_FIELDS, on review policies, risk
acceptances, signed decisions and approvals (the function is registry.0003's). Review cases keep their
own trigger on the locked columns (reviews.0002)."""

from django.db import migrations

from apps.common import evidence_triggers

PROTECTED = {
    "reviews_reviewpolicy": [],
    "reviews_riskacceptance": [],
    "reviews_decision": ["audit_index"],
    "reviews_approval": ["revoked_at", "revocation_reason"],
}


def forwards(apps, schema_editor):
    evidence_triggers.install(schema_editor, PROTECTED)


def backwards(apps, schema_editor):
    evidence_triggers.remove(schema_editor, PROTECTED)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0003_ui_indexes"), ("registry", "0003_evidence_immutable_in_postgresql")]

    operations = [migrations.RunPython(forwards, backwards)]
