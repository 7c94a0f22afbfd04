"""apps.common.rawsql builds the same instances the ORM would, and inserts what save() would."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import ApiKey, ServiceAccount, User
from apps.common import rawsql
from apps.gate.models import GateDecision
from tests.factories.accounts import TeamFactory, api_key_with_plaintext

pytestmark = pytest.mark.django_db


def field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_instances_equal_what_the_orm_loads_including_datetimes_and_json():
    api_key, _ = api_key_with_plaintext(service_account__team=TeamFactory(), service_account__scopes=["read", "gate:check"],
                                        expires_at=timezone.now() + dt.timedelta(days=3))
    sql = (f"SELECT {rawsql.columns(ApiKey, 'k')}, {rawsql.columns(ServiceAccount, 'sa')}, {rawsql.columns(User, 'u')} "
           "FROM accounts_apikey k JOIN accounts_serviceaccount sa ON sa.id = k.service_account_id "
           "JOIN accounts_user u ON u.id = sa.user_id WHERE k.id = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [api_key.pk])
        built = rawsql.instances(cursor.fetchone(), [ApiKey, ServiceAccount, User])
    loaded = ApiKey.objects.select_related("service_account__user").get(pk=api_key.pk)
    assert [field_values(instance) for instance in built] == [
        field_values(loaded), field_values(loaded.service_account), field_values(loaded.service_account.user)]
    assert built[1].scopes == ["read", "gate:check"] and isinstance(built[0].created_at, dt.datetime)
    assert not built[0]._state.adding


def test_instances_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="columns"):
        rawsql.instances((1, 2, 3), [ApiKey])


def test_insert_stores_what_save_would(django_user_model):
    actor = django_user_model.objects.create(username="pipeline")
    decision = GateDecision(
        id=uuid.uuid4(), decided_at=timezone.now(), actor=actor, requested_model="a/b", requested_version=1,
        artifact_sha256="a" * 64, environment="staging", verdict="deny",
        reasons=[{"code": "no_approval", "detail": "none — ünïcode"}], policy_version="p", context={"run": 1},
        audit_index=0, attestation={"payload": "x"},
    )
    rawsql.insert(decision)
    assert not decision._state.adding
    stored = GateDecision.objects.get(pk=decision.pk)
    assert field_values(stored) == field_values(decision)


def test_insert_needs_a_primary_key():
    with pytest.raises(ValueError, match="primary key"):
        rawsql.insert(ServiceAccount(name="x"))


def test_pipelined_statements_run_in_order_in_one_batch_and_a_setting_sent_first_applies_to_the_rest():
    from psycopg.pq import PipelineStatus

    seen_in_pipeline = []

    def note(execute, sql, params, many, context):
        seen_in_pipeline.append(PipelineStatus(connection.connection.pgconn.pipeline_status).name)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note), connection.cursor() as first, connection.cursor() as second:
        with rawsql.pipelined():
            first.execute("SELECT set_config('statement_timeout', %s, true)", ["1234"])
            second.execute("SELECT current_setting('statement_timeout')")
        assert first.fetchone() == ("1234ms",)
        assert second.fetchone() == ("1234ms",)
    assert seen_in_pipeline == ["ON", "ON"]
    with connection.cursor() as after:  # the pipeline has ended: statements go one by one again
        after.execute("SELECT 1")
        assert connection.connection.pgconn.pipeline_status == PipelineStatus.OFF and after.fetchone() == (1,)


def test_an_error_in_a_pipelined_statement_raises_a_django_database_error_and_skips_the_rest():
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError, match="division by zero"), transaction.atomic():
        with connection.cursor() as failing, connection.cursor() as skipped:
            with rawsql.pipelined():
                failing.execute("SELECT 1 / 0")
                skipped.execute("CREATE TABLE never_created (id int)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('never_created')")
        assert cursor.fetchone() == (None,)
