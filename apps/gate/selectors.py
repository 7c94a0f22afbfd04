"""Reads of the gate: approvals about to expire."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.permissions import visible_use_cases
from apps.registry.models import UseCase
from apps.reviews.models import Approval


def approvals_expiring(*, fetched_by, auth=None, within: dt.timedelta, at: dt.datetime | None = None
                       ) -> QuerySet[Approval]:
    """Approvals `fetched_by` may see that are valid at `at` (default now) and expire within `within`,
    soonest first."""
    at = at or timezone.now()
    visible = visible_use_cases(UseCase.objects.all(), user=fetched_by, auth=auth)
    return (
        Approval.objects.select_related("model_version__model__use_case")
        .filter(model_version__model__use_case__in=visible, revoked_at__isnull=True, approved_at__lte=at,
                expires_at__gt=at, expires_at__lte=at + within)
        .order_by("expires_at", "pk")
    )

