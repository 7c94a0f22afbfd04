"""The audit API for auditors: entries with inclusion proofs, checkpoints, consistency proofs, keys.

Readable by the auditor and admin roles (and API keys with the `read` scope whose service account
holds one of those roles); signing a checkpoint on demand is for administrators.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.roles import Role
from apps.accounts.scopes import Scope
from apps.common.api.pagination import OldestFirstCursorPagination
from apps.common.api.permissions import ScopedAPIViewMixin
from apps.common.api.schema import problems
from apps.common.errors import NotFound, ValidationFailed, validation_error

from .. import proofs, selectors, services
from ..models import AuditEntry
from .serializers import (
    AuditEntryPageSerializer,
    AuditEntrySerializer,
    CheckpointPageSerializer,
    CheckpointSerializer,
    ConsistencyProofSerializer,
    EntryWithProofSerializer,
    SigningKeySerializer,
    b64,
)

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"

READ_ERRORS = problems(401, 403, 404)
QUERY_ERRORS = problems(400, 401, 403, 404)


def _query(name: str, kind=OpenApiTypes.STR, description: str = "", *, required: bool = False) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, required=required, description=description)


PAGE_PARAMETERS = [_query("cursor", description="The cursor of the page, from `next` or `previous`."),
                   OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": 1000},
                                    OpenApiParameter.QUERY, description="Entries per page (1 to 1000).")]


class IsAuditReader(BasePermission):
    message = "Only auditors and administrators may read the audit log."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (
            user.is_superuser or user.has_role(Role.AUDITOR) or user.has_role(Role.ADMIN)
        ))


class AuditAPIView(ScopedAPIViewMixin, APIView):
    permission_classes = [*ScopedAPIViewMixin.permission_classes, IsAuditReader]
    required_scopes = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": [], "*": [Scope.READ]}


def _int_param(request, name: str, *, default: int | None = None, minimum: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(name, f"{name} must be an integer.") from None
    if value < minimum:
        raise validation_error(name, f"{name} must be at least {minimum}.")
    return value


def _text_param(request, name: str) -> str | None:
    raw = request.query_params.get(name) or None
    if raw is not None and "\x00" in raw:
        raise validation_error(name, f"{name} must not contain NUL characters.")
    return raw


def _datetime_param(request, name: str) -> dt.datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:  # well formed but not a real date-time, e.g. 2026-02-30
        value = None
    if value is None or value.tzinfo is None:
        raise validation_error(name, f"{name} must be an ISO 8601 date-time with a time zone.")
    try:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 allows.
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise validation_error(name, f"{name} is out of range.") from None


class EntryPagination(OldestFirstCursorPagination):
    ordering = "index"
    page_size = 100
    max_page_size = 1000


class EntryListView(AuditAPIView):
    """GET: entries in index order, filtered by action, subject_type, subject_id, actor_type, actor_id,
    index_from/index_to (inclusive) and since/until (timestamps); cursor-paginated."""

    @extend_schema(
        operation_id="audit_entries_list",
        parameters=[
            _query("action"), _query("subject_type"), _query("subject_id"), _query("actor_type"), _query("actor_id"),
            _query("index_from", {"type": "integer", "minimum": 0}, "First index (inclusive)."),
            _query("index_to", {"type": "integer", "minimum": 0}, "Last index (inclusive)."),
            _query("since", OpenApiTypes.DATETIME, "Entries at or after this time (with a time zone)."),
            _query("until", OpenApiTypes.DATETIME, "Entries before this time (with a time zone)."),
            *PAGE_PARAMETERS,
        ],
        responses={200: AuditEntryPageSerializer, **QUERY_ERRORS},
    )
    def get(self, request):
        entries = selectors.entry_list(
            action=_text_param(request, "action"),
            subject_type=_text_param(request, "subject_type"),
            subject_id=_text_param(request, "subject_id"),
            actor_type=_text_param(request, "actor_type"),
            actor_id=_text_param(request, "actor_id"),
            index_from=_int_param(request, "index_from"),
            index_to=_int_param(request, "index_to"),
            since=_datetime_param(request, "since"),
            until=_datetime_param(request, "until"),
        )
        paginator = EntryPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(AuditEntrySerializer(page, many=True).data)


def tlog_proof_text(*, index: int, proof: list[bytes], note: str) -> str:
    """A C2SP tlog-proof: header, index, one base64 hash per line, a blank line, the signed checkpoint."""
    hashes = "".join(b64(node) + "\n" for node in proof)
    return f"{TLOG_PROOF_HEADER}\nindex {index}\n{hashes}\n{note}"


class EntryDetailView(AuditAPIView):
    """GET: one entry and its inclusion proof in the latest checkpoint (signed first if it does not yet
    cover the entry) or in the checkpoint of `?tree_size=`."""

    @extend_schema(
        operation_id="audit_entries_retrieve",
        parameters=[_query("tree_size", {"type": "integer", "minimum": 1}, "Prove inclusion in this checkpoint.")],
        responses={200: EntryWithProofSerializer, **QUERY_ERRORS},
    )
    def get(self, request, index: int):
        entry = AuditEntry.objects.filter(index=index).first()
        if entry is None:
            raise NotFound(f"There is no audit entry {index}.")
        checkpoint = services.checkpoint_covering(index=index, tree_size=_int_param(request, "tree_size", minimum=1))
        proof = proofs.inclusion_proof(index=index, tree_size=checkpoint.tree_size)
        return Response({
            "entry": AuditEntrySerializer(entry).data,
            "checkpoint": CheckpointSerializer(checkpoint).data,
            "inclusion_proof": [b64(node) for node in proof],
            "tlog_proof": tlog_proof_text(index=index, proof=proof, note=checkpoint.note),
        })


class CheckpointListView(AuditAPIView):
    """GET: every checkpoint, oldest first. POST (administrators): sign a checkpoint now."""

    @extend_schema(operation_id="audit_checkpoints_list", parameters=PAGE_PARAMETERS[:1] + [
        OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": 500}, OpenApiParameter.QUERY)],
        responses={200: CheckpointPageSerializer, **QUERY_ERRORS})
    def get(self, request):
        paginator = OldestFirstCursorPagination()
        paginator.ordering = "tree_size"
        page = paginator.paginate_queryset(selectors.checkpoint_list(), request, view=self)
        return paginator.get_paginated_response(CheckpointSerializer(page, many=True).data)

    @extend_schema(operation_id="audit_checkpoints_sign", request=None,
                   responses={201: CheckpointSerializer, **problems(401, 403)})
    def post(self, request):
        checkpoint = services.checkpoint_sign(actor=request.user)
        return Response(CheckpointSerializer(checkpoint).data, status=201)


def _latest_or_404():
    checkpoint = selectors.latest_checkpoint()
    if checkpoint is None:
        raise NotFound("No checkpoint has been signed yet.")
    return checkpoint


class LatestCheckpointView(AuditAPIView):
    """GET: the latest checkpoint as JSON."""

    @extend_schema(operation_id="audit_checkpoints_latest", responses={200: CheckpointSerializer, **READ_ERRORS})
    def get(self, request):
        return Response(CheckpointSerializer(_latest_or_404()).data)


class LatestCheckpointNoteView(AuditAPIView):
    """GET: the latest checkpoint as the signed note itself (text/plain), with witness cosignatures."""

    @extend_schema(operation_id="audit_checkpoints_latest_note",
                   responses={(200, "text/plain"): OpenApiTypes.STR, **READ_ERRORS})
    def get(self, request):
        note = services.checkpoint_note_with_cosignatures(_latest_or_404())
        return HttpResponse(note, content_type="text/plain; charset=utf-8")


class ConsistencyProofView(AuditAPIView):
    """GET ?old_size=&new_size=: the RFC 9162 consistency proof between two tree sizes (new_size defaults
    to the latest checkpoint's; both must be covered by a checkpoint)."""

    @extend_schema(
        operation_id="audit_consistency_proof",
        parameters=[_query("old_size", {"type": "integer", "minimum": 1}, "The smaller tree size.", required=True),
                    _query("new_size", {"type": "integer", "minimum": 1}, "The larger tree size (default: latest).")],
        responses={200: ConsistencyProofSerializer, **QUERY_ERRORS},
    )
    def get(self, request):
        latest = _latest_or_404()
        old_size = _int_param(request, "old_size", minimum=1)
        if old_size is None:
            raise validation_error("old_size", "old_size is required.")
        new_size = _int_param(request, "new_size", default=latest.tree_size, minimum=1)
        if new_size > latest.tree_size:
            raise validation_error("new_size", f"new_size must not exceed the latest checkpoint ({latest.tree_size}).")
        try:
            proof = proofs.consistency_proof(old_size=old_size, new_size=new_size)
        except proofs.ProofError as exc:
            raise ValidationFailed(str(exc)) from None
        return Response({"old_size": old_size, "new_size": new_size, "proof": [b64(node) for node in proof]})


class SigningKeyListView(AuditAPIView):
    """GET: every checkpoint verifier key (C2SP vkey) with its validity window, oldest first."""

    @extend_schema(operation_id="audit_keys_list", responses={200: SigningKeySerializer(many=True), **READ_ERRORS})
    def get(self, request):
        return Response(SigningKeySerializer(selectors.signing_keys(), many=True).data)
