"""Lineage endpoints: OpenLineage ingestion (`POST /api/v1/lineage`, as the OpenLineage HTTP transport
sends it, gzip or not), graph queries (upstream, downstream, deployment window, what was behind a
decision), saved inquiries with their PDF, and the dataset mappings.

Reads need the `read` scope; sending events needs `lineage:write`. What a caller may not see answers 404
as if it did not exist; inside an answer, hidden nodes are only counted (docs/lineage.md).
"""

from __future__ import annotations

import gzip
import io
import json
import zlib

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.accounts.scopes import Scope
from apps.common.api.permissions import ScopedAPIViewMixin
from apps.common.api.renderers import PDFRenderer
from apps.common.api.schema import problems
from apps.common.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from apps.registry.models import Dataset

from .. import selectors, services
from ..models import DatasetMapping, InquiryKind
from . import serializers as s

READ_ERRORS = problems(400, 401, 403, 404)


class RequestTooLarge(ApplicationError):
    problem_type = "request-too-large"
    title = "The request body is too large"
    status = 413


class LineageView(ScopedAPIViewMixin, GenericAPIView):
    parser_classes = [JSONParser]
    required_scopes = {"OPTIONS": [], "*": [Scope.READ]}
    serializer_class = s.NodeOut

    def get_queryset(self):  # reads go through selectors
        return DatasetMapping.objects.none()


# --- OpenLineage ingestion --------------------------------------------------------------------------


def _refuse_oversized(meta) -> None:
    limit = settings.DOCKET_LINEAGE_MAX_EVENT_BYTES
    declared = meta.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        raise RequestTooLarge(f"An OpenLineage event is at most {limit} bytes.", limit=limit)


class RawJSONBodyParser(BaseParser):
    """Hands the view the raw bytes of a JSON body (which may be gzip-encoded); refuses oversized ones
    before reading them. DRF runs it when the view reads `request.data`, or earlier, for the CSRF check
    of a session-authenticated request."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        request = (parser_context or {}).get("request")
        if request is not None:
            _refuse_oversized(request.META)
        return stream.read() if stream is not None else b""


def _read_body(request) -> bytes:
    """The request body, gunzipped when Content-Encoding says gzip, refused past the configured size."""
    limit = settings.DOCKET_LINEAGE_MAX_EVENT_BYTES
    _refuse_oversized(request.META)
    raw = request.data if isinstance(request.data, bytes) else b""
    encoding = (request.META.get("HTTP_CONTENT_ENCODING") or "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise ValidationFailed(f"Content-Encoding {encoding!r} is not accepted; send identity or gzip.",
                               field_errors={"Content-Encoding": ["Use gzip or no encoding."]})
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            data = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error):
        raise ValidationFailed("The body is not valid gzip.", field_errors={"/": ["Not valid gzip."]},
                               failing_path="/") from None
    if len(data) > limit:
        raise RequestTooLarge(f"An OpenLineage event is at most {limit} bytes, decompressed.", limit=limit)
    return data


class OpenLineageIngestView(LineageView):
    """Receives one OpenLineage RunEvent (spec 2-0-2, validated against the vendored JSON Schema)."""

    parser_classes = [RawJSONBodyParser]  # the body is decoded (and gunzipped) here
    required_scopes = {"OPTIONS": [], "*": [Scope.LINEAGE_WRITE]}

    @extend_schema(
        operation_id="lineage_ingest", request={"application/json": OpenApiTypes.OBJECT},
        responses={201: s.IngestedOut, 200: OpenApiResponse(s.IngestedOut, description=(
            "A repeated delivery of a stored event: nothing new was recorded.")),
            **problems(400, 401, 403, 413, 415)},
    )
    def post(self, request):
        data = _read_body(request)
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValidationFailed(f"The body is not JSON: {exc}", field_errors={"/": ["Not JSON."]},
                                   failing_path="/") from None
        ingested = services.event_ingest(actor=request.user, body=body)
        event = ingested.event
        return Response({"event": event.pk, "created": ingested.created, "run_id": event.run_id,
                         "event_type": event.event_type, "body_sha256": event.body_sha256},
                        status=status.HTTP_201_CREATED if ingested.created else status.HTTP_200_OK)


# --- queries ----------------------------------------------------------------------------------------

_REFERENCE_PARAMETERS = [
    OpenApiParameter("node", int, description="Lineage node id."),
    OpenApiParameter("model_version", int), OpenApiParameter("dataset_version", int),
    OpenApiParameter("deployment", int), OpenApiParameter("review_case", int), OpenApiParameter("approval", int),
    OpenApiParameter("dataset", str, description="Dataset key: starts from every version of the dataset."),
]
_WALK_PARAMETERS = [
    *_REFERENCE_PARAMETERS,
    OpenApiParameter("depth", int, description="1 to 10 edges (default 3)."),
    OpenApiParameter("as_of", OpenApiTypes.DATETIME, description="The graph as it was then (default now)."),
]


def _query(request) -> dict:
    return {key: value for key, value in request.query_params.items()}


class UpstreamView(LineageView):
    """Everything the node came from, as of a time, to a depth; hidden nodes counted."""

    @extend_schema(operation_id="lineage_upstream", parameters=_WALK_PARAMETERS,
                   responses={200: OpenApiTypes.OBJECT, **READ_ERRORS})
    def get(self, request):
        return Response(selectors.run_inquiry(fetched_by=request.user, auth=request.auth, kind=InquiryKind.UPSTREAM,
                                              parameters=_query(request)))


class DownstreamView(LineageView):
    """Everything that came from the node, as of a time, to a depth; hidden nodes counted."""

    @extend_schema(operation_id="lineage_downstream", parameters=_WALK_PARAMETERS,
                   responses={200: OpenApiTypes.OBJECT, **READ_ERRORS})
    def get(self, request):
        return Response(selectors.run_inquiry(fetched_by=request.user, auth=request.auth,
                                              kind=InquiryKind.DOWNSTREAM, parameters=_query(request)))


class WindowView(LineageView):
    """Deployments in an environment that depended on a dataset at some time between start and end."""

    @extend_schema(operation_id="lineage_window", parameters=[
        OpenApiParameter("dataset", str, description="Dataset key (all versions)."),
        OpenApiParameter("dataset_version", int), OpenApiParameter("node", int),
        OpenApiParameter("environment", str, required=True),
        OpenApiParameter("start", OpenApiTypes.DATETIME, required=True),
        OpenApiParameter("end", OpenApiTypes.DATETIME, required=True),
    ], responses={200: OpenApiTypes.OBJECT, **READ_ERRORS})
    def get(self, request):
        return Response(selectors.run_inquiry(fetched_by=request.user, auth=request.auth, kind=InquiryKind.WINDOW,
                                              parameters=_query(request)))


class BehindView(LineageView):
    """What was behind a use case's decisions in an environment at a time."""

    @extend_schema(operation_id="lineage_behind", parameters=[
        OpenApiParameter("use_case", str, required=True),
        OpenApiParameter("at", OpenApiTypes.DATETIME, required=True),
        OpenApiParameter("environment", str, description="Default production."),
    ], responses={200: OpenApiTypes.OBJECT, **READ_ERRORS})
    def get(self, request):
        return Response(selectors.run_inquiry(fetched_by=request.user, auth=request.auth, kind=InquiryKind.BEHIND,
                                              parameters=_query(request)))


class NodeListView(LineageView):
    """Nodes the caller may see, by label (for picking a start node); at most 50."""

    @extend_schema(operation_id="lineage_nodes", parameters=[
        OpenApiParameter("search", str), OpenApiParameter("kind", str)],
        responses={200: s.NodeOut(many=True), **problems(400, 401, 403)})
    def get(self, request):
        nodes = selectors.node_list(fetched_by=request.user, auth=request.auth,
                                    search=request.query_params.get("search", "")[:200],
                                    kind=request.query_params.get("kind", "")[:24])
        return Response([selectors.describe_node(node) for node in nodes])


# --- inquiries --------------------------------------------------------------------------------------


class InquiryListView(LineageView):
    """Saved inquiries (your own; administrators and auditors see all). POST runs and saves one."""

    @extend_schema(operation_id="lineage_inquiries_list", responses={200: s.InquiryOut(many=True),
                                                                    **problems(401, 403)})
    def get(self, request):
        inquiries = selectors.inquiry_list(fetched_by=request.user)[:100]
        return Response(s.InquiryOut(inquiries, many=True).data)

    @extend_schema(operation_id="lineage_inquiries_save", request=s.InquiryIn,
                   responses={201: s.InquiryOut, **READ_ERRORS})
    def post(self, request):
        serializer = s.InquiryIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        inquiry = services.inquiry_save(actor=request.user, auth=request.auth, kind=data["kind"],
                                        parameters=data["parameters"], requester=data["requester"],
                                        reason=data["reason"])
        return Response(s.InquiryOut(inquiry).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/lineage/inquiries/{inquiry.pk}"})


class InquiryDetailView(LineageView):
    @extend_schema(operation_id="lineage_inquiries_retrieve", responses={200: s.InquiryOut, **READ_ERRORS})
    def get(self, request, pk: int):
        return Response(s.InquiryOut(selectors.inquiry_get(fetched_by=request.user, pk=pk)).data)


class InquiryPdfView(LineageView):
    """POST renders the inquiry's PDF (once; audited); GET downloads it (409 before it was rendered)."""

    renderer_classes = [JSONRenderer, PDFRenderer]

    @extend_schema(operation_id="lineage_inquiries_pdf_create", request=None,
                   responses={201: s.InquiryOut, **READ_ERRORS})
    def post(self, request, pk: int):
        inquiry = selectors.inquiry_get(fetched_by=request.user, pk=pk)
        inquiry = services.inquiry_export_pdf(actor=request.user, inquiry=inquiry)
        return Response(s.InquiryOut(inquiry).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="lineage_inquiries_pdf_download",
                   responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
                              **problems(401, 403, 404, 409)})
    def get(self, request, pk: int):
        inquiry = selectors.inquiry_get(fetched_by=request.user, pk=pk)
        if not inquiry.pdf_sha256:
            raise Conflict(f"Inquiry {pk} has no PDF yet; POST to this address to render it.")
        response = FileResponse(inquiry.pdf.open("rb"), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="inquiry-{inquiry.pk}.pdf"'
        response["X-Content-SHA256"] = inquiry.pdf_sha256
        return response


# --- dataset mappings -------------------------------------------------------------------------------


class MappingListView(LineageView):
    """OpenLineage dataset name patterns mapped to Docket datasets. POST (administrators) adds one."""

    required_scopes = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": [], "*": [Scope.LINEAGE_WRITE]}

    @extend_schema(operation_id="lineage_mappings_list", responses={200: s.MappingOut(many=True),
                                                                   **problems(401, 403)})
    def get(self, request):
        return Response(s.MappingOut(DatasetMapping.objects.select_related("dataset").order_by("priority", "pk")[:500],
                                     many=True).data)

    @extend_schema(operation_id="lineage_mappings_create", request=s.MappingIn,
                   responses={201: s.MappingOut, **READ_ERRORS})
    def post(self, request):
        serializer = s.MappingIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dataset = Dataset.objects.filter(key=data["dataset"]).first()
        if dataset is None:
            raise NotFound(f"No dataset {data['dataset']!r}.")
        mapping = services.mapping_create(actor=request.user, namespace_pattern=data["namespace_pattern"],
                                          name_pattern=data["name_pattern"], dataset=dataset,
                                          priority=data["priority"])
        return Response(s.MappingOut(mapping).data, status=status.HTTP_201_CREATED)


class MappingDeactivateView(LineageView):
    required_scopes = {"OPTIONS": [], "*": [Scope.LINEAGE_WRITE]}

    @extend_schema(operation_id="lineage_mappings_deactivate", request=None,
                   responses={200: s.MappingOut, **problems(401, 403, 404, 409)})
    def post(self, request, pk: int):
        mapping = DatasetMapping.objects.filter(pk=pk).first()
        if mapping is None:
            raise NotFound(f"No mapping {pk}.")
        return Response(s.MappingOut(services.mapping_deactivate(actor=request.user, mapping=mapping)).data)
