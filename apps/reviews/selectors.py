"""Reads for reviews: which policy applies, and the cases, results and findings a user may see."""

from __future__ import annotations

from django.db.models import Max, OuterRef, QuerySet, Subquery

from apps.accounts.permissions import visible_use_cases
from apps.registry.models import UseCase

from .models import ReviewCase, ReviewPolicy


def current_policies() -> QuerySet[ReviewPolicy]:
    """The latest version of every policy key."""
    latest = ReviewPolicy.objects.filter(key=OuterRef("key")).values("key").annotate(last=Max("version")).values("last")
    return ReviewPolicy.objects.filter(version=Subquery(latest))


def policy_for(*, risk_class: str, model_risk_tier: str) -> ReviewPolicy | None:
    """The current policy for a risk class and tier: an exact match first, then the same risk class for
    any tier, then any class for the tier, then the catch-all. None when nothing covers it."""
    policies = {(policy.risk_class, policy.model_risk_tier): policy for policy in current_policies()}
    for key in ((risk_class, model_risk_tier), (risk_class, ""), ("", model_risk_tier), ("", "")):
        if key in policies:
            return policies[key]
    return None


def review_cases_visible_to(user, *, auth=None) -> QuerySet[ReviewCase]:
    """Review cases of the use cases `user` may see, newest first, with what lists show."""
    use_cases = visible_use_cases(UseCase.objects.all(), user=user, auth=auth)
    return (
        ReviewCase.objects.filter(model_version__model__use_case__in=use_cases)
        .select_related("model_version__model__use_case", "policy", "submitted_by")
        .prefetch_related("check_results")
    )
