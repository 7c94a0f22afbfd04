"""Django's 404 and 500 handlers, answering application/problem+json under /api/ and HTML elsewhere."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.views import defaults

from .exceptions import PROBLEM_CONTENT_TYPE, problem_type_uri


def _problem(request, *, status: int, slug: str, title: str, detail: str) -> HttpResponse:
    body = {"type": problem_type_uri(slug), "title": title, "status": status, "detail": detail,
            "instance": request.get_full_path()}
    return HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    if _is_api(request):
        return _problem(request, status=404, slug="not-found", title="No such object",
                        detail=f"There is no API endpoint at {request.path}; see /api/docs/.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return _problem(request, status=500, slug="internal-error", title="Internal error",
                        detail="Docket could not complete the request; the error has been logged.")
    return defaults.server_error(request)
