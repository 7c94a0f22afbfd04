"""A layered drawing of a lineage graph for the explore page, as plain coordinates for an inline SVG:
upstream layers to the left of the start, downstream layers to the right, one column per depth."""

from __future__ import annotations

from dataclasses import dataclass

COLUMN_WIDTH, ROW_HEIGHT, BOX_WIDTH, BOX_HEIGHT, MARGIN = 230, 64, 190, 44, 20
KIND_COLOURS = {  # fills with dark text: contrast above 4.5:1
    "dataset_version": "#dbeafe", "external_dataset": "#e0e7ff", "model_version": "#dcfce7",
    "deployment": "#fef3c7", "approval": "#fce7f3", "review_case": "#f3e8ff", "job": "#e5e7eb", "run": "#f1f5f9",
}


@dataclass(frozen=True)
class Box:
    id: int
    x: int
    y: int
    label: str
    kind: str
    fill: str
    start: bool


@dataclass(frozen=True)
class Line:
    x1: int
    y1: int
    x2: int
    y2: int
    kind: str


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    boxes: list[Box]
    lines: list[Line]
    box_width: int = BOX_WIDTH
    box_height: int = BOX_HEIGHT


def layered(start: list[dict], upstream: list[dict], downstream: list[dict], edges: list[dict]) -> Drawing:
    """Columns: -depth for upstream nodes, 0 for the start, +depth for downstream; rows in label order."""
    column_of: dict[int, int] = {node["id"]: 0 for node in start}
    nodes = {node["id"]: node for node in start}
    for sign, group in ((-1, upstream), (1, downstream)):
        for node in group:
            if node["id"] not in column_of:
                column_of[node["id"]] = sign * node["depth"]
                nodes[node["id"]] = node
    columns = sorted(set(column_of.values()))
    rows: dict[int, list[int]] = {column: [] for column in columns}
    for node_id in sorted(column_of, key=lambda n: (nodes[n]["label"], n)):
        rows[column_of[node_id]].append(node_id)
    position = {}
    for index, column in enumerate(columns):
        for row, node_id in enumerate(rows[column]):
            position[node_id] = (MARGIN + index * COLUMN_WIDTH, MARGIN + row * ROW_HEIGHT)
    starts = {node["id"] for node in start}
    boxes = [Box(node_id, x, y, nodes[node_id]["label"], nodes[node_id]["kind"],
                 KIND_COLOURS.get(nodes[node_id]["kind"], "#ffffff"), node_id in starts)
             for node_id, (x, y) in position.items()]
    lines = []
    for edge in edges:
        if edge["source"] in position and edge["target"] in position:
            (sx, sy), (tx, ty) = position[edge["source"]], position[edge["target"]]
            lines.append(Line(sx + BOX_WIDTH, sy + BOX_HEIGHT // 2, tx, ty + BOX_HEIGHT // 2, edge["kind"]))
    height = MARGIN * 2 + max((len(r) for r in rows.values()), default=1) * ROW_HEIGHT
    width = MARGIN * 2 + max(len(columns), 1) * COLUMN_WIDTH
    return Drawing(width=width, height=height, boxes=boxes, lines=lines)
