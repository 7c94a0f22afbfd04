"""Reads of the lineage graph, each limited to what the caller may see.

Who sees a node: administrators and auditors see every node. Others see the nodes of the use cases they
may view (model versions, deployments, review cases, approvals), the dataset versions of datasets they
may see (as `registry.selectors.dataset_list` decides), and the nodes that belong to no use case or team
(OpenLineage jobs, runs and external datasets: they carry only the names a pipeline sent). An API key
limited to named use cases narrows this to those use cases and the datasets their versions used.

Hidden nodes: a walk never reveals a node the caller may not see, and does not walk through it — it
stops there, and the answer counts the hidden nodes it met (in total and per depth), without id,
kind or label. What lies beyond a hidden node is neither shown nor counted. The SQL walk (queries.py)
runs first; the visibility filter is applied to its result in memory.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.permissions import api_key_of, visible_use_cases
from apps.accounts.roles import Role
from apps.audit.services import SYSTEM
from apps.common.errors import NotFound, ValidationFailed, validation_error
from apps.registry import selectors as registry_selectors
from apps.registry.models import DatasetVersion, LegalBasis, ModelVersionDataset, UseCase

from . import queries
from .models import Edge, EdgeKind, Inquiry, InquiryKind, Node, NodeKind

DEFAULT_DEPTH = 3
BEHIND_DEPTH = queries.MAX_DEPTH
REFERENCE_FIELDS = ("node", "model_version", "dataset_version", "deployment", "review_case", "approval", "dataset")


# --- who sees what ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visibility:
    """The use cases and datasets one caller may see; `everything` for administrators and auditors."""

    everything: bool
    use_case_ids: frozenset[int] = frozenset()
    dataset_ids: frozenset[int] = frozenset()

    def may_see(self, node: Node) -> bool:
        if self.everything:
            return True
        if node.use_case_id is not None:
            return node.use_case_id in self.use_case_ids
        if node.kind == NodeKind.DATASET_VERSION:
            return node.dataset_version is not None and node.dataset_version.dataset_id in self.dataset_ids
        return True


def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def visibility_for(user, auth=None) -> Visibility:
    """What `user` (with the request's API key `auth`, if any) may see of the graph."""
    if user is SYSTEM:
        return Visibility(everything=True)
    if not _signed_in(user):
        return Visibility(everything=False)
    api_key = api_key_of(auth)
    restricted = (list(api_key.service_account.allowed_use_cases.values_list("pk", flat=True))
                  if api_key is not None else [])
    if not restricted and not user.is_service_account and (user.has_role(Role.ADMIN) or user.has_role(Role.AUDITOR)):
        return Visibility(everything=True)
    use_case_ids = frozenset(visible_use_cases(UseCase.objects.all(), user=user, auth=auth).values_list("pk", flat=True))
    datasets = registry_selectors.dataset_list(fetched_by=user)
    if restricted:
        used = ModelVersionDataset.objects.filter(model_version__model__use_case__in=use_case_ids).values(
            "dataset_version__dataset")
        datasets = datasets.filter(pk__in=used)
    return Visibility(everything=False, use_case_ids=use_case_ids,
                      dataset_ids=frozenset(datasets.values_list("pk", flat=True)))


# --- parsing parameters -----------------------------------------------------------------------------


def parse_time(value, *, field: str, default: dt.datetime | None = None) -> dt.datetime:
    """An aware datetime from an ISO 8601 string (or datetime); ValidationFailed naming `field` otherwise."""
    if value in (None, ""):
        if default is not None:
            return default
        raise validation_error(field, f"Give {field} as an ISO 8601 date and time with a time zone.")
    if isinstance(value, str):
        try:
            text = value.strip()
            if "T" in text and " " in text:  # an unencoded "+01:00" in a query string arrives as " 01:00"
                text = text.replace(" ", "+")
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise validation_error(field, f"{field} {value!r} is not an ISO 8601 date and time "
                                          "(e.g. 2026-03-03T12:00:00Z).") from None
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        raise validation_error(field, f"{field} needs a time zone (e.g. 2026-03-03T12:00:00Z).")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise validation_error(field, f"{field} is out of range.") from None


def parse_depth(value, *, default: int = DEFAULT_DEPTH) -> int:
    if value in (None, ""):
        return default
    try:
        depth = int(str(value))
    except ValueError:
        raise validation_error("depth", f"depth must be a whole number from 1 to {queries.MAX_DEPTH}.") from None
    if not 1 <= depth <= queries.MAX_DEPTH:
        raise validation_error("depth", f"depth must be from 1 to {queries.MAX_DEPTH} (got {depth}).")
    return depth


def _positive_int(value, field: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise validation_error(field, f"{field} must be a whole number (an id).") from None
    if number < 1:
        raise validation_error(field, f"{field} must be a positive id.")
    return number


# --- nodes ------------------------------------------------------------------------------------------


def _nodes() -> QuerySet[Node]:
    return Node.objects.select_related("dataset_version")


def start_nodes(*, fetched_by, auth=None, reference: Mapping, visibility: Visibility | None = None) -> list[Node]:
    """The node(s) a request names: `node` (id) or a registry reference — `model_version`,
    `dataset_version`, `deployment`, `review_case`, `approval` (ids) or `dataset` (key: every version).
    NotFound when it does not exist or the caller may not see it; ValidationFailed when none or several
    references are given."""
    given = [name for name in REFERENCE_FIELDS if reference.get(name) not in (None, "")]
    if len(given) != 1:
        raise ValidationFailed(f"Name exactly one start: one of {', '.join(REFERENCE_FIELDS)}.",
                               field_errors={"node": [f"Give one of {', '.join(REFERENCE_FIELDS)}."]})
    name = given[0]
    value = reference[name]
    visibility = visibility or visibility_for(fetched_by, auth)
    if name == "dataset":
        nodes = list(_nodes().filter(kind=NodeKind.DATASET_VERSION, dataset_version__dataset__key=str(value))
                     .order_by("dataset_version__number"))
    elif name == "node":
        nodes = list(_nodes().filter(pk=_positive_int(value, "node")))
    else:
        nodes = list(_nodes().filter(**{f"{name}_id": _positive_int(value, name)}))
    nodes = [node for node in nodes if visibility.may_see(node)]
    if not nodes:
        raise NotFound(f"No lineage node for {name}={value} that you may see.")
    return nodes


def node_list(*, fetched_by, auth=None, search: str = "", kind: str = "", limit: int = 50) -> list[Node]:
    """Nodes the caller may see whose label contains `search` (and of `kind`), for pickers."""
    visibility = visibility_for(fetched_by, auth)
    queryset = _nodes().order_by("kind", "label", "pk")
    if search:
        queryset = queryset.filter(label__icontains=search)
    if kind:
        queryset = queryset.filter(kind=kind)
    if not visibility.everything:
        queryset = queryset.filter(
            Q(use_case_id__in=visibility.use_case_ids)
            | Q(kind=NodeKind.DATASET_VERSION, dataset_version__dataset_id__in=visibility.dataset_ids)
            | Q(use_case__isnull=True) & ~Q(kind=NodeKind.DATASET_VERSION))
    return list(queryset[:limit])


def describe_node(node: Node, *, depth: int | None = None) -> dict:
    described = {"id": node.pk, "kind": node.kind, "label": node.label, "reference": reference_of(node)}
    if node.environment:
        described["environment"] = node.environment
    if node.namespace or node.name:
        described["namespace"], described["name"] = node.namespace, node.name
    if depth is not None:
        described["depth"] = depth
    return described


def reference_of(node: Node) -> dict | None:
    for name in ("model_version", "dataset_version", "deployment", "review_case", "approval"):
        value = getattr(node, f"{name}_id")
        if value is not None:
            return {name: value}
    return None


# --- walks ------------------------------------------------------------------------------------------


@dataclass
class Graph:
    """What a walk shows: visible nodes (with depth) and edges between them, and the hidden count."""

    start: list[Node]
    direction: str
    depth: int
    as_of: dt.datetime
    nodes: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)
    hidden_by_depth: dict[int, int] = field(default_factory=dict)

    @property
    def hidden_total(self) -> int:
        return sum(self.hidden_by_depth.values())

    def hidden(self) -> dict:
        return {"total": self.hidden_total,
                "by_depth": {str(depth): count for depth, count in sorted(self.hidden_by_depth.items())}}

    def as_dict(self) -> dict:
        return {"direction": "upstream" if self.direction == "up" else "downstream", "depth": self.depth,
                "as_of": self.as_of.isoformat(), "start": [describe_node(node, depth=0) for node in self.start],
                "nodes": self.nodes, "edges": self.edges, "hidden": self.hidden()}


def _describe_edge(edge: queries.WalkedEdge, valid: Mapping[int, tuple]) -> dict:
    valid_from, valid_to, detail = valid[edge.edge_id]
    return {"id": edge.edge_id, "source": edge.source_id, "target": edge.target_id, "kind": edge.kind,
            "valid_from": valid_from.isoformat(), "valid_to": valid_to.isoformat() if valid_to else None,
            "detail": detail}


def graph_walk(*, start: list[Node], direction: str, depth: int, as_of: dt.datetime, visibility: Visibility) -> Graph:
    """Walks up ("up") or down ("down") from `start` in SQL, then keeps what `visibility` allows (see the
    module docstring). Three queries: the walk, its nodes, its edges' validity."""
    walked = queries.walk([node.pk for node in start], direction=direction, depth=depth, as_of=as_of)
    node_ids = {edge.source_id for edge in walked} | {edge.target_id for edge in walked}
    loaded = {node.pk: node for node in _nodes().filter(pk__in=node_ids)} if node_ids else {}
    adjacency: dict[int, list[queries.WalkedEdge]] = defaultdict(list)
    for edge in walked:
        near = edge.target_id if direction == "up" else edge.source_id
        adjacency[near].append(edge)
    graph = Graph(start=start, direction=direction, depth=depth, as_of=as_of)
    reached: dict[int, int] = {node.pk: 0 for node in start}
    hidden: dict[int, int] = {}
    shown_edges: list[queries.WalkedEdge] = []
    frontier = [node.pk for node in start]
    for level in range(1, depth + 1):
        following = []
        for near in frontier:
            for edge in adjacency.get(near, ()):
                far = edge.source_id if direction == "up" else edge.target_id
                node = loaded.get(far)
                if node is None:
                    continue
                if not visibility.may_see(node):
                    hidden.setdefault(far, level)
                    continue
                shown_edges.append(edge)
                if far not in reached:
                    reached[far] = level
                    following.append(far)
        frontier = following
    for node_id, level in hidden.items():
        if node_id not in reached:
            graph.hidden_by_depth[level] = graph.hidden_by_depth.get(level, 0) + 1
    starts = {node.pk for node in start}
    graph.nodes = [describe_node(loaded[node_id], depth=level) for node_id, level in
                   sorted(reached.items(), key=lambda item: (item[1], item[0])) if node_id not in starts]
    unique = {edge.edge_id: edge for edge in shown_edges}
    valid = {row[0]: row[1:] for row in Edge.objects.filter(pk__in=unique).values_list(
        "pk", "valid_from", "valid_to", "detail")} if unique else {}
    graph.edges = [_describe_edge(edge, valid) for edge in sorted(unique.values(), key=lambda e: (e.depth, e.edge_id))]
    return graph


def lineage(*, fetched_by, auth=None, reference: Mapping, direction: str, depth=None, as_of=None) -> Graph:
    """Upstream ("up") or downstream ("down") of the referenced node, as the graph was at `as_of`
    (default now), to `depth` edges (default 3, at most 10)."""
    if direction not in ("up", "down"):
        raise validation_error("direction", "direction is upstream or downstream.")
    depth = parse_depth(depth)
    as_of = parse_time(as_of, field="as_of", default=timezone.now())
    visibility = visibility_for(fetched_by, auth)
    start = start_nodes(fetched_by=fetched_by, auth=auth, reference=reference, visibility=visibility)
    return graph_walk(start=start, direction=direction, depth=depth, as_of=as_of, visibility=visibility)


# --- the deployment-window query --------------------------------------------------------------------


def _dataset_start(reference: Mapping, visibility: Visibility, fetched_by, auth) -> list[Node]:
    given = {name: reference.get(name) for name in ("dataset", "dataset_version", "node")
             if reference.get(name) not in (None, "")}
    if len(given) != 1:
        raise ValidationFailed("Name the dataset: one of dataset (key), dataset_version (id) or node (id).",
                               field_errors={"dataset": ["Give one of dataset, dataset_version or node."]})
    return start_nodes(fetched_by=fetched_by, auth=auth, reference=given, visibility=visibility)


def deployment_window(*, fetched_by, auth=None, reference: Mapping, environment: str, start, end) -> dict:
    """The deployments in `environment` that, at some moment between `start` and `end`, depended directly
    or transitively (up to 10 edges) on the dataset: its versions, or one version or node."""
    from django.conf import settings

    errors: dict[str, list[str]] = {}
    if not environment:
        errors["environment"] = ["Give the environment."]
    elif environment not in settings.DOCKET_ENVIRONMENTS:
        errors["environment"] = [(f"Unknown environment {environment!r}; environments are "
                                  f"{', '.join(settings.DOCKET_ENVIRONMENTS)}.")]
    if errors:
        raise ValidationFailed("The window query is not valid.", field_errors=errors)
    start_time = parse_time(start, field="start")
    end_time = parse_time(end, field="end")
    if end_time < start_time:
        raise validation_error("end", "end must not come before start.")
    visibility = visibility_for(fetched_by, auth)
    starts = _dataset_start(reference, visibility, fetched_by, auth)
    found = queries.window_deployments([node.pk for node in starts], environment=environment, start=start_time,
                                       end=end_time)
    nodes = {node.pk: node for node in Node.objects.select_related(
        "deployment__model_version__model__use_case").filter(pk__in=[node_id for node_id, _ in found])}
    deployments, hidden = [], 0
    for node_id, distance in found:
        node = nodes[node_id]
        if not visibility.may_see(node):
            hidden += 1
            continue
        deployment = node.deployment
        version = deployment.model_version
        deployments.append({
            "node": node.pk, "deployment": deployment.pk, "distance": distance,
            "use_case": version.model.use_case.key, "model": version.model.key, "version": version.number,
            "artifact_sha256": version.artifact_sha256, "environment": deployment.environment,
            "deployed_at": deployment.deployed_at.isoformat(), "status": deployment.status,
            "status_changed_at": deployment.status_changed_at.isoformat()
            if deployment.status != "active" and deployment.status_changed_at else None,
        })
    return {"environment": environment, "start": start_time.isoformat(), "end": end_time.isoformat(),
            "datasets": [describe_node(node) for node in starts], "deployments": deployments,
            "hidden": {"total": hidden}}


# --- what was behind a production decision ----------------------------------------------------------


def _dataset_facts(version: DatasetVersion) -> dict:
    return {"dataset": version.dataset.key, "version": version.number, "content_sha256": version.content_sha256,
            "contains_personal_data": version.contains_personal_data,
            "contains_special_category_data": version.contains_special_category_data,
            "legal_basis": version.legal_basis or None,
            "legal_basis_label": LegalBasis(version.legal_basis).label if version.legal_basis else None,
            "retention_until": version.retention_until.isoformat() if version.retention_until else None,
            "lifecycle_state": version.lifecycle_state}


def _approvals_at(version, environment: str, at: dt.datetime) -> list[dict]:
    from apps.reviews.models import Approval, Decision

    approvals = list(Approval.objects.filter(model_version=version, environment=environment, approved_at__lte=at)
                     .select_related("case").order_by("-approved_at"))
    decisions = defaultdict(list)
    for decision in Decision.objects.filter(case__in=[a.case_id for a in approvals], signed_at__lte=at).order_by(
            "signed_at", "pk"):
        decisions[decision.case_id].append({
            "meaning": decision.meaning, "signer": decision.signer_printed_name,
            "signed_at": decision.signed_at.isoformat(), "manifest_sha256": decision.manifest_sha256,
            "audit_index": decision.audit_index, "comment": decision.comment})
    described = []
    for approval in approvals:
        if approval.revoked_at is not None and approval.revoked_at <= at:
            state = "revoked"
        elif approval.expires_at <= at:
            state = "expired"
        else:
            state = "valid"
        described.append({"approval": approval.pk, "review_case": approval.case_id, "state_at": state,
                          "approved_at": approval.approved_at.isoformat(),
                          "expires_at": approval.expires_at.isoformat(),
                          "revoked_at": approval.revoked_at.isoformat()
                          if approval.revoked_at and approval.revoked_at <= at else None,
                          "conditions": approval.conditions, "signatures": decisions[approval.case_id]})
    return described


def behind_decision(*, fetched_by, auth=None, use_case: str, at, environment: str = "production") -> dict:
    """What was behind use case `use_case`'s decisions in `environment` at time `at`: the deployment(s)
    running then, their model version, the approvals (state at `at`) with their signatures, and the
    datasets upstream of them (to 10 edges) with their legal bases; hidden nodes only counted."""
    if not use_case:
        raise validation_error("use_case", "Give the use case key.")
    at_time = parse_time(at, field="at")
    visibility = visibility_for(fetched_by, auth)
    found = UseCase.objects.filter(key=str(use_case)).first()
    if found is None or not (visibility.everything or found.pk in visibility.use_case_ids):
        raise NotFound(f"No use case {use_case!r} that you may see.")
    running = (Edge.objects.filter(kind=EdgeKind.DEPLOYED_AS, target_node__use_case=found,
                                   target_node__environment=environment, valid_from__lte=at_time)
               .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at_time))
               .select_related("target_node__deployment__model_version__model", "target_node__dataset_version")
               .order_by("target_node__deployment__model__key", "pk"))
    deployments, hidden_total = [], 0
    for edge in running:
        node = edge.target_node
        deployment = node.deployment
        version = deployment.model_version
        graph = graph_walk(start=[node], direction="up", depth=BEHIND_DEPTH, as_of=at_time, visibility=visibility)
        hidden_total += graph.hidden_total
        dataset_node_ids = [item["id"] for item in graph.nodes if item["kind"] == NodeKind.DATASET_VERSION]
        versions = {n.pk: n.dataset_version for n in Node.objects.filter(pk__in=dataset_node_ids)
                    .select_related("dataset_version__dataset")}
        deployments.append({
            "deployment": deployment.pk, "node": node.pk, "model": version.model.key, "version": version.number,
            "model_version": version.pk, "artifact_sha256": version.artifact_sha256,
            "deployed_at": deployment.deployed_at.isoformat(),
            "approvals": _approvals_at(version, environment, at_time),
            "datasets": [{**_dataset_facts(versions[item["id"]]), "node": item["id"], "depth": item["depth"]}
                         for item in graph.nodes if item["id"] in versions],
            "external_datasets": [{"node": item["id"], "label": item["label"], "depth": item["depth"]}
                                  for item in graph.nodes if item["kind"] == NodeKind.EXTERNAL_DATASET],
            "upstream": graph.as_dict(),
        })
    return {"use_case": found.key, "environment": environment, "at": at_time.isoformat(),
            "deployments": deployments, "hidden": {"total": hidden_total}}


# --- inquiries --------------------------------------------------------------------------------------


def run_inquiry(*, fetched_by, auth=None, kind: str, parameters: Mapping) -> dict:
    """Runs one inquiry kind with its parameters; the answer (JSON-able) repeats the parameters as
    understood (times normalised to UTC)."""
    parameters = dict(parameters or {})
    if kind in (InquiryKind.UPSTREAM, InquiryKind.DOWNSTREAM):
        reference = {name: parameters.get(name) for name in REFERENCE_FIELDS if parameters.get(name) not in (None, "")}
        graph = lineage(fetched_by=fetched_by, auth=auth, reference=reference,
                        direction="up" if kind == InquiryKind.UPSTREAM else "down",
                        depth=parameters.get("depth"), as_of=parameters.get("as_of"))
        answer = graph.as_dict()
        answer["parameters"] = {**reference, "depth": graph.depth, "as_of": graph.as_of.isoformat()}
    elif kind == InquiryKind.WINDOW:
        reference = {name: parameters.get(name) for name in ("dataset", "dataset_version", "node")
                     if parameters.get(name) not in (None, "")}
        answer = deployment_window(fetched_by=fetched_by, auth=auth, reference=reference,
                                   environment=str(parameters.get("environment") or ""), start=parameters.get("start"),
                                   end=parameters.get("end"))
        answer["parameters"] = {**reference, "environment": answer["environment"], "start": answer["start"],
                                "end": answer["end"]}
    elif kind == InquiryKind.BEHIND:
        answer = behind_decision(fetched_by=fetched_by, auth=auth, use_case=parameters.get("use_case") or "",
                                 at=parameters.get("at"), environment=str(parameters.get("environment") or "production"))
        answer["parameters"] = {"use_case": answer["use_case"], "environment": answer["environment"],
                                "at": answer["at"]}
    else:
        raise validation_error("kind", f"Unknown inquiry kind {kind!r}; the kinds are {', '.join(InquiryKind.values)}.")
    answer["kind"] = str(kind)
    return answer


def _reads_all_inquiries(user) -> bool:
    return user is SYSTEM or (_signed_in(user) and not user.is_service_account
                              and (user.has_role(Role.ADMIN) or user.has_role(Role.AUDITOR)))


def inquiry_list(*, fetched_by) -> QuerySet[Inquiry]:
    """Inquiries the caller saved; administrators and auditors see all."""
    queryset = Inquiry.objects.select_related("asked_by").order_by("-created_at", "-pk")
    if _reads_all_inquiries(fetched_by):
        return queryset
    if not _signed_in(fetched_by):
        return queryset.none()
    return queryset.filter(asked_by=fetched_by)


def inquiry_get(*, fetched_by, pk) -> Inquiry:
    inquiry = inquiry_list(fetched_by=fetched_by).filter(pk=pk).first()
    if inquiry is None:
        raise NotFound(f"No inquiry {pk} that you may see.")
    return inquiry

