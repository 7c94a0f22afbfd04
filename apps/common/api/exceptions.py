"""Turns every API error into application/problem+json (RFC 9457) with a stable type per error kind."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.errors import ApplicationError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://docket.dev/problems/"

_DRF_PROBLEM_TYPES = {
    drf_exceptions.ValidationError: ("validation-failed", "The input is not valid"),
    drf_exceptions.ParseError: ("malformed-request", "The request body could not be parsed"),
    drf_exceptions.AuthenticationFailed: ("authentication-failed", "Authentication failed"),
    drf_exceptions.NotAuthenticated: ("not-authenticated", "Authentication is required"),
    drf_exceptions.PermissionDenied: ("permission-denied", "You are not allowed to do this"),
    drf_exceptions.NotFound: ("not-found", "No such object"),
    drf_exceptions.MethodNotAllowed: ("method-not-allowed", "Method not allowed"),
    drf_exceptions.NotAcceptable: ("not-acceptable", "Not acceptable"),
    drf_exceptions.UnsupportedMediaType: ("unsupported-media-type", "Unsupported media type"),
    drf_exceptions.Throttled: ("throttled", "Too many requests"),
}


def problem_type_uri(slug: str) -> str:
    return PROBLEM_TYPE_BASE + slug


def problem_response(*, slug: str, title: str, status: int, detail: str, instance: str | None = None,
                     field_errors: dict | None = None, extra: dict | None = None, headers=None) -> Response:
    body = {"type": problem_type_uri(slug), "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if field_errors:
        body["errors"] = field_errors
    if extra:
        body.update(extra)
    response = Response(body, status=status, headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _flatten_detail(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten_detail(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten_detail(value)}" for key, value in detail.items())
    return str(detail)


def problem_exception_handler(exc, context):
    request = context.get("request")
    instance = request.get_full_path() if request is not None else None

    if isinstance(exc, ApplicationError):
        return problem_response(
            slug=exc.problem_type, title=exc.title, status=exc.status, detail=exc.detail,
            instance=instance, field_errors=exc.field_errors or None, extra=exc.extra or None,
        )
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return problem_response(
            slug="internal-error", title="Internal error", status=500,
            detail="Docket could not complete the request; the error has been logged.", instance=instance,
        )
    slug, title = "error", "Error"
    for exc_class in type(exc).__mro__:
        if exc_class in _DRF_PROBLEM_TYPES:
            slug, title = _DRF_PROBLEM_TYPES[exc_class]
            break
    field_errors = None
    if isinstance(exc, drf_exceptions.ValidationError):
        field_errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        detail = "The input is not valid: " + _flatten_detail(exc.detail)
    else:
        detail = _flatten_detail(exc.detail)
    return problem_response(
        slug=slug, title=title, status=response.status_code, detail=detail, instance=instance,
        field_errors=field_errors, headers={k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")},
    )
