"""Listing and filtering 100,000 model versions: Docket's API vs MLflow's search_model_versions, same run.

Docket: the test settings against the PostgreSQL that scripts/with-postgres.sh starts, served by
gunicorn (2 sync workers) on loopback, queried with a read-scoped API key of a team's training
pipeline (so every request also applies the guardian use-case visibility, as for a real caller).
MLflow: `mlflow server` (2 workers) on loopback with a SQLite backend store, queried with
`GET /api/2.0/mlflow/model-versions/search`. MLflow lives only in this benchmark's own virtual
environment, /tmp/mlflow-venv (created with `python3 -m venv` and `pip install mlflow` on first use;
`--mlflow-venv` to put it elsewhere) — never in Docket's .venv or pyproject.toml.

The same 100,000 versions on both: 10 use cases x 10 models x 1,000 versions, registered in
interleaved order one every five minutes over about a year. Docket's rows are written with bulk SQL
(INSERT ... SELECT generate_series) after the team, use cases, models, service account and key are
created through Docket's services; each version has an artifact hash, a dataset link and a claimed
metric, as the serializers expect. MLflow's registered models are created through its REST API; its
versions (and a `use_case` tag on each) are bulk-inserted into the SQLAlchemy store's own SQLite tables,
copying every column from a version created through the REST API, because the REST API creates one
version per call.

Scenarios (the same question to both; `--requests` timed requests each after 10 warm-up requests, one
client, sequential, httpx from this process — the servers run in their own processes):

    first page          Docket /api/v1/model-versions/?page_size=50
                        MLflow  search?max_results=50
    deep cursor page    the page after 40,000 rows, reached by following next links / next_page_token
    filter by model     Docket ?model=&use_case=          MLflow filter=name='<model>'
    filter by use case  Docket ?use_case=                 MLflow filter=tags.use_case='<use case>'
    filter by date      Docket ?registered_after=&registered_before= (a month mid-way)
                        MLflow has no date filter on model versions; not measured there

    scripts/with-postgres.sh .venv/bin/python benchmarks/api_list_model_versions.py [--versions 100000]
        [--requests 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.harness import ensure_mlflow_venv, free_port, insert_model_versions, percentile, wait_until_up  # noqa: E402 - after the path is set

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

USE_CASES, MODELS_PER_USE_CASE = 10, 10
PAGE_SIZE = 50
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=5)
TARGET_P95_MS = 100.0


# --- servers ----------------------------------------------------------------------------------------


# --- Docket: data -----------------------------------------------------------------------------------


def docket_fill(versions: int) -> dict:
    """Creates the owners through Docket's services and the versions with bulk SQL; returns what the
    scenarios need (the API key, keys of one use case and model, the date window)."""
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from apps.accounts.roles import Role
    from apps.registry import services as registry
    from apps.registry.models import ClaimedMetric, DatasetVersion, ModelVersion, ModelVersionDataset

    call_command("migrate", verbosity=0)
    admin = User.objects.create_user(username="bench-admin", password=None)
    admin.groups.add(Group.objects.get(name=str(Role.ADMIN)))
    team = accounts.team_create(actor=admin, key="credit-risk", name="Credit risk")
    use_cases = [
        registry.use_case_create(
            actor=admin, key=f"use-case-{u}", name=f"Use case {u}", intended_purpose="Benchmark.",
            owner_team=team, business_owner=admin, operator_role="provider",
        )
        for u in range(USE_CASES)
    ]
    models = [
        registry.model_create(actor=admin, use_case=use_case, key=f"model-{m}", name=f"Model {m}")
        for use_case in use_cases for m in range(MODELS_PER_USE_CASE)
    ]
    dataset = registry.dataset_create(actor=admin, key="loans", name="Loans", owner_team=team)
    dataset_version = DatasetVersion.objects.create(
        dataset=dataset, number=1, content_sha256="0" * 64, row_count=1000,
        schema=[{"name": "age", "type": "integer"}],
    )
    account = accounts.service_account_create(actor=admin, name="training-pipeline", team=team, scopes=["read"])
    _, key = accounts.api_key_issue(actor=admin, service_account=account)

    model_ids = [model.pk for model in models]
    with connection.cursor() as cursor:
        # Version g belongs to model g mod 100 and is its (g div 100)+1-th; one every five minutes.
        insert_model_versions(cursor, model_ids=model_ids, versions=versions, registered_by=admin.pk,
                              start=START, every=STEP)
        cursor.execute(
            f"""INSERT INTO {ModelVersionDataset._meta.db_table} (model_version_id, dataset_version_id, role)
                SELECT id, %s, 'train' FROM {ModelVersion._meta.db_table}""",
            [dataset_version.pk],
        )
        cursor.execute(
            f"""INSERT INTO {ClaimedMetric._meta.db_table}
                    (model_version_id, name, value, dataset_version_id, higher_is_better, threshold_note)
                SELECT id, 'auc', 0.7 + (id %% 250) / 1000.0, %s, TRUE, '' FROM {ModelVersion._meta.db_table}""",
            [dataset_version.pk],
        )
        cursor.execute("ANALYZE")
    connection.close()
    return {"key": key, "use_case": "use-case-3", "model": "model-7"}


def docket_server(port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )


# --- MLflow: data -----------------------------------------------------------------------------------


def mlflow_fill(base: str, db_path: Path, versions: int) -> None:
    """Registered models (one per Docket model, named <use case>.<model>) and a template version through
    MLflow's REST API; the rest of the versions copied from the template into the store's tables."""
    api = httpx.Client(base_url=base + "/api/2.0/mlflow", timeout=30.0)
    names = [f"use-case-{u}.model-{m}" for u in range(USE_CASES) for m in range(MODELS_PER_USE_CASE)]
    for name in names:
        api.post("/registered-models/create", json={"name": name}).raise_for_status()
    api.post("/model-versions/create", json={
        "name": names[0], "source": "s3://bench/artifacts/template/model", "run_id": "",
        "description": "Scores credit applications.",
    }).raise_for_status()
    api.close()

    store = sqlite3.connect(db_path, timeout=60)
    store.row_factory = sqlite3.Row
    template = dict(store.execute("SELECT * FROM model_versions WHERE name = ? AND version = 1", [names[0]]).fetchone())
    columns = list(template)
    rows = []
    start_ms = int(START.timestamp() * 1000)
    for g in range(versions):
        row = dict(template, name=names[g % len(names)], version=1 + g // len(names),
                   creation_time=start_ms + g * 300_000, last_updated_time=start_ms + g * 300_000,
                   source=f"s3://bench/artifacts/{g}/model")
        rows.append(tuple(row[column] for column in columns))
    placeholders = ", ".join("?" for _ in columns)
    with store:
        store.execute("DELETE FROM model_versions")
        store.executemany(f"INSERT INTO model_versions ({', '.join(columns)}) VALUES ({placeholders})", rows)
        store.executemany(
            "INSERT INTO model_version_tags (key, value, name, version) VALUES ('use_case', ?, ?, ?)",
            [(names[g % len(names)].split(".")[0], names[g % len(names)], 1 + g // len(names))
             for g in range(versions)],
        )
        store.execute("ANALYZE")
    store.close()


def mlflow_server(mlflow: Path, port: int, db_path: Path, artifacts: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
         "--backend-store-uri", f"sqlite:///{db_path}", "--default-artifact-root", str(artifacts)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


# --- measuring --------------------------------------------------------------------------------------


def measure(client: httpx.Client, url: str, params: dict | None, *, requests: int, check) -> dict:
    """Times `requests` sequential GETs (after 10 untimed warm-up requests); `check` validates each body."""
    for _ in range(10):
        check(client.get(url, params=params))
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        check(response)
    return {"p50": statistics.median(timings), "p95": percentile(timings, 95), "p99": percentile(timings, 99),
            "n": len(timings)}


def docket_check(response: httpx.Response) -> None:
    response.raise_for_status()
    assert response.json()["results"], response.text[:300]


def mlflow_check(response: httpx.Response) -> None:
    response.raise_for_status()
    assert response.json()["model_versions"], response.text[:300]


def docket_deep_cursor_url(client: httpx.Client, rows: int) -> str:
    """The `next` link after `rows` rows, reached as a client would (500-row pages), for 50-row pages."""
    url, params = "/api/v1/model-versions/", {"page_size": 500}
    for _ in range(rows // 500):
        body = client.get(url, params=params).raise_for_status().json()
        url, params = body["next"], None
    return url.replace("page_size=500", f"page_size={PAGE_SIZE}")


def mlflow_deep_page_token(client: httpx.Client, rows: int) -> str:
    token = None
    for _ in range(rows // 500):
        params = {"max_results": 500, **({"page_token": token} if token else {})}
        token = client.get("/api/2.0/mlflow/model-versions/search", params=params).raise_for_status().json()[
            "next_page_token"]
    return token


def run_scenarios(docket: httpx.Client, mlflow: httpx.Client, fill: dict, *, versions: int,
                  requests: int) -> list[tuple]:
    deep = versions * 2 // 5 // 500 * 500  # 40,000 of 100,000
    search = "/api/v1/model-versions/"
    mlflow_search = "/api/2.0/mlflow/model-versions/search"
    # A month in the middle of the registrations (June 2025 with 100,000 versions).
    after = START + versions // 2 * STEP
    month = {"registered_after": after.isoformat(), "registered_before": (after + dt.timedelta(days=30)).isoformat(),
             "page_size": PAGE_SIZE}
    model_name = f"{fill['use_case']}.{fill['model']}"
    scenarios = [
        ("first page", (search, {"page_size": PAGE_SIZE}), (mlflow_search, {"max_results": PAGE_SIZE})),
        (f"deep cursor page (row {deep:,})", (docket_deep_cursor_url(docket, deep), None),
         (mlflow_search, {"max_results": PAGE_SIZE, "page_token": mlflow_deep_page_token(mlflow, deep)})),
        ("filter by model", (search, {"use_case": fill["use_case"], "model": fill["model"], "page_size": PAGE_SIZE}),
         (mlflow_search, {"filter": f"name='{model_name}'", "max_results": PAGE_SIZE})),
        ("filter by use case", (search, {"use_case": fill["use_case"], "page_size": PAGE_SIZE}),
         (mlflow_search, {"filter": f"tags.use_case='{fill['use_case']}'", "max_results": PAGE_SIZE})),
        ("filter by date (one month)", (search, month), None),
    ]
    results = []
    for name, (docket_url, docket_params), mlflow_request in scenarios:
        docket_figures = measure(docket, docket_url, docket_params, requests=requests, check=docket_check)
        mlflow_figures = None
        if mlflow_request is not None:
            mlflow_figures = measure(mlflow, *mlflow_request, requests=requests, check=mlflow_check)
        results.append((name, docket_figures, mlflow_figures))
        print(f"  measured: {name}", flush=True)
    return results


def print_table(results: list[tuple], versions: int, requests: int) -> None:
    print(f"\nListing {versions:,} model versions, {requests} timed requests per scenario, page size {PAGE_SIZE}; "
          "latency in ms (client-side, loopback)")
    header = f"{'scenario':32} {'Docket p50':>10} {'p95':>7} {'p99':>7}   {'MLflow p50':>10} {'p95':>7} {'p99':>7}"
    print(header)
    print("-" * len(header))
    for name, docket, mlflow in results:
        mlflow_text = (f"{mlflow['p50']:10.1f} {mlflow['p95']:7.1f} {mlflow['p99']:7.1f}" if mlflow
                       else f"{'(no date filter)':>26}")
        print(f"{name:32} {docket['p50']:10.1f} {docket['p95']:7.1f} {docket['p99']:7.1f}   {mlflow_text}")
    worst = max(docket["p95"] for _, docket, _ in results)
    verdict = "meets" if worst <= TARGET_P95_MS else "MISSES"
    print(f"\nDocket's worst p95: {worst:.1f} ms — {verdict} the {TARGET_P95_MS:.0f} ms target.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--mlflow-venv", type=Path, default=Path("/tmp/mlflow-venv"))
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        raise SystemExit("run under scripts/with-postgres.sh, which provides DATABASE_URL")

    mlflow_bin = ensure_mlflow_venv(args.mlflow_venv)
    work = Path(tempfile.mkdtemp(prefix="docket-bench-"))
    processes = []
    try:
        started = time.monotonic()
        fill = docket_fill(args.versions)
        print(f"Docket: {args.versions:,} versions written in {time.monotonic() - started:.1f} s", flush=True)
        docket_port, mlflow_port = free_port(), free_port()
        # Persistent database connections, as production runs (config/settings/base.py: 60 s).
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test", DJANGO_MEDIA_ROOT=str(work / "media"),
                   DATABASE_CONN_MAX_AGE=os.environ.get("DATABASE_CONN_MAX_AGE", "60"))
        processes.append(docket_server(docket_port, env))
        db_path = work / "mlflow.db"
        processes.append(mlflow_server(mlflow_bin, mlflow_port, db_path, work / "mlflow-artifacts"))
        docket_base, mlflow_base = f"http://127.0.0.1:{docket_port}", f"http://127.0.0.1:{mlflow_port}"
        auth = {"Authorization": f"Bearer {fill['key']}"}
        wait_until_up(docket_base + "/api/v1/me/", headers=auth)
        wait_until_up(mlflow_base + "/health")

        started = time.monotonic()
        mlflow_fill(mlflow_base, db_path, args.versions)
        print(f"MLflow: {args.versions:,} versions written in {time.monotonic() - started:.1f} s "
              f"(SQLite store {db_path})", flush=True)

        with httpx.Client(base_url=docket_base, headers=auth, timeout=30.0) as docket, \
                httpx.Client(base_url=mlflow_base, timeout=30.0) as mlflow:
            results = run_scenarios(docket, mlflow, fill, versions=args.versions, requests=args.requests)
        print_table(results, args.versions, args.requests)
        print(json.dumps({name: {"docket": d, "mlflow": m} for name, d, m in results}))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
