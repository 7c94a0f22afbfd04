import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOCKET_", "CELERY_"))}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_the_deployment_checklist_without_warnings():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env_overrides={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "DJANGO_ALLOWED_HOSTS": "docket.example.com",
            "DATABASE_URL": os.environ["DATABASE_URL"],
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _manage(
        "check",
        env_overrides={"DJANGO_SETTINGS_MODULE": "config.settings.production", "DATABASE_URL": os.environ["DATABASE_URL"]},
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("name, value", [("DOCKET_MAX_ARTIFACT_BYTES", "lots"), ("DJANGO_DEBUG", "perhaps")])
def test_malformed_environment_values_are_refused_with_the_variable_named(name, value):
    result = _manage(
        "check", env_overrides={"DJANGO_SETTINGS_MODULE": "config.settings.local", name: value,
                                "DATABASE_URL": os.environ["DATABASE_URL"]},
    )
    assert result.returncode != 0
    assert name in result.stderr


def test_postgresql_statements_are_bound_on_the_server_and_prepared_after_two_runs(monkeypatch):
    from config.settings.environment import database_from_url

    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)
    monkeypatch.delenv("DATABASE_PREPARE_THRESHOLD", raising=False)
    database = database_from_url("postgres://docket@db.example:5432/docket", conn_max_age=60)
    assert database["ENGINE"] == "apps.common.postgresql_backend"
    assert database["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 2}
    assert database["CONN_MAX_AGE"] == 60 and database["CONN_HEALTH_CHECKS"] is True


def test_prepared_statements_can_be_switched_off_for_a_pooler_and_sqlite_takes_no_such_options(monkeypatch):
    from config.settings.environment import database_from_url

    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")
    assert not database_from_url("postgres://docket@db.example/docket", conn_max_age=0).get("OPTIONS")
    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS")
    sqlite = database_from_url("sqlite:///tmp/docket.sqlite3", conn_max_age=0)
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3" and not sqlite.get("OPTIONS")


@pytest.mark.parametrize("name, value", [("DATABASE_PREPARE_THRESHOLD", "-1"), ("DATABASE_PREPARE_THRESHOLD", "soon"),
                                         ("DATABASE_PREPARED_STATEMENTS", "maybe")])
def test_malformed_prepared_statement_settings_are_refused(monkeypatch, name, value):
    from django.core.exceptions import ImproperlyConfigured

    from config.settings.environment import database_from_url

    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        database_from_url("postgres://docket@db.example/docket", conn_max_age=0)


@pytest.mark.django_db
def test_the_test_database_connection_prepares_repeated_statements():
    from django.db import connection

    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT count(*) FROM accounts_user WHERE username = %s", ["nobody"])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["%FROM accounts_user WHERE username = $1%"])
        assert cursor.fetchone()[0] == 1
