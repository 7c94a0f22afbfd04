"""acks_late for real: a Celery worker on a Redis broker is killed (SIGKILL) in the middle of a check;
the check's model process dies with it; a restarted worker gets the unacknowledged task again once
the broker's visibility timeout has passed, runs the check from the start and completes the case.

The check is made slow deterministically by the policy, not by a test hook: the explainability check
explains as many rows as its locked `time_budget_seconds` allows, on an evaluation set larger than it
can finish. Needs `redis-server` (Debian's package; `make test` installs it as root with apt-get through
scripts/ensure-system-packages.sh, as scripts/with-postgres.sh does for PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM
from apps.reviews import services
from apps.reviews.models import CheckResult, CheckStatus, ReviewStatus
from config.celery import app as celery_app
from tests.factories.accounts import UserFactory
from tests.factories.registry import UseCaseFactory
from tests.factories.reviews import trained_model_version
from tests.integration.worker import ROOT, _forget_broker_connections, _wait_until_ready, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT_SECONDS = 6
SHAP_TIME_BUDGET_SECONDS = 20


def _redis_server_binary() -> str | None:
    """`make test` installs Debian's redis-server (scripts/ensure-system-packages.sh) when it can."""
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A private Redis on a loopback port, removed afterwards."""
    binary = _redis_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed (Debian package redis-server) and cannot be installed here")
    port = _free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    with open(folder / "redis.log", "w") as log:
        process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(folder)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((folder / "redis.log").read_text()) from None
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def publishing_to(redis_url: str):
    """This process (the services' on-commit queueing) publishes to `redis_url`."""
    previous = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    celery_app.conf.broker_url = redis_url
    celery_app.conf.broker_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    _forget_broker_connections()
    try:
        yield
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = previous
        _forget_broker_connections()


@contextmanager
def celery_worker(redis_url: str, log_path: Path):
    """A real `celery worker` (solo pool) on the Redis broker and the test database; yields its process."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "DOCKET_CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT_SECONDS),
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
               f"--hostname=restart-{os.getpid()}-{log_path.stem}@%h", "--without-gossip", "--without-mingle",
               "--without-heartbeat"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(process, log_path)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state


@pytest.fixture
def slow_explainability_case(tmp_path):
    """A case whose only check is explainability, bounded by a time budget its data cannot finish within."""
    services.policy_version_create(
        actor=SYSTEM, key="slow-shap", name="Explainability only, long budget", risk_class="minimal",
        model_risk_tier="1", required_checks=["explainability"],
        thresholds={"explainability": {
            "max_samples_model_agnostic": 20000, "background_samples": 200,
            "time_budget_seconds": SHAP_TIME_BUDGET_SECONDS, "exact_max_features": 10, "seed": 5,
            "additivity_tolerance": 1e-6, "fail_on_additivity_error": True,
        }},
        validations_required=1, approvals_required=1, approval_validity_days=30, required_documentation_fields=[],
        change_reason="Worker restart test.",
    )
    use_case = UseCaseFactory(key="credit-scoring", risk_class="minimal", model_risk_tier="1")
    developer = UserFactory(username="dee-developer", teams=[use_case.owner_team])
    submitter = UserFactory(username="sam-submitter", teams=[use_case.owner_team])
    version = trained_model_version(use_case=use_case, registered_by=developer, rows=20000)

    def open_():
        return services.review_open(actor=submitter, model_version=version, environment="production",
                                    label_column="defaulted")

    return open_


def test_a_check_interrupted_by_a_killed_worker_completes_after_a_restart(redis_url, slow_explainability_case,
                                                                          tmp_path):
    with publishing_to(redis_url):
        with celery_worker(redis_url, tmp_path / "worker-1.log") as first:
            case = slow_explainability_case()
            # Mid-check: the model process is running (progress 10 means the evidence was verified).
            result = wait_for(lambda: CheckResult.objects.filter(case=case, status=CheckStatus.RUNNING,
                                                                 progress__gte=10).first(),
                              timeout=120, log_path=tmp_path / "worker-1.log")
            model_processes = wait_for(lambda: _children(first.pid), timeout=30)
            time.sleep(2)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            killed_at = time.monotonic()

        # The model process died with its worker; the check was left running, its task unacknowledged.
        wait_for(lambda: not any(_alive(pid) for pid in model_processes), timeout=10)
        result.refresh_from_db()
        assert (result.status, result.attempts) == (CheckStatus.RUNNING, 1)
        first_log = (tmp_path / "worker-1.log").read_text().splitlines()
        assert not [line for line in first_log if "check_run_task" in line and "succeeded" in line]

        # Redis hands the task out again once its visibility timeout has passed since delivery.
        time.sleep(max(0.0, killed_at + VISIBILITY_TIMEOUT_SECONDS + 1 - time.monotonic()))
        with celery_worker(redis_url, tmp_path / "worker-2.log"):
            wait_for(lambda: case.__class__.objects.get(pk=case.pk).status == ReviewStatus.AWAITING_VALIDATION,
                     timeout=240, interval=1.0, log_path=tmp_path / "worker-2.log")

    result.refresh_from_db()
    assert (result.status, result.attempts) == (CheckStatus.PASSED, 2), result.failure_reasons
    assert result.metrics["explainer"] == "ExactExplainer"
    assert 11 < result.sample_sizes["shap_sample"] < 8000  # bounded by the time budget, not the data
    started = AuditEntry.objects.filter(action="reviews.check.started", subject_id=str(result.pk))
    assert sorted(entry.data["attempt"] for entry in started) == [1, 2]
    assert AuditEntry.objects.filter(action="reviews.check.completed", subject_id=str(result.pk)).count() == 1
    assert "check_run_task" in (tmp_path / "worker-2.log").read_text()
