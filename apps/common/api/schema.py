"""OpenAPI documentation of Docket's error answers: every error is application/problem+json (RFC 9457).

Views list the error statuses they can answer with `problems(400, 401, ...)` in `extend_schema(responses=...)`;
the postprocessing hook gives those responses the problem+json media type, so the schema names both the
status and the media type with its body.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .exceptions import PROBLEM_CONTENT_TYPE

_WHEN = {
    400: "The request is malformed or not valid (`malformed-request`, `validation-failed`).",
    401: "No credentials, or an invalid, expired or revoked API key.",
    403: "The caller may see the object but not do this, or its API key lacks the scope.",
    404: "No such object, or not one the caller may see.",
    409: "The object's state does not allow this (`conflict`, `duplicate-key`, `immutable-record`).",
    413: "The upload exceeds the configured size limit; nothing was stored.",
    415: "The file format is refused (pickle/joblib, untrusted skops types, ONNX with external data, "
         "unreadable data file) or the request's media type is not accepted.",
    422: "The declared SHA-256 differs from the bytes received.",
}


class ProblemOut(serializers.Serializer):
    """An RFC 9457 problem; kind-specific members (`limit`, `declared`, `computed`, ...) may follow."""

    type = serializers.URLField(help_text="Stable URI of the error kind, https://docket.dev/problems/<kind>.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False, help_text="The request's path.")
    errors = serializers.DictField(child=serializers.JSONField(), required=False,
                                   help_text="Field errors: field name to messages.")


def problems(*statuses: int) -> dict:
    """`extend_schema` responses documenting each status with a ProblemOut body (served as
    application/problem+json: see `problem_media_type_hook`)."""
    return {status: OpenApiResponse(ProblemOut, description=_WHEN.get(status, "A problem.")) for status in statuses}


def problem_media_type_hook(result, generator, request, public):
    """drf-spectacular postprocessing hook: every 4xx/5xx answer of the API is application/problem+json,
    so an error response documented as JSON is documented with that media type instead; and every
    cursor-paginated list documents 400 (a page size out of range) and 404 (a cursor that is not valid),
    which the pagination answers whatever the view declares."""
    problem = {"$ref": "#/components/schemas/ProblemOut"}
    has_problem_schema = "ProblemOut" in result.get("components", {}).get("schemas", {})
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            if any(parameter.get("name") == "cursor" for parameter in operation.get("parameters", [])):
                for status in (400, 404):
                    operation.setdefault("responses", {}).setdefault(str(status), {
                        "description": _WHEN[status],
                        **({"content": {PROBLEM_CONTENT_TYPE: {"schema": problem}}} if has_problem_schema else {}),
                    })
            for status, response in operation.get("responses", {}).items():
                content = response.get("content") if str(status)[:1] in ("4", "5") else None
                if content and "application/json" in content:
                    content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
    return result
