"""The graph queries, in SQL: recursive CTEs over `lineage_edge`, as of a time, with a depth limit.

Both PostgreSQL (tests, production) and SQLite (the embedded demo) run the same statements: `WITH
RECURSIVE`, `UNION` (which drops repeated rows, so a cycle cannot grow the working table past the depth
limit) and plain comparisons. Times are passed through the backend's own adapter, so SQLite compares
the text Django stored and PostgreSQL compares timestamptz values.

An edge is true at T when `valid_from <= T AND (valid_to IS NULL OR valid_to > T)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

MAX_DEPTH = 10


@dataclass(frozen=True)
class WalkedEdge:
    """An edge reached by a walk, at the smallest depth it was reached (1 = touches a start node)."""

    edge_id: int
    source_id: int
    target_id: int
    kind: str
    depth: int


def _time(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _placeholders(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


# `{near}` is the column on the side already reached, `{far}` the side the walk moves to.
_WALK = """
WITH RECURSIVE walk(edge_id, near_id, far_id, depth) AS (
    SELECT e.id, e.{near}, e.{far}, 1
      FROM lineage_edge e
     WHERE e.{near} IN ({starts})
       AND e.valid_from <= %s AND (e.valid_to IS NULL OR e.valid_to > %s)
    UNION
    SELECT e.id, e.{near}, e.{far}, w.depth + 1
      FROM walk w
      JOIN lineage_edge e ON e.{near} = w.far_id
     WHERE w.depth < %s
       AND e.valid_from <= %s AND (e.valid_to IS NULL OR e.valid_to > %s)
)
SELECT w.edge_id, e.source_node_id, e.target_node_id, e.kind, MIN(w.depth)
  FROM walk w JOIN lineage_edge e ON e.id = w.edge_id
 GROUP BY w.edge_id, e.source_node_id, e.target_node_id, e.kind
 ORDER BY MIN(w.depth), w.edge_id
"""


def walk(start_ids: Sequence[int], *, direction: str, depth: int, as_of: dt.datetime) -> list[WalkedEdge]:
    """Every edge true at `as_of` on a path of at most `depth` edges upstream ("up": against the edges)
    or downstream ("down": along them) of the start nodes."""
    if not start_ids:
        return []
    near, far = ("target_node_id", "source_node_id") if direction == "up" else ("source_node_id", "target_node_id")
    sql = _WALK.format(near=near, far=far, starts=_placeholders(start_ids))
    at = _time(as_of)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*start_ids, at, at, depth, at, at])
        return [WalkedEdge(*row) for row in cursor.fetchall()]


# Downstream of the dataset's nodes over edges true at some moment of [t1, t2]; deployments of the
# environment whose deployed_as edge overlaps the window.
_WINDOW = """
WITH RECURSIVE reach(node_id, depth) AS (
    SELECT n.id, 0 FROM lineage_node n WHERE n.id IN ({starts})
    UNION
    SELECT e.target_node_id, r.depth + 1
      FROM reach r
      JOIN lineage_edge e ON e.source_node_id = r.node_id
     WHERE r.depth < %s
       AND e.valid_from <= %s AND (e.valid_to IS NULL OR e.valid_to > %s)
)
SELECT n.id, MIN(r.depth)
  FROM reach r JOIN lineage_node n ON n.id = r.node_id
 WHERE n.kind = 'deployment' AND n.environment = %s
 GROUP BY n.id
 ORDER BY MIN(r.depth), n.id
"""


def window_deployments(start_ids: Sequence[int], *, environment: str, start: dt.datetime, end: dt.datetime,
                       depth: int = MAX_DEPTH) -> list[tuple[int, int]]:
    """(deployment node id, distance) of the deployments in `environment` that depended, directly or
    transitively, on any start node at some moment between `start` and `end` (edges true at some point
    of the window: `valid_from <= end` and still true after `start`)."""
    if not start_ids:
        return []
    sql = _WINDOW.format(starts=_placeholders(start_ids))
    with connection.cursor() as cursor:
        cursor.execute(sql, [*start_ids, depth, _time(end), _time(start), environment])
        return [(row[0], row[1]) for row in cursor.fetchall()]
