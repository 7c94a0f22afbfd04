"""Starts a real Celery worker process for integration tests, on a filesystem broker shared with the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from config.settings.base import filesystem_broker_options

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_celery_worker(broker_dir: Path, *, beat: bool = False, extra_env: dict[str, str] | None = None):
    """Runs `celery worker` against the test database until the block ends.

    The worker uses the test settings and the database pytest-django created, so rows committed by the
    test (transaction=True) are visible to it and rows it commits are visible to the test. Yields the
    path of the worker's log file.
    """
    for folder in ("broker", "processed", "control"):
        (broker_dir / folder).mkdir(parents=True, exist_ok=True)
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "filesystem://",
        "DOCKET_CELERY_FILESYSTEM_DIR": str(broker_dir),
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **(extra_env or {}),
    }
    log_path = broker_dir / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
               f"--hostname=test-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat:
        command += ["--beat", f"--schedule={broker_dir / 'beat-schedule'}"]
    previous = {
        "broker_url": celery_app.conf.broker_url,
        "broker_transport_options": celery_app.conf.broker_transport_options,
    }
    celery_app.conf.broker_url = "filesystem://"
    celery_app.conf.broker_transport_options = filesystem_broker_options(broker_dir)
    _forget_broker_connections()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(process, log_path)
        yield log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        celery_app.conf.broker_url = previous["broker_url"]
        celery_app.conf.broker_transport_options = previous["broker_transport_options"]
        _forget_broker_connections()


def _forget_broker_connections() -> None:
    """Makes the next publish open a connection with the broker settings now in effect."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _wait_until_ready(process: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Celery worker exited early:\n{log_path.read_text()}")
        if " ready." in log_path.read_text():
            return
        time.sleep(0.2)
    raise RuntimeError(f"the Celery worker did not become ready in {timeout}s:\n{log_path.read_text()}")


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.2, log_path: Path | None = None):
    """Polls predicate() until it returns something truthy; fails with the worker log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    detail = log_path.read_text() if log_path else ""
    raise AssertionError(f"condition not met within {timeout}s\n{detail}")
