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
