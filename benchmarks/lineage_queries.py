"""Lineage queries on a 1,000,000-edge graph: Docket's recursive CTEs vs naive ORM traversal, same run.

The graph (bulk SQL, INSERT ... SELECT generate_series, into the migrated lineage tables of the
PostgreSQL that scripts/with-postgres.sh starts), spread over a year:

    200,000 dataset versions in derivation chains of 5      160,000 derived_from
    100,000 model versions, 10 per model, each fine-tuned    90,000 fine_tuned_from
            from the one before; each trained on 4 and      400,000 trained_on
            evaluated on 2 dataset versions                  200,000 evaluated_on
    100,000 deployments (a third production), 90% retired  100,000 deployed_as (90% with valid_to)
     50,000 approvals of every other model version           50,000 approved_by
                                                           = 1,000,000 edges, 450,000 nodes

Questions (random start nodes, the same ones for both methods):

    upstream, depth 10       from a deployment, as of a time it was running
    downstream, depth 10     from a dataset version, as of the end of the year
    deployment window        production deployments that depended on a dataset version (directly or
                             transitively) at some time within a 30-day window

Docket: `apps.lineage.selectors.graph_walk` / `queries.window_deployments` (the code the API runs:
the recursive CTE, then the nodes and edges it reached), as an administrator (no visibility filter).
Naive: breadth-first traversal with the ORM, one query per node visited (the edges true at the time),
plus one query per node for its kind and environment in the window question.

    scripts/with-postgres.sh .venv/bin/python benchmarks/lineage_queries.py [--queries 200] [--naive-queries 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.harness import percentile  # noqa: E402 - after the path is set

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
YEAR_SECONDS = 365 * 24 * 3600
DATASETS, MODEL_VERSIONS, DEPLOYMENTS, APPROVALS = 200_000, 100_000, 100_000, 50_000
MV0, DEP0, APP0 = DATASETS, DATASETS + MODEL_VERSIONS, DATASETS + MODEL_VERSIONS + DEPLOYMENTS
TARGET_P99_MS = 100.0

# Node ids are fixed ranges: dataset versions 1..200000, model versions next, then deployments, approvals.
SEED_SQL = [
    f"""INSERT INTO lineage_node (id, kind, key, label, environment, namespace, name, created_at)
        SELECT i, 'dataset_version', 'bench-dv-' || i, 'dataset ' || ((i - 1) / 5) || ' v' || ((i - 1) % 5 + 1),
               '', '', '', %(start)s::timestamptz + (i * interval '150 seconds')
          FROM generate_series(1, {DATASETS}) i""",
    f"""INSERT INTO lineage_node (id, kind, key, label, environment, namespace, name, created_at)
        SELECT {MV0} + m, 'model_version', 'bench-mv-' || m, 'model ' || ((m - 1) / 10) || ' v' || ((m - 1) % 10 + 1),
               '', '', '', %(start)s::timestamptz + (m * interval '300 seconds')
          FROM generate_series(1, {MODEL_VERSIONS}) m""",
    f"""INSERT INTO lineage_node (id, kind, key, label, environment, namespace, name, created_at)
        SELECT {DEP0} + d, 'deployment', 'bench-dep-' || d, 'deployment ' || d,
               CASE WHEN d % 3 = 0 THEN 'production' ELSE 'staging' END, '', '',
               %(start)s::timestamptz + (d * interval '300 seconds')
          FROM generate_series(1, {DEPLOYMENTS}) d""",
    f"""INSERT INTO lineage_node (id, kind, key, label, environment, namespace, name, created_at)
        SELECT {APP0} + a, 'approval', 'bench-app-' || a, 'approval ' || a, 'production', '', '',
               %(start)s::timestamptz + (a * interval '600 seconds')
          FROM generate_series(1, {APPROVALS}) a""",
    # derived_from: each dataset version after the first of its chain of 5 comes from the one before.
    f"""INSERT INTO lineage_edge (source_node_id, target_node_id, kind, valid_from, valid_to, ended_reason, detail,
                                  recorded_at)
        SELECT i - 1, i, 'derived_from', %(start)s::timestamptz + (i * interval '150 seconds'), NULL, '', '{{}}',
               now()
          FROM generate_series(1, {DATASETS}) i WHERE (i - 1) % 5 <> 0""",
    # trained_on (k < 4) and evaluated_on (k >= 4): six pseudo-random dataset versions per model version.
    f"""INSERT INTO lineage_edge (source_node_id, target_node_id, kind, valid_from, valid_to, ended_reason, detail,
                                  recorded_at)
        SELECT ((m::bigint * 7919 + k * 104729 + k * k * 31) % {DATASETS}) + 1, {MV0} + m,
               CASE WHEN k < 4 THEN 'trained_on' ELSE 'evaluated_on' END,
               %(start)s::timestamptz + (m * interval '300 seconds'), NULL, '', '{{}}', now()
          FROM generate_series(1, {MODEL_VERSIONS}) m CROSS JOIN generate_series(0, 5) k""",
    f"""INSERT INTO lineage_edge (source_node_id, target_node_id, kind, valid_from, valid_to, ended_reason, detail,
                                  recorded_at)
        SELECT {MV0} + m - 1, {MV0} + m, 'fine_tuned_from', %(start)s::timestamptz + (m * interval '300 seconds'),
               NULL, '', '{{}}', now()
          FROM generate_series(1, {MODEL_VERSIONS}) m WHERE (m - 1) % 10 <> 0""",
    # deployed_as: deployment d runs model version d from its time for 3 days (1 in 10 still running).
    f"""INSERT INTO lineage_edge (source_node_id, target_node_id, kind, valid_from, valid_to, ended_reason, detail,
                                  recorded_at)
        SELECT {MV0} + d, {DEP0} + d, 'deployed_as', %(start)s::timestamptz + (d * interval '300 seconds'),
               CASE WHEN d % 10 = 0 THEN NULL
                    ELSE %(start)s::timestamptz + (d * interval '300 seconds') + interval '3 days' END,
               '', '{{}}', now()
          FROM generate_series(1, {DEPLOYMENTS}) d""",
    f"""INSERT INTO lineage_edge (source_node_id, target_node_id, kind, valid_from, valid_to, ended_reason, detail,
                                  recorded_at)
        SELECT {APP0} + a, {MV0} + 2 * a, 'approved_by', %(start)s::timestamptz + (a * interval '600 seconds'),
               NULL, '', '{{}}', now()
          FROM generate_series(1, {APPROVALS}) a""",
    "SELECT setval(pg_get_serial_sequence('lineage_node', 'id'), (SELECT max(id) FROM lineage_node))",
    "ANALYZE lineage_node",
    "ANALYZE lineage_edge",
]


def seed() -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lineage_edge")
        existing = cursor.fetchone()[0]
        if existing >= 1_000_000:
            return existing
        began = time.perf_counter()
        for statement in SEED_SQL:
            cursor.execute(statement.replace(" % ", " %% "), {"start": START})
        cursor.execute("SELECT count(*) FROM lineage_edge")
        edges = cursor.fetchone()[0]
    print(f"seeded {edges:,} edges in {time.perf_counter() - began:.1f} s")
    return edges


# --- the two methods --------------------------------------------------------------------------------


def docket_walk(start_id: int, direction: str, as_of: dt.datetime) -> int:
    from apps.lineage import selectors
    from apps.lineage.models import Node

    node = Node.objects.get(pk=start_id)
    graph = selectors.graph_walk(start=[node], direction=direction, depth=10, as_of=as_of,
                                 visibility=selectors.Visibility(everything=True))
    return len(graph.nodes)


def naive_walk(start_id: int, direction: str, as_of: dt.datetime) -> int:
    """Breadth-first, one ORM query per node: the edges true at `as_of` on its side."""
    from django.db.models import Q

    from apps.lineage.models import Edge

    near, far = ("target_node_id", "source_node_id") if direction == "up" else ("source_node_id", "target_node_id")
    seen, frontier = {start_id}, [start_id]
    for _ in range(10):
        following = []
        for node_id in frontier:
            for next_id in (Edge.objects.filter(**{near: node_id}, valid_from__lte=as_of)
                            .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=as_of)).values_list(far, flat=True)):
                if next_id not in seen:
                    seen.add(next_id)
                    following.append(next_id)
        frontier = following
    return len(seen) - 1


def docket_window(start_id: int, t1: dt.datetime, t2: dt.datetime) -> int:
    from apps.lineage import queries

    return len(queries.window_deployments([start_id], environment="production", start=t1, end=t2))


def naive_window(start_id: int, t1: dt.datetime, t2: dt.datetime) -> int:
    from django.db.models import Q

    from apps.lineage.models import Edge, Node

    seen, frontier, found = {start_id}, [start_id], 0
    for _ in range(10):
        following = []
        for node_id in frontier:
            for next_id in (Edge.objects.filter(source_node_id=node_id, valid_from__lte=t2)
                            .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=t1))
                            .values_list("target_node_id", flat=True)):
                if next_id not in seen:
                    seen.add(next_id)
                    following.append(next_id)
                    node = Node.objects.only("kind", "environment").get(pk=next_id)
                    found += node.kind == "deployment" and node.environment == "production"
        frontier = following
    return found


# --- measuring --------------------------------------------------------------------------------------


def timed(function, cases) -> tuple[list[float], list[int]]:
    for case in cases[:5]:
        function(*case)  # warm-up
    times, sizes = [], []
    for case in cases:
        began = time.perf_counter()
        sizes.append(function(*case))
        times.append((time.perf_counter() - began) * 1000)
    return times, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=200, help="timed Docket queries per question")
    parser.add_argument("--naive-queries", type=int, default=50, help="timed naive traversals per question")
    parser.add_argument("--seed", type=int, default=20260301)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        raise SystemExit("run under scripts/with-postgres.sh, which provides DATABASE_URL")
    edges = seed()
    rng = random.Random(args.seed)
    end_of_year = START + dt.timedelta(seconds=YEAR_SECONDS)

    def at_random() -> dt.datetime:
        return START + dt.timedelta(seconds=rng.randrange(YEAR_SECONDS))

    def running(d: int) -> dt.datetime:  # a day into deployment d's three days (see SEED_SQL)
        return START + dt.timedelta(seconds=300 * d, days=1)

    upstream = [(DEP0 + d, "up", running(d)) for d in (rng.randrange(1, DEPLOYMENTS + 1) for _ in range(args.queries))]
    downstream = [(rng.randrange(1, DATASETS + 1), "down", end_of_year) for _ in range(args.queries)]
    windows = []
    for _ in range(args.queries):
        t1 = at_random()
        windows.append((rng.randrange(1, DATASETS + 1), t1, t1 + dt.timedelta(days=30)))

    questions = [
        ("upstream, depth 10", docket_walk, naive_walk, upstream),
        ("downstream, depth 10", docket_walk, naive_walk, downstream),
        ("deployment window (30 days)", docket_window, naive_window, windows),
    ]
    print(f"\n{edges:,} edges · {args.queries} Docket queries and {args.naive_queries} naive traversals per "
          f"question · PostgreSQL, one client, in-process\n")
    header = (f"{'question':<30}{'method':<26}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'avg nodes':>11}"
              f"   target p99 <= {TARGET_P99_MS:.0f} ms")
    print(header)
    print("-" * len(header))
    for name, docket, naive, cases in questions:
        d_times, d_sizes = timed(docket, cases)
        n_cases = cases[: args.naive_queries]
        n_times, n_sizes = timed(naive, n_cases)
        # Both methods answer the same question: the sizes must agree on the shared cases (the naive BFS
        # counts distinct nodes; graph_walk the nodes it shows; the window counts deployments).
        mismatched = sum(1 for a, b in zip(d_sizes, n_sizes) if a != b)
        p99 = percentile(d_times, 99)
        verdict = "met" if p99 <= TARGET_P99_MS else "MISSED"
        print(f"{name:<30}{'Docket (recursive CTE)':<26}{percentile(d_times, 50):>9.1f}{p99:>9.1f}"
              f"{max(d_times):>9.1f}{statistics.mean(d_sizes):>11.1f}   {verdict}")
        print(f"{'':<30}{'naive ORM (query per node)':<26}{percentile(n_times, 50):>9.1f}"
              f"{percentile(n_times, 99):>9.1f}{max(n_times):>9.1f}{statistics.mean(n_sizes):>11.1f}"
              f"   answers differing from Docket's: {mismatched}")


if __name__ == "__main__":
    main()
