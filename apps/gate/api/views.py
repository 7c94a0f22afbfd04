"""Gate endpoints: the decision pipelines ask for, the attestation key, approvals about to expire,
revoking approvals and granting emergency overrides. Each write calls exactly one service."""

from __future__ import annotations

import base64
import datetime as dt

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts.permissions import HasScope, require_scope, visible_use_cases
from apps.accounts.scopes import Scope
from apps.common.api.pagination import OldestFirstCursorPagination
from apps.common.api.schema import problems
from apps.common.api.serializers import json_shape_errors
from apps.common.errors import ApplicationError, NotFound, ValidationFailed
from apps.registry.api import access
from apps.registry.models import UseCase
from apps.reviews.models import Approval

from .. import attestation, selectors, services
from ..keys import attestation_signer
from . import serializers as s


class RequestTooLarge(ApplicationError):
    problem_type = "request-too-large"
    title = "The request body is too large"
    status = 413


class GateView(GenericAPIView):
    parser_classes = [JSONParser]

    def parse(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class GateCheckView(GateView):
    """`POST /api/v1/gate/check`: allow or deny, with reasons, the audit index and a signed attestation.

    Fails closed: an error anywhere once the request is authenticated and well formed — including in
    authentication itself, e.g. the database being down — answers 503 with a deny body and
    `internal_error`."""

    permission_classes = [IsAuthenticated, require_scope(Scope.GATE_CHECK)]
    serializer_class = s.GateCheckIn

    @extend_schema(
        operation_id="gate_check",
        request=s.GateCheckIn,
        responses={200: s.GateDecisionOut, 503: OpenApiResponse(s.GateDecisionOut, description=(
            "Docket could not decide: a deny with the reason internal_error.")), **problems(400, 401, 403, 413)},
    )
    def post(self, request):
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.DOCKET_GATE_MAX_REQUEST_BYTES
        if not declared.isdigit() or int(declared) > limit:
            raise RequestTooLarge(f"A gate check request is at most {limit} bytes.", limit=limit)
        # The body's shape is checked here and its values by the service (_clean_request), without
        # building the serializer on the gate's hot path; GateCheckIn documents the body.
        data = request.data
        errors = json_shape_errors(s.GateCheckIn, data)
        if errors:
            raise ValidationFailed("The gate check request is not valid.", field_errors=errors)
        decision = services.gate_check(
            actor=request.user, auth=request.auth, model=data["model"], version=data["version"],
            artifact_sha256=data["artifact_sha256"], environment=data["environment"], context=data.get("context"),
        )
        return Response(decision.as_dict(), status=decision.http_status)

    def handle_exception(self, exc):
        if isinstance(exc, (APIException, ApplicationError)):
            return super().handle_exception(exc)
        # Anything else (a database error while authenticating, a bug) is a deny, never a 500.
        actor = getattr(self.request, "_user", None)
        actor = actor if getattr(actor, "is_authenticated", False) else None
        decision = services.gate_fail_closed(actor=actor, auth=getattr(self.request, "_auth", None),
                                             request=None, error=exc)
        return Response(decision.as_dict(), status=status.HTTP_503_SERVICE_UNAVAILABLE)


class AttestationKeyView(GateView):
    """The public key that verifies gate attestations, for `docket gate verify-attestation`."""

    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"GET": [], "HEAD": [], "OPTIONS": []}

    @extend_schema(operation_id="gate_keys", responses={200: s.AttestationKeyOut(many=True), **problems(401)})
    def get(self, request):
        signer = attestation_signer()
        return Response([{
            "name": signer.name,
            "key_id": signer.key_id.hex(),
            "vkey": signer.vkey,
            "public_key": base64.b64encode(signer.public_key).decode("ascii"),
            "algorithm": "ed25519",
            "payload_type": attestation.PAYLOAD_TYPE,
            "predicate_type": attestation.PREDICATE_TYPE,
        }])


class ExpiringApprovalListView(GateView):
    """Valid approvals the caller may see that expire within `within_days` (default
    DOCKET_GATE_EXPIRY_WARNING_DAYS), in approval order; cursor-paginated."""

    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": []}
    serializer_class = s.ApprovalOut
    pagination_class = OldestFirstCursorPagination

    @extend_schema(
        operation_id="gate_expiring_approvals",
        parameters=[OpenApiParameter("within_days", int, description="1 to 365", required=False)],
        responses={200: s.ApprovalOut(many=True), **problems(400, 401, 403, 404)},
    )
    def get(self, request):
        raw = request.query_params.get("within_days", str(settings.DOCKET_GATE_EXPIRY_WARNING_DAYS))
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 365:
            raise ValidationFailed("within_days must be a whole number from 1 to 365.",
                                   field_errors={"within_days": ["A whole number from 1 to 365."]})
        queryset = selectors.approvals_expiring(fetched_by=request.user, auth=request.auth,
                                                within=dt.timedelta(days=int(raw)))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.ApprovalOut(page, many=True).data)


class ApprovalRevokeView(GateView):
    """An approver revokes an approval; the next gate check for it is denied."""

    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"*": [Scope.READ]}  # API keys belong to service accounts, which the service refuses
    queryset = Approval.objects.none()  # for the schema's path parameter

    @extend_schema(operation_id="gate_approval_revoke", request=s.ApprovalRevokeIn,
                   responses={200: s.ApprovalOut, **problems(400, 401, 403, 404, 409)})
    def post(self, request, pk: int):
        visible = visible_use_cases(UseCase.objects.all(), user=request.user, auth=request.auth)
        approval = (Approval.objects.select_related("model_version__model__use_case")
                    .filter(pk=pk, model_version__model__use_case__in=visible).first())
        if approval is None:
            raise NotFound(f"No approval {pk} that you may see.")
        data = self.parse(s.ApprovalRevokeIn)
        approval = services.approval_revoke(actor=request.user, approval=approval, reason=data["reason"])
        return Response(s.ApprovalOut(approval).data)


class OverrideGrantView(GateView):
    """An approver grants an emergency override: one deployment may be recorded without an allow decision."""

    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"*": [Scope.READ]}  # people only: the service refuses service accounts

    @extend_schema(operation_id="gate_override_grant", request=s.OverrideGrantIn,
                   responses={201: s.OverrideOut, **problems(400, 401, 403, 404)})
    def post(self, request):
        data = self.parse(s.OverrideGrantIn)
        version = access.model_version(request, data["use_case"], data["model"], data["version"])
        override = services.override_grant(actor=request.user, model_version=version,
                                           environment=data["environment"], rationale=data["rationale"])
        return Response(s.OverrideOut(override).data, status=status.HTTP_201_CREATED)
