"""Docket's PostgreSQL backend: the health check asks the kernel before it asks the server.

Each test opens its own connection (outside the test's transaction), makes it healthy, terminated,
closed, mid-transaction or spoken to, and checks what `is_usable` says and whether it fell back to
Django's `SELECT 1`.
"""

import select

import pytest
from django.db import connection, connections
from django.db.backends.postgresql import base as django_postgresql

from apps.common.postgresql_backend.base import DatabaseWrapper

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_connection():
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


@pytest.fixture
def select_one_checks(monkeypatch):
    """Counts the health checks that went to the server (Django's `SELECT 1`)."""
    calls = []
    original = django_postgresql.DatabaseWrapper.is_usable

    def counted(self):
        calls.append(self)
        return original(self)

    monkeypatch.setattr(django_postgresql.DatabaseWrapper, "is_usable", counted)
    return calls


def _backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_the_configured_engine_is_docket_backend():
    assert isinstance(connections["default"], DatabaseWrapper)
    assert connections["default"].settings_dict["ENGINE"] == "apps.common.postgresql_backend"


def test_an_idle_healthy_connection_is_usable_without_a_round_trip(own_connection, select_one_checks):
    assert own_connection.is_usable() is True
    assert select_one_checks == []


def test_a_connection_the_server_terminated_is_unusable_and_the_next_request_reconnects(own_connection):
    pid = _backend_pid(own_connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        assert cursor.fetchone()[0] is True
    assert own_connection.is_usable() is False

    # What Django does at the start of a request with CONN_HEALTH_CHECKS: close it, then reconnect.
    own_connection.health_check_enabled, own_connection.health_check_done = True, False
    own_connection.close_if_health_check_failed()
    assert own_connection.connection is None
    assert _backend_pid(own_connection) != pid


def test_a_connection_closed_on_this_side_is_unusable(own_connection, select_one_checks):
    own_connection.connection.close()
    assert own_connection.is_usable() is False
    assert select_one_checks == []
    own_connection.connection = None
    assert own_connection.is_usable() is False


def test_anything_the_server_sent_while_idle_is_checked_with_select_1(own_connection, select_one_checks):
    with own_connection.cursor() as cursor:
        cursor.execute("LISTEN docket_health_check_test")
    with connection.cursor() as cursor:
        cursor.execute("NOTIFY docket_health_check_test")
    # PostgreSQL delivers the notification asynchronously after the NOTIFY commits: wait until it is here.
    assert select.select([own_connection.connection.pgconn.socket], [], [], 10)[0], "no notification arrived"
    assert own_connection.is_usable() is True  # the notification made the socket readable; SELECT 1 passed
    assert select_one_checks == [own_connection]


def test_a_connection_inside_a_transaction_is_checked_with_select_1(own_connection, select_one_checks):
    own_connection.set_autocommit(False)
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert own_connection.is_usable() is True
    assert select_one_checks == [own_connection]
    own_connection.rollback()
    own_connection.set_autocommit(True)


def test_timestamps_load_with_the_compiled_parser_exactly_as_djangos_loader_would(own_connection):
    import datetime as dt

    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg import adapters

    from apps.common.postgresql_backend.base import TimezoneLoader

    sql = ("SELECT v FROM (VALUES ('2026-06-01 12:00:00.5+02'::timestamptz), ('2026-11-23 05:47:04.000001+00'::timestamptz), "
           "('1999-12-31 23:59:59.999999-08'::timestamptz), ('0001-01-01 00:00:00+00'::timestamptz), "
           "('9999-12-31 23:59:59.999999+00'::timestamptz), (NULL)) AS t(v)")
    with own_connection.cursor() as cursor:
        assert isinstance(cursor.cursor.adapters.get_loader(adapters.types["timestamptz"].oid, 0)(0),
                          TimezoneLoader)
        cursor.execute(sql)
        fast = [value for (value,) in cursor.fetchall()]
    with own_connection.cursor() as cursor:
        django_loader = type("DjangoLoader", (BaseTzLoader,), {"timezone": own_connection.timezone})
        cursor.cursor.adapters.register_loader("timestamptz", django_loader)
        cursor.execute(sql)
        django = [value for (value,) in cursor.fetchall()]
    assert fast == django
    assert [value.tzinfo for value in fast[:-1]] == [dt.UTC] * 5
    assert fast[2] == dt.datetime(2000, 1, 1, 7, 59, 59, 999999, tzinfo=dt.UTC)
