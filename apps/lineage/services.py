"""Every change to the lineage graph.

Registry, reviews and gate services call the `edges_for_*` / `*_changed` hooks inside their own
transaction: the edge is written with the registry fact, and the audit entry that service records
(e.g. `registry.model_version.registered` with its datasets and parent, `registry.deployment.status_changed`)
is the audit of the edge too, so these hooks record no entry of their own. Nothing is inferred later.

The services called from outside (`event_ingest`, `edge_end`, `mapping_*`, `inquiry_*`) check
permission, validate (changing nothing on failure), change and record their audit entry in one
transaction.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.audit.encoding import canonical_json, normalise
from apps.audit.services import SYSTEM, record
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, validation_error
from apps.registry.models import Dataset, DatasetVersion, Deployment, DeploymentStatus, ModelVersion

from .models import (
    DatasetMapping,
    Edge,
    EdgeKind,
    Inquiry,
    InquiryKind,
    Node,
    NodeKind,
    OpenLineageEvent,
)

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "OpenLineage-2-0-2.json"
SCHEMA_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
# Runs that failed or were aborted consumed their inputs but did not (reliably) produce their outputs.
EVENT_TYPES_WITHOUT_OUTPUTS = {"FAIL", "ABORT"}
TRAINING_ROLES = {"train"}


# --- permissions ------------------------------------------------------------------------------------


def _is_active(actor) -> bool:
    return actor is SYSTEM or bool(getattr(actor, "pk", None) and getattr(actor, "is_active", False))


def _is_admin(actor) -> bool:
    return actor is SYSTEM or (_is_active(actor) and not actor.is_service_account and actor.has_role(Role.ADMIN))


def _require_admin(actor, *, doing: str) -> None:
    if not _is_admin(actor):
        raise PermissionDenied(f"Only administrators may {doing}.")


def _user_or_none(actor):
    return None if actor is SYSTEM else actor


# --- nodes ------------------------------------------------------------------------------------------


def _node(kind: str, key: str, **defaults) -> Node:
    node, _ = Node.objects.get_or_create(kind=kind, key=key, defaults=defaults)
    return node


def node_for_model_version(model_version: ModelVersion) -> Node:
    model = model_version.model
    return _node(NodeKind.MODEL_VERSION, str(model_version.pk), label=f"{model.use_case.key}/{model.key} v{model_version.number}",
                 use_case=model.use_case, model_version=model_version, created_at=model_version.registered_at)


def node_for_dataset_version(dataset_version: DatasetVersion) -> Node:
    dataset = dataset_version.dataset
    return _node(NodeKind.DATASET_VERSION, str(dataset_version.pk), label=f"{dataset.key} v{dataset_version.number}",
                 owner_team_id=dataset.owner_team_id, dataset_version=dataset_version,
                 created_at=dataset_version.registered_at)


def node_for_deployment(deployment: Deployment) -> Node:
    version = deployment.model_version
    model = version.model
    return _node(NodeKind.DEPLOYMENT, str(deployment.pk),
                 label=f"{model.use_case.key}/{model.key} v{version.number} in {deployment.environment} "
                       f"(deployment {deployment.pk})",
                 use_case=model.use_case, deployment=deployment, environment=deployment.environment,
                 created_at=deployment.deployed_at)


def node_for_review_case(case) -> Node:
    version = case.model_version
    return _node(NodeKind.REVIEW_CASE, str(case.pk), label=f"review {case.pk} of {version.model} v{version.number} "
                                                          f"for {case.environment}",
                 use_case=version.model.use_case, review_case=case, environment=case.environment,
                 created_at=case.opened_at)


def node_for_approval(approval) -> Node:
    version = approval.model_version
    return _node(NodeKind.APPROVAL, str(approval.pk), label=f"approval {approval.pk} of {version.model} "
                                                           f"v{version.number} for {approval.environment}",
                 use_case=version.model.use_case, approval=approval, environment=approval.environment,
                 created_at=approval.approved_at)


def node_for_report(document) -> Node:
    """A generated compliance document (reports app), visible with its use case."""
    return _node(NodeKind.REPORT, str(document.pk),
                 label=f"{document.get_kind_display()} {document.file_name or document.pk}",
                 use_case_id=document.use_case_id, created_at=document.generated_at or timezone.now())


def _add_edge(source: Node, target: Node, kind: str, *, valid_from: dt.datetime, detail: dict | None = None,
              event: OpenLineageEvent | None = None) -> Edge:
    """The open edge (source, target, kind), written now unless the same fact is already open."""
    existing = Edge.objects.filter(source_node=source, target_node=target, kind=kind, valid_to__isnull=True).first()
    if existing is not None:
        return existing
    return Edge.objects.create(source_node=source, target_node=target, kind=kind, valid_from=valid_from,
                               detail=detail or {}, event=event)


def _end(edges, *, at: dt.datetime, reason: str) -> list[Edge]:
    ended = []
    for edge in edges:
        edge.valid_to = max(at, edge.valid_from)
        edge.ended_reason = reason
        edge.save(update_fields=["valid_to", "ended_reason"])
        ended.append(edge)
    return ended


# --- hooks called by the registry, reviews and gate services, in their transaction ------------------


def edges_for_dataset_version(*, dataset_version: DatasetVersion, at: dt.datetime | None = None) -> list[Edge]:
    """The node of a newly registered dataset version and a derived_from edge from each source version
    named at its registration, true from the registration."""
    at = at or dataset_version.registered_at
    target = node_for_dataset_version(dataset_version)
    return [
        _add_edge(node_for_dataset_version(link.source), target, EdgeKind.DERIVED_FROM, valid_from=at)
        for link in dataset_version.source_links.select_related("source__dataset")
    ]


def edges_for_model_version(*, model_version: ModelVersion, at: dt.datetime | None = None) -> list[Edge]:
    """trained_on / evaluated_on per dataset link (train → trained_on; validation, test, reference →
    evaluated_on) and fine_tuned_from its parent, true from the version's registration."""
    at = at or model_version.registered_at
    target = node_for_model_version(model_version)
    edges = []
    for link in model_version.dataset_links.select_related("dataset_version__dataset"):
        kind = EdgeKind.TRAINED_ON if link.role in TRAINING_ROLES else EdgeKind.EVALUATED_ON
        edges.append(_add_edge(node_for_dataset_version(link.dataset_version), target, kind, valid_from=at,
                               detail={"role": link.role}))
    if model_version.parent_id:
        edges.append(_add_edge(node_for_model_version(model_version.parent), target, EdgeKind.FINE_TUNED_FROM,
                               valid_from=at))
    return edges


def edges_for_deployment(*, deployment: Deployment) -> Edge:
    """deployed_as from the model version to the deployment, true from `deployed_at`."""
    return _add_edge(node_for_model_version(deployment.model_version), node_for_deployment(deployment),
                     EdgeKind.DEPLOYED_AS, valid_from=deployment.deployed_at,
                     detail={"environment": deployment.environment})


def deployment_status_changed(*, deployment: Deployment) -> list[Edge]:
    """Ends the deployment's deployed_as edge when it is retired or rolled back."""
    if deployment.status == DeploymentStatus.ACTIVE:
        return []
    edges = Edge.objects.select_for_update().filter(target_node__deployment=deployment, kind=EdgeKind.DEPLOYED_AS,
                                                    valid_to__isnull=True)
    return _end(edges, at=deployment.status_changed_at or timezone.now(),
                reason=f"deployment {deployment.status}: {deployment.status_reason}"[:2000])


def edges_for_approval(*, approval) -> list[Edge]:
    """The review case produced the approval; the model version is approved_by it, from `approved_at`."""
    approval_node = node_for_approval(approval)
    detail = {"environment": approval.environment, "expires_at": approval.expires_at.isoformat()}
    return [
        _add_edge(node_for_review_case(approval.case), approval_node, EdgeKind.PRODUCED_BY,
                  valid_from=approval.approved_at),
        _add_edge(approval_node, node_for_model_version(approval.model_version), EdgeKind.APPROVED_BY,
                  valid_from=approval.approved_at, detail=detail),
    ]


def edges_for_report(*, document, subject) -> Edge | None:
    """When a document about a model version or a review case is generated: "report (target) was
    produced by" that node (source), true from the generation time. Documents about a whole use case or
    the inventory have no node to hang from and add none."""
    from apps.reviews.models import ReviewCase

    if isinstance(subject, ModelVersion):
        source = node_for_model_version(subject)
    elif isinstance(subject, ReviewCase):
        source = node_for_review_case(subject)
    else:
        return None
    report = node_for_report(document)
    return _add_edge(source, report, EdgeKind.PRODUCED_BY, valid_from=document.generated_at or timezone.now(),
                     detail={"kind": document.kind, "sha256": document.sha256})


def approval_revoked(*, approval) -> list[Edge]:
    """Ends the approved_by edge of a revoked approval at the revocation time."""
    edges = Edge.objects.select_for_update().filter(source_node__approval=approval, kind=EdgeKind.APPROVED_BY,
                                                    valid_to__isnull=True)
    return _end(edges, at=approval.revoked_at or timezone.now(),
                reason=f"approval revoked: {approval.revocation_reason}"[:2000])


# --- ending an edge by hand -------------------------------------------------------------------------


def edge_end(*, actor, edge: Edge, reason: str, at: dt.datetime | None = None) -> Edge:
    """Records that an edge stopped being true at `at` (default now). Administrators only; the edge must
    still be open and `at` may not precede its start or lie in the future. Edges are never deleted."""
    _require_admin(actor, doing="end lineage edges")
    reason = str(reason or "").strip()
    if not reason:
        raise validation_error("reason", "Say why the edge stopped being true.")
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        raise validation_error("at", "Give a timezone-aware time.")
    if at > now:
        raise validation_error("at", "An edge cannot be ended in the future.")
    with transaction.atomic():
        edge = Edge.objects.select_for_update().get(pk=edge.pk)
        if edge.valid_to is not None:
            raise Conflict(f"Edge {edge.pk} already ended at {edge.valid_to.isoformat()}.")
        if at < edge.valid_from:
            raise validation_error("at", f"The edge only became true at {edge.valid_from.isoformat()}.")
        _end([edge], at=at, reason=reason)
        record(actor=actor, action=Action.LINEAGE_EDGE_ENDED, subject=edge,
               data={"edge": edge.pk, "kind": edge.kind, "source_node": edge.source_node_id,
                     "target_node": edge.target_node_id, "valid_from": edge.valid_from, "valid_to": edge.valid_to,
                     "reason": reason})
    return edge


# --- dataset mappings -------------------------------------------------------------------------------


def mapping_create(*, actor, namespace_pattern: str, name_pattern: str, dataset: Dataset,
                   priority: int = 100) -> DatasetMapping:
    """Maps OpenLineage datasets whose namespace and name match the shell-style patterns to `dataset`.
    Administrators only. Applies to events received from now on."""
    _require_admin(actor, doing="map OpenLineage datasets to Docket datasets")
    errors: dict[str, list[str]] = {}
    namespace_pattern, name_pattern = str(namespace_pattern or "").strip(), str(name_pattern or "").strip()
    if not namespace_pattern:
        errors["namespace_pattern"] = ["Give the namespace (a shell-style pattern, e.g. s3://bucket*)."]
    if not name_pattern:
        errors["name_pattern"] = ["Give the name (a shell-style pattern, e.g. public.loans_*)."]
    if isinstance(priority, bool) or not isinstance(priority, int):
        errors["priority"] = ["priority must be a whole number."]
    if errors:
        raise ValidationFailed("The mapping was not created.", field_errors=errors)
    with transaction.atomic():
        mapping = DatasetMapping.objects.create(namespace_pattern=namespace_pattern, name_pattern=name_pattern,
                                                dataset=dataset, priority=priority, created_by=_user_or_none(actor))
        record(actor=actor, action=Action.LINEAGE_MAPPING_CREATED, subject=mapping,
               data={"namespace_pattern": namespace_pattern, "name_pattern": name_pattern, "dataset": dataset.key,
                     "priority": priority})
    return mapping


def mapping_deactivate(*, actor, mapping: DatasetMapping) -> DatasetMapping:
    """Stops using a mapping for events received from now on (edges already written stay)."""
    _require_admin(actor, doing="change OpenLineage dataset mappings")
    with transaction.atomic():
        mapping = DatasetMapping.objects.select_for_update().get(pk=mapping.pk)
        if not mapping.active:
            raise Conflict(f"Mapping {mapping.pk} is already inactive.")
        mapping.active = False
        mapping.save(update_fields=["active"])
        record(actor=actor, action=Action.LINEAGE_MAPPING_DEACTIVATED, subject=mapping,
               data={"before": True, "after": False, "namespace_pattern": mapping.namespace_pattern,
                     "name_pattern": mapping.name_pattern})
    return mapping


def _configured_mappings() -> list[tuple[str, str, str]]:
    """(namespace glob, name glob, dataset key) from settings.DOCKET_LINEAGE_DATASET_MAPPINGS."""
    parsed = []
    for item in settings.DOCKET_LINEAGE_DATASET_MAPPINGS:
        patterns, _, key = item.rpartition("=")
        namespace, _, name = patterns.partition("|")
        if namespace and name and key:
            parsed.append((namespace, name, key))
    return parsed


def resolve_dataset(namespace: str, name: str) -> Dataset | None:
    """The Docket dataset an OpenLineage dataset maps to: active database mappings by priority, then the
    setting; None when nothing matches."""
    for mapping in DatasetMapping.objects.filter(active=True).select_related("dataset").order_by("priority", "pk"):
        if fnmatch.fnmatchcase(namespace, mapping.namespace_pattern) and fnmatch.fnmatchcase(name, mapping.name_pattern):
            return mapping.dataset
    for namespace_glob, name_glob, key in _configured_mappings():
        if fnmatch.fnmatchcase(namespace, namespace_glob) and fnmatch.fnmatchcase(name, name_glob):
            return Dataset.objects.filter(key=key).first()
    return None


# --- OpenLineage ingestion --------------------------------------------------------------------------


@functools.cache
def _run_event_validator():
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    registry = Registry().with_resource(SCHEMA_ID, Resource.from_contents(schema))
    return Draft202012Validator({"$ref": f"{SCHEMA_ID}#/$defs/RunEvent"}, registry=registry,
                                format_checker=FormatChecker())


def _pointer(path) -> str:
    return "/" + "/".join(str(part) for part in path) if path else "/"


def validate_run_event(body: Any) -> None:
    """Raises ValidationFailed naming the JSON pointer of the first failing path when `body` is not an
    OpenLineage 2-0-2 RunEvent (JSON Schema Draft 2020-12, vendored in schemas/)."""
    from jsonschema.exceptions import best_match

    if not isinstance(body, dict):
        raise ValidationFailed("An OpenLineage RunEvent is a JSON object.", field_errors={"/": ["Not an object."]},
                               failing_path="/")
    error = best_match(_run_event_validator().iter_errors(body))
    if error is not None:
        # best_match descends into allOf/anyOf; the deepest context names the real culprit.
        while error.context:
            error = best_match(error.context)
        path = _pointer(error.absolute_path)
        raise ValidationFailed(f"Not a valid OpenLineage 2-0-2 RunEvent: {path}: {error.message}",
                               field_errors={path: [error.message]}, failing_path=path,
                               schema_path=_pointer(error.absolute_schema_path))
    try:
        uuid.UUID(str(body["run"]["runId"]))
    except ValueError:
        raise ValidationFailed("run.runId is not a UUID.", field_errors={"/run/runId": ["Not a UUID."]},
                               failing_path="/run/runId") from None
    _event_time(body)


def _event_time(body: Mapping) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(body["eventTime"]))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValidationFailed("eventTime is not an ISO 8601 date and time with a time zone.",
                               field_errors={"/eventTime": ["Not a date-time with a time zone."]},
                               failing_path="/eventTime")
    return parsed.astimezone(dt.UTC)


def body_sha256(body: Mapping) -> str:
    """SHA-256 of the canonical JSON of the event (sorted keys, no insignificant whitespace)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Ingested:
    event: OpenLineageEvent
    created: bool


def _dataset_version_for(dataset: Dataset, facets: Mapping, at: dt.datetime) -> DatasetVersion | None:
    """The version named by the DatasetVersionDatasetFacet when it is a Docket version number, else the
    newest version registered by the event's time."""
    declared = ((facets or {}).get("version") or {}).get("datasetVersion")
    if declared is not None and str(declared).isdigit():
        found = DatasetVersion.objects.filter(dataset=dataset, number=int(declared)).select_related("dataset").first()
        if found is not None:
            return found
    return (DatasetVersion.objects.filter(dataset=dataset, registered_at__lte=at).select_related("dataset")
            .order_by("-number").first())


def _dataset_node(entry: Mapping, at: dt.datetime) -> tuple[Node, dict]:
    namespace, name = entry["namespace"], entry["name"]
    dataset = resolve_dataset(namespace, name)
    version = _dataset_version_for(dataset, entry.get("facets") or {}, at) if dataset is not None else None
    described = {"namespace": namespace, "name": name}
    if version is not None:
        described["docket_dataset_version"] = {"dataset": dataset.key, "number": version.number}
        return node_for_dataset_version(version), described
    if dataset is not None:
        described["unresolved_mapping"] = f"{dataset.key} has no version registered by the event time"
    node = _node(NodeKind.EXTERNAL_DATASET, f"{namespace}/{name}"[:600], label=f"{namespace}/{name}"[:300],
                 namespace=namespace[:300], name=name[:300], created_at=at)
    return node, described


def event_ingest(*, actor, body: Any) -> Ingested:
    """Validates and records one OpenLineage RunEvent: its job and run, inputs (dataset consumed_by run),
    outputs (run produced_by dataset, except on FAIL/ABORT) and each output derived_from each input.

    A repeated delivery — the same runId, eventType and eventTime, or an identical body — returns the
    stored event and changes nothing (no new edge, no audit entry). The caller needs `lineage:write`
    (the API checks the key's scope); people need to be active users.
    """
    if not _is_active(actor):
        raise PermissionDenied("Only an active user or service account can send lineage events.")
    validate_run_event(body)
    digest = body_sha256(body)
    event_time = _event_time(body)
    run_id = str(uuid.UUID(str(body["run"]["runId"])))
    event_type = str(body.get("eventType") or "")
    duplicate = _duplicate(digest, run_id, event_type, event_time)
    if duplicate is not None:
        return Ingested(duplicate, False)
    job = body["job"]
    try:
        with transaction.atomic():
            event = OpenLineageEvent.objects.create(
                body=body, body_sha256=digest, event_type=event_type, event_time=event_time, run_id=run_id,
                job_namespace=job["namespace"][:300], job_name=job["name"][:300], producer=str(body["producer"])[:500],
                received_by=_user_or_none(actor))
            job_node = _node(NodeKind.JOB, f"{job['namespace']}/{job['name']}"[:600],
                             label=f"{job['namespace']}/{job['name']}"[:300], namespace=job["namespace"][:300],
                             name=job["name"][:300], created_at=event_time)
            run_node = _node(NodeKind.RUN, run_id, label=f"{job['name'][:250]} run {run_id[:8]}", created_at=event_time)
            edges = [_add_edge(job_node, run_node, EdgeKind.RUN_OF, valid_from=event_time, event=event)]
            inputs, outputs = [], []
            input_nodes = []
            for entry in body.get("inputs") or []:
                node, described = _dataset_node(entry, event_time)
                input_nodes.append(node)
                inputs.append({**described, "node": node.pk})
                edges.append(_add_edge(node, run_node, EdgeKind.CONSUMED_BY, valid_from=event_time, event=event))
            if event_type not in EVENT_TYPES_WITHOUT_OUTPUTS:
                for entry in body.get("outputs") or []:
                    node, described = _dataset_node(entry, event_time)
                    outputs.append({**described, "node": node.pk})
                    edges.append(_add_edge(run_node, node, EdgeKind.PRODUCED_BY, valid_from=event_time, event=event))
                    for source in input_nodes:
                        if source.pk != node.pk:
                            edges.append(_add_edge(source, node, EdgeKind.DERIVED_FROM, valid_from=event_time,
                                                   event=event, detail={"run": run_id}))
            new_edges = sorted({edge.pk for edge in edges if edge.event_id == event.pk})
            record(actor=actor, action=Action.LINEAGE_EVENT_INGESTED, subject=event,
                   data={"body_sha256": digest, "event_type": event_type, "event_time": event_time,
                         "run_id": run_id, "job": {"namespace": job["namespace"], "name": job["name"]},
                         "producer": body["producer"], "inputs": inputs, "outputs": outputs,
                         "job_node": job_node.pk, "run_node": run_node.pk, "new_edges": new_edges})
    except IntegrityError:
        # A concurrent delivery of the same event committed first.
        duplicate = _duplicate(digest, run_id, event_type, event_time)
        if duplicate is None:
            raise
        return Ingested(duplicate, False)
    return Ingested(event, True)


def _duplicate(digest: str, run_id: str, event_type: str, event_time: dt.datetime) -> OpenLineageEvent | None:
    return (OpenLineageEvent.objects.filter(body_sha256=digest).first()
            or OpenLineageEvent.objects.filter(run_id=run_id, event_type=event_type, event_time=event_time).first())


# --- inquiries --------------------------------------------------------------------------------------


def _answer_sha256(answer: dict) -> str:
    return hashlib.sha256(canonical_json(normalise(answer))).hexdigest()


def inquiry_save(*, actor, auth=None, kind: str, parameters: Mapping, requester: str, reason: str) -> Inquiry:
    """Runs the inquiry as `actor` sees the graph (hidden nodes only counted), pins a signed audit
    checkpoint and saves who asked, why, the parameters, the answer and that checkpoint."""
    from apps.reports import facts

    from . import selectors

    if not _is_active(actor) or actor is SYSTEM:
        raise PermissionDenied("Only an active, signed-in user or service account can save an inquiry.")
    errors: dict[str, list[str]] = {}
    requester, reason = str(requester or "").strip(), str(reason or "").strip()
    if kind not in InquiryKind.values:
        errors["kind"] = [f"Unknown inquiry kind {kind!r}; the kinds are {', '.join(InquiryKind.values)}."]
    if not requester:
        errors["requester"] = ["Say who asked (the regulator, court or data subject and their reference)."]
    if not reason:
        errors["reason"] = ["Say why the inquiry is run."]
    if errors:
        raise ValidationFailed("The inquiry was not saved.", field_errors=errors)
    answer = selectors.run_inquiry(fetched_by=actor, auth=auth, kind=kind, parameters=parameters)
    snap = facts.pin_snapshot()
    with transaction.atomic():
        inquiry = Inquiry.objects.create(
            kind=kind, asked_by=actor, requester=requester[:300], reason=reason,
            parameters=normalise(dict(answer["parameters"])), answer=normalise(answer),
            answer_sha256=_answer_sha256(answer), checkpoint_tree_size=snap.tree_size,
            checkpoint_root_hash=snap.root_hash)
        record(actor=actor, action=Action.LINEAGE_INQUIRY_SAVED, subject=inquiry,
               data={"kind": kind, "requester": inquiry.requester, "reason": reason,
                     "parameters": inquiry.parameters, "answer_sha256": inquiry.answer_sha256,
                     "hidden_nodes": answer.get("hidden", {}),
                     "checkpoint": {"tree_size": snap.tree_size, "root_hash": snap.root_hash}})
    return inquiry


def inquiry_export_pdf(*, actor, inquiry: Inquiry) -> Inquiry:
    """Renders the saved inquiry as a PDF (reports' house style), stores it with the inquiry and records
    its SHA-256. The same inquiry always gives the same bytes; a second export returns the stored one."""
    from apps.reports.documents import inquiry as inquiry_document

    from . import selectors

    selectors.inquiry_get(fetched_by=actor, pk=inquiry.pk)  # NotFound for those who may not read it
    if inquiry.pdf_sha256:
        return inquiry
    data = inquiry_document.render(inquiry)
    sha256 = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        locked = Inquiry.objects.select_for_update().get(pk=inquiry.pk)
        if locked.pdf_sha256:
            return locked
        locked.pdf.save(f"inquiry-{locked.pk}-cp{locked.checkpoint_tree_size}.pdf", ContentFile(data), save=False)
        locked.pdf_sha256 = sha256
        locked.save(update_fields=["pdf", "pdf_sha256"])
        record(actor=actor, action=Action.LINEAGE_INQUIRY_EXPORTED, subject=locked,
               data={"sha256": sha256, "size": len(data), "file_name": locked.pdf.name,
                     "answer_sha256": locked.answer_sha256,
                     "checkpoint": {"tree_size": locked.checkpoint_tree_size,
                                    "root_hash": locked.checkpoint_root_hash}})
    return locked


def inquiry_not_found(pk) -> NotFound:
    return NotFound(f"No inquiry {pk} that you may see.")
