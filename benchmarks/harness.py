"""What the benchmarks share: a free port, waiting for a server, MLflow's own virtual environment, one
definition of a percentile, and bulk model versions for registries of realistic size."""

from __future__ import annotations

import datetime as dt
import math
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, *, timeout: float = 180.0, headers: dict | None = None) -> None:
    """Polls `url` until it answers below HTTP 500; exits the benchmark if it does not within `timeout`."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up within {timeout:.0f} s")


def ensure_mlflow_venv(venv: Path, *, postgresql: bool = False) -> Path:
    """MLflow's `mlflow` executable in its own virtual environment (created on first use; never Docket's
    .venv), with psycopg2 when MLflow is to use a PostgreSQL backend store."""
    python, mlflow = venv / "bin" / "python", venv / "bin" / "mlflow"
    if not mlflow.exists():
        print(f"creating {venv} and installing mlflow into it (once)", flush=True)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "mlflow>=2.14",
                        *(["psycopg2-binary"] if postgresql else [])], check=True)
    elif postgresql and subprocess.run([str(python), "-c", "import psycopg2"], capture_output=True,
                                       check=False).returncode != 0:
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "psycopg2-binary"], check=True)
    return mlflow


def percentile(samples: list[float], q: float) -> float:
    """The nearest-rank q-th percentile (q in 0–100]: the smallest sample with at least q % of the samples
    at or below it."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def insert_model_versions(cursor, *, model_ids: list[int], versions: int, registered_by: int,
                          start: dt.datetime, every: dt.timedelta) -> None:
    """Inserts `versions` model versions with one SQL statement (PostgreSQL): version g belongs to model
    `model_ids[g mod len]` and is its (g div len)+1-th, registered `every` after the one before, with a
    distinct artifact SHA-256 each. What Docket's services would store, without their per-row cost."""
    from apps.registry.models import ModelVersion

    cursor.execute(
        f"""
        INSERT INTO {ModelVersion._meta.db_table} (
            model_id, number, artifact, artifact_sha256, artifact_size, artifact_format,
            artifact_original_name, framework, framework_version, library_versions,
            training_code_repository, training_code_commit, hyperparameters, features, intended_use,
            out_of_scope_uses, limitations, parent_id, registered_by_id, registered_at)
        SELECT (%(model_ids)s::bigint[])[1 + g %% %(models)s], 1 + g / %(models)s,
               'artifacts/' || encode(sha256(('artifact-' || g)::bytea), 'hex') || '/model.skops',
               encode(sha256(('artifact-' || g)::bytea), 'hex'), 20000 + g %% 5000, 'skops', 'model.skops',
               'scikit-learn', '1.5.2', '{{"numpy": "2.1.0", "scikit-learn": "1.5.2"}}'::jsonb,
               'https://git.example/credit/scoring', substr(md5(g::text), 1, 40),
               jsonb_build_object('C', 1.0, 'max_iter', 100 + g %% 7), '["age", "income", "tenure"]'::jsonb,
               'Scores credit applications.', '', '', NULL, %(registered_by)s,
               %(start)s::timestamptz + g * %(every)s::interval
        FROM generate_series(0, %(versions)s - 1) AS g
        """,
        {"model_ids": model_ids, "models": len(model_ids), "versions": versions, "registered_by": registered_by,
         "start": start, "every": every},
    )
