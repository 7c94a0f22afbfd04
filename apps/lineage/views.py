"""The lineage explore page: pick a node, a direction, a depth and a time; see the graph as it was then
(an SVG drawn on the server, layered by depth) with tables of its nodes and edges. Nodes the user may
not see are never shown, only counted. Read-only: nothing here changes state."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from apps.common.errors import ApplicationError

from . import layout, selectors
from .forms import ExploreForm
from .models import NodeKind

SEARCH_RESULTS = 20


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if timezone.is_naive(value) else value.astimezone(dt.UTC)


@login_required
def explore(request):
    """GET only. With `node`, walks upstream and/or downstream; with `search`, lists matching nodes."""
    form = ExploreForm(request.GET or None)
    context: dict = {"form": form, "error": None, "graph": None, "matches": None}
    if not form.is_bound:
        context["matches"] = (selectors.node_list(fetched_by=request.user, kind=NodeKind.DEPLOYMENT, limit=10)
                              + selectors.node_list(fetched_by=request.user, kind=NodeKind.MODEL_VERSION, limit=10))
        context["matches_title"] = "Deployments and model versions you may see"
        return render(request, "lineage/explore.html", context)
    if not form.is_valid():
        return render(request, "lineage/explore.html", context, status=400)
    data = form.cleaned_data
    if data["search"]:
        context["matches"] = selectors.node_list(fetched_by=request.user, search=data["search"],
                                                 limit=SEARCH_RESULTS)
        context["matches_title"] = f"Nodes matching “{data['search']}”"
    if data["node"]:
        direction = data["direction"] or "both"
        depth = data["depth"] or selectors.DEFAULT_DEPTH
        as_of = _as_utc(data["as_of"]) or timezone.now()
        try:
            visibility = selectors.visibility_for(request.user)
            start = selectors.start_nodes(fetched_by=request.user, reference={"node": data["node"]},
                                          visibility=visibility)
            up = (selectors.graph_walk(start=start, direction="up", depth=depth, as_of=as_of, visibility=visibility)
                  if direction in ("both", "up") else None)
            down = (selectors.graph_walk(start=start, direction="down", depth=depth, as_of=as_of,
                                         visibility=visibility) if direction in ("both", "down") else None)
        except ApplicationError as exc:
            context["error"] = exc.detail
            return render(request, "lineage/explore.html", context, status=404 if exc.status == 404 else 400)
        upstream, downstream = (up.nodes if up else []), (down.nodes if down else [])
        edges = (up.edges if up else []) + (down.edges if down else [])
        start_described = [selectors.describe_node(node, depth=0) for node in start]
        context["graph"] = {
            "start": start_described, "as_of": as_of, "depth": depth, "direction": direction,
            "upstream": upstream, "downstream": downstream, "edges": edges,
            "hidden_up": up.hidden_total if up else 0, "hidden_down": down.hidden_total if down else 0,
            "drawing": layout.layered(start_described, upstream, downstream, edges),
        }
        labels = {n["id"]: n["label"] for n in start_described + upstream + downstream}
        context["graph"]["edge_rows"] = [{**edge, "source_label": labels.get(edge["source"], edge["source"]),
                                          "target_label": labels.get(edge["target"], edge["target"])}
                                         for edge in edges]
    return render(request, "lineage/explore.html", context)
