"""The audit API for auditors: entries with inclusion proofs, checkpoints, consistency proofs, keys.

Readable by the auditor and admin roles (and API keys with the `read` scope whose service account
holds one of those roles); signing a checkpoint on demand is for administrators.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.roles import Role
from apps.accounts.scopes import Scope
from apps.common.api.pagination import OldestFirstCursorPagination
from apps.common.api.permissions import ScopedAPIViewMixin
from apps.common.errors import NotFound, ValidationFailed, validation_error

from .. import proofs, selectors, services
from ..models import AuditEntry
from .serializers import AuditEntrySerializer, CheckpointSerializer, SigningKeySerializer, b64

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"


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
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(name, f"{name} must be an integer.") from None
    if value < minimum:
        raise validation_error(name, f"{name} must be at least {minimum}.")
    return value


def _datetime_param(request, name: str) -> dt.datetime | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise validation_error(name, f"{name} must be an ISO 8601 date-time with a time zone.")
    return value


class EntryPagination(OldestFirstCursorPagination):
    ordering = "index"
    page_size = 100
    max_page_size = 1000


class EntryListView(AuditAPIView):
    """GET: entries in index order, filtered by action, subject_type, subject_id, actor_type, actor_id,
    index_from/index_to (inclusive) and since/until (timestamps); cursor-paginated."""

    def get(self, request):
        entries = selectors.entry_list(
            action=request.query_params.get("action") or None,
            subject_type=request.query_params.get("subject_type") or None,
            subject_id=request.query_params.get("subject_id") or None,
            actor_type=request.query_params.get("actor_type") or None,
            actor_id=request.query_params.get("actor_id") or None,
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

    def get(self, request):
        paginator = OldestFirstCursorPagination()
        paginator.ordering = "tree_size"
        page = paginator.paginate_queryset(selectors.checkpoint_list(), request, view=self)
        return paginator.get_paginated_response(CheckpointSerializer(page, many=True).data)

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

    def get(self, request):
        return Response(CheckpointSerializer(_latest_or_404()).data)


class LatestCheckpointNoteView(AuditAPIView):
    """GET: the latest checkpoint as the signed note itself (text/plain), with witness cosignatures."""

    def get(self, request):
        note = services.checkpoint_note_with_cosignatures(_latest_or_404())
        return HttpResponse(note, content_type="text/plain; charset=utf-8")


class ConsistencyProofView(AuditAPIView):
    """GET ?old_size=&new_size=: the RFC 9162 consistency proof between two tree sizes (new_size defaults
    to the latest checkpoint's; both must be covered by a checkpoint)."""

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

    def get(self, request):
        return Response(SigningKeySerializer(selectors.signing_keys(), many=True).data)
