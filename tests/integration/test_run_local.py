"""README command 1, end to end: the embedded demo starts from nothing, serves a login page with demo
data, runs a real Celery worker that does background work, and keeps its data when started again."""

import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.integration.worker import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoServer:
    def __init__(self, var_dir: Path):
        self.var_dir = var_dir
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.output = var_dir / "run-local.out"

    def __enter__(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOCKET_", "CELERY_", "DATABASE_"))}
        env.update({
            "DOCKET_VAR_DIR": str(self.var_dir),
            "DOCKET_PORT": str(self.port),
            "VENV": str(Path(sys.executable).parent.parent),
            "DOCKET_AUDIT_CHECKPOINT_INTERVAL_SECONDS": "2",
        })
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output, "w") as out:
            self.process = subprocess.Popen(
                ["scripts/run-local.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._login_page_served, timeout=240, interval=0.5, log_path=self.output)
        return self

    def _login_page_served(self):
        if self.process.poll() is not None:
            raise AssertionError(f"run-local.sh exited with {self.process.returncode}:\n{self.output.read_text()}")
        try:
            with urllib.request.urlopen(self.base_url + "/accounts/login/", timeout=2) as response:
                return response.status == 200 and b"Sign in to Docket" in response.read()
        except OSError:
            return False

    def __exit__(self, *exc):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def sign_in(self, username: str, password: str) -> urllib.request.OpenerDirector:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(self.base_url + "/accounts/login/").read()
        csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf})
        request = urllib.request.Request(self.base_url + "/accounts/login/", data=body.encode(),
                                         headers={"Referer": self.base_url + "/accounts/login/"})
        opener.open(request).read()
        return opener


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed table names


def test_make_run_starts_the_demo_with_a_worker_and_is_idempotent(tmp_path):
    var_dir = tmp_path / "var"
    db = var_dir / "docket.sqlite3"

    with DemoServer(var_dir) as server:
        output = server.output.read_text()
        for username in ("submitter", "validator", "approver", "auditor", "admin"):
            assert username in output, "the demo users' credentials are printed"
        home = server.sign_in("auditor", "docket-demo-password").open(server.base_url + "/").read().decode()
        assert "credit" in home.lower() and "High risk" in home, "the auditor sees the credit-scoring use case"

        # The validator's dashboard has a review waiting, whose checks finished, with SHAP plots.
        validator = server.sign_in("validator", "docket-demo-password")
        dashboard = validator.open(server.base_url + "/").read().decode()
        case_id = re.search(r'href="/reviews/(\d+)/"', dashboard)
        assert case_id, "the validator's dashboard lists the demo review"
        with sqlite3.connect(db) as conn:
            statuses = {row[0] for row in conn.execute(
                "SELECT status FROM reviews_checkresult WHERE case_id = ?", [int(case_id[1])])}
        assert statuses and statuses <= {"passed", "failed"}, f"the demo review's checks finished: {statuses}"
        case_page = validator.open(f"{server.base_url}/reviews/{case_id[1]}/").read().decode()
        plot = re.search(r'<img src="(/reviews/\d+/checks/[\w-]+/plots/[\w-]+\.png)"', case_page)
        assert plot, "the demo review shows its SHAP plots"
        assert validator.open(server.base_url + plot[1]).read()[:8] == b"\x89PNG\r\n\x1a\n"

        # The worker (with beat) signs audit checkpoints in the background.
        worker_log = var_dir / "log" / "worker.log"
        wait_for(lambda: _count(db, "audit_checkpoint") > 0, timeout=60, log_path=worker_log)
        first_run = {table: _count(db, table) for table in
                     ("accounts_user", "registry_usecase", "registry_modelversion", "audit_auditentry")}

    with DemoServer(var_dir):
        second_run = {table: _count(db, table) for table in first_run}
    assert second_run == first_run, "running the demo again keeps the data and adds nothing"
