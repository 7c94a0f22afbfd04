"""PostgreSQL refuses any UPDATE that changes what a review case locked when it opened: the policy, its
snapshot and hash, the thresholds, the evaluation spec, the model version and the environment.
(SQLite, used by the embedded demo only, relies on the model's save() checks.)"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION reviews_case_refuse_locked_changes() RETURNS trigger AS $$
BEGIN
    IF NEW.thresholds IS DISTINCT FROM OLD.thresholds
       OR NEW.policy_snapshot IS DISTINCT FROM OLD.policy_snapshot
       OR NEW.policy_snapshot_sha256 IS DISTINCT FROM OLD.policy_snapshot_sha256
       OR NEW.policy_id IS DISTINCT FROM OLD.policy_id
       OR NEW.evaluation IS DISTINCT FROM OLD.evaluation
       OR NEW.model_version_id IS DISTINCT FROM OLD.model_version_id
       OR NEW.environment IS DISTINCT FROM OLD.environment THEN
        RAISE EXCEPTION 'review case %: thresholds and policy are locked when the case opens', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS reviews_case_locked ON reviews_reviewcase;
CREATE TRIGGER reviews_case_locked BEFORE UPDATE ON reviews_reviewcase
    FOR EACH ROW EXECUTE FUNCTION reviews_case_refuse_locked_changes();
ALTER TABLE reviews_reviewcase ENABLE ALWAYS TRIGGER reviews_case_locked;
"""
DROP = """
DROP TRIGGER IF EXISTS reviews_case_locked ON reviews_reviewcase;
DROP FUNCTION IF EXISTS reviews_case_refuse_locked_changes();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
