"""Test-suite support for the audit log's PostgreSQL triggers.

Django ends every transactional test by flushing the database with TRUNCATE, which the audit log's
statement triggers refuse. Before such a test's flush, the TRUNCATE triggers are disabled (the test
role owns the tables); every database test starts with them enabled again (ENABLE ALWAYS), so tests
always run against the protection production has.
"""

import pytest
from django.db import connection

AUDIT_TABLES = ["audit_auditentry", "audit_treenode", "audit_checkpoint", "audit_cosignature", "audit_signingkey"]


def _set_truncate_triggers(mode: str) -> None:
    """mode: 'ENABLE ALWAYS' or 'DISABLE'; only touches triggers whose state differs."""
    wanted = "A" if mode == "ENABLE ALWAYS" else "D"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE 'audit\\_%%\\_no\\_truncate' AND t.tgenabled <> %s",
            [wanted],
        )
        for table, trigger in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{table}" {mode} TRIGGER "{trigger}"')


def _uses_transactional_db(request) -> bool:
    if {"transactional_db", "live_server", "django_db_serialized_rollback"} & set(request.fixturenames):
        return True
    marker = request.node.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))


@pytest.fixture(autouse=True)
def _audit_truncate_triggers(request):
    marker = request.node.get_closest_marker("django_db")
    uses_db = marker is not None or {"db", "transactional_db", "live_server"} & set(request.fixturenames)
    if not uses_db:
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so the flush runs after this teardown
    if connection.vendor != "postgresql":
        yield
        return
    _set_truncate_triggers("ENABLE ALWAYS")
    yield
    if _uses_transactional_db(request):
        _set_truncate_triggers("DISABLE")
