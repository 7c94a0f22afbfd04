"""What an API request may reach in reviews: the cases of the use cases the signed-in principal may see,
narrowed to the use cases its API key is limited to (`selectors.review_cases_visible_to` does both).

Everything a caller may not see is NotFound, worded the same whether or not the object exists.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.common.errors import NotFound
from apps.reviews import selectors
from apps.reviews.models import CheckKind, CheckResult, Decision, Finding, ReviewCase


def review_cases(request) -> QuerySet[ReviewCase]:
    """Visible cases with what the case output shows, in a fixed number of queries per page."""
    return (
        selectors.review_cases_visible_to(request.user, auth=request.auth)
        .select_related("approval", "resubmission")
        .prefetch_related(None)
        .prefetch_related(Prefetch("check_results", queryset=checks_queryset()))
    )


def review_case(request, pk: int) -> ReviewCase:
    found = review_cases(request).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No review {pk} that you may see.")
    return found


def checks_queryset() -> QuerySet[CheckResult]:
    return CheckResult.objects.select_related("risk_acceptance__accepted_by").prefetch_related("plots")


def check_result(request, pk: int, kind: str) -> CheckResult:
    case = review_case(request, pk)
    found = checks_queryset().filter(case=case, kind=kind).first() if kind in CheckKind.values else None
    if found is None:
        raise NotFound(f"Review {pk} has no {kind!r} check (yet).")
    return found


def findings(case: ReviewCase) -> QuerySet[Finding]:
    return Finding.objects.filter(case=case).select_related("check_result", "owner", "raised_by", "resolved_by")


def finding(request, pk: int, finding_pk: int) -> Finding:
    case = review_case(request, pk)
    found = findings(case).filter(pk=finding_pk).first()
    if found is None:
        raise NotFound(f"Review {pk} has no finding {finding_pk}.")
    return found


def decisions(case: ReviewCase) -> QuerySet[Decision]:
    return Decision.objects.filter(case=case).select_related("case")


def decision(request, pk: int, decision_pk: int) -> Decision:
    case = review_case(request, pk)
    found = decisions(case).filter(pk=decision_pk).first()
    if found is None:
        raise NotFound(f"Review {pk} has no decision {decision_pk}.")
    return found
