"""On PostgreSQL the database itself refuses to change or remove registered evidence and signed records,
whoever asks: raw SQL UPDATE of a locked column, DELETE, and the same under
`session_replication_role = replica`. Columns a model lists in MUTABLE_FIELDS stay changeable."""

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from apps.registry.models import ImmutableAfterInsertMixin
from tests.factories.registry import DatasetVersionFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


def execute(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def refused(sql: str, params=()) -> str:
    with pytest.raises(DatabaseError) as error:
        execute(sql, params)
    return str(error.value)


def test_every_immutable_model_has_a_trigger_naming_exactly_its_mutable_columns():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgargs, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = c.relname || '_immutable'")
        triggers = {table: (bytes(args).split(b"\x00")[:-1], enabled) for table, args, enabled in cursor.fetchall()}
    expected = {
        model._meta.db_table: sorted(field.column for field in model._meta.concrete_fields
                                     if field.name in model.MUTABLE_FIELDS)
        for model in apps.get_models() if issubclass(model, ImmutableAfterInsertMixin)
        and model._meta.db_table != "reviews_reviewcase"  # its own trigger on the locked columns (reviews.0002)
    }
    assert {table: sorted(column.decode() for column in args) for table, (args, _) in triggers.items()} == expected
    assert {enabled for _, enabled in triggers.values()} == {"A"}  # ENABLE ALWAYS


def test_an_update_of_a_model_versions_artifact_hash_is_refused_in_sql():
    version = ModelVersionFactory()
    message = refused("UPDATE registry_modelversion SET artifact_sha256 = %s WHERE id = %s", ["0" * 64, version.pk])
    assert "UPDATE on registry_modelversion is refused; only nothing may change" in message
    version.refresh_from_db()
    assert version.artifact_sha256 != "0" * 64


def test_a_delete_of_a_model_version_is_refused_in_sql():
    version = ModelVersionFactory()
    assert "DELETE on registry_modelversion is refused" in refused(
        "DELETE FROM registry_modelversion WHERE id = %s", [version.pk])


def test_a_model_versions_developers_cannot_be_rewritten_or_removed_in_sql():
    from apps.registry.models import ModelVersionDeveloper, evidence_window
    from tests.factories.accounts import UserFactory

    version = ModelVersionFactory()
    developer, someone_else = UserFactory(), UserFactory()
    with evidence_window(version):
        link = ModelVersionDeveloper(model_version=version, user=developer)
        link.save()
    assert "UPDATE on registry_modelversiondeveloper is refused" in refused(
        "UPDATE registry_modelversiondeveloper SET user_id = %s WHERE id = %s", [someone_else.pk, link.pk])
    assert "DELETE on registry_modelversiondeveloper is refused" in refused(
        "DELETE FROM registry_modelversiondeveloper WHERE id = %s", [link.pk])
    assert list(version.developers.all()) == [developer]


def test_a_dataset_versions_sources_cannot_be_rewritten_or_removed_in_sql():
    from apps.registry.models import DatasetVersionSource, evidence_window

    version, source, someone_else = DatasetVersionFactory(), DatasetVersionFactory(), DatasetVersionFactory()
    with evidence_window(version):
        link = DatasetVersionSource(dataset_version=version, source=source)
        link.save()
    assert "UPDATE on registry_datasetversionsource is refused" in refused(
        "UPDATE registry_datasetversionsource SET source_id = %s WHERE id = %s", [someone_else.pk, link.pk])
    assert "DELETE on registry_datasetversionsource is refused" in refused(
        "DELETE FROM registry_datasetversionsource WHERE id = %s", [link.pk])
    assert list(version.derived_from.all()) == [source]


def test_replica_mode_does_not_skip_the_trigger():
    version = ModelVersionFactory()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE registry_modelversion SET intended_use = 'rewritten' WHERE id = %s", [version.pk])


def test_a_dataset_versions_lifecycle_may_change_but_its_content_hash_may_not():
    dataset_version = DatasetVersionFactory()
    execute("UPDATE registry_datasetversion SET lifecycle_state = 'deprecated' WHERE id = %s", [dataset_version.pk])
    dataset_version.refresh_from_db()
    assert dataset_version.lifecycle_state == "deprecated"
    assert "only file, lifecycle_state, lifecycle_changed_at may change" in refused(
        "UPDATE registry_datasetversion SET content_sha256 = %s WHERE id = %s", ["0" * 64, dataset_version.pk])


def test_saving_an_unchanged_version_through_the_orm_still_works():
    version = ModelVersionFactory()
    version.save()  # the same values: allowed by the model and by the trigger
