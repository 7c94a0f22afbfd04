"""Reads of the gate: approvals (all, and those about to expire) and gate decisions."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.permissions import visible_use_cases
from apps.registry.models import UseCase
from apps.reviews.models import Approval

from .models import GateDecision


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



def approval_list(*, fetched_by, use_case: UseCase | None = None) -> QuerySet[Approval]:
    """Every approval (valid, expired and revoked) of the use cases `fetched_by` may see, newest first,
    with its model version, model and use case."""
    visible = visible_use_cases(UseCase.objects.all(), user=fetched_by)
    approvals = Approval.objects.select_related("model_version__model__use_case").filter(
        model_version__model__use_case__in=visible
    )
    if use_case is not None:
        approvals = approvals.filter(model_version__model__use_case=use_case)
    return approvals.order_by("-approved_at", "-pk")


def decision_list(*, fetched_by) -> QuerySet[GateDecision]:
    """Gate decisions `fetched_by` may see, newest first: about model versions of the use cases they may
    see, and (for administrators and auditors only) those about no registered version at all."""
    from apps.registry.permissions import reads_everything

    decisions = GateDecision.objects.select_related("model_version__model__use_case", "actor").defer("attestation")
    if not reads_everything(fetched_by):
        visible = visible_use_cases(UseCase.objects.all(), user=fetched_by)
        decisions = decisions.filter(model_version__model__use_case__in=visible)
    return decisions.order_by("-decided_at", "-id")


def use_case_ids_reviewable_by(user) -> set[int] | None:
    """Primary keys of the use cases on which `user` holds `review_usecase` (directly or via a team);
    None when they are an administrator (every use case). One query, for pages that decide per row
    whether to show an approver's controls; the services still decide whether the action is allowed."""
    from guardian.shortcuts import get_objects_for_user

    from apps.accounts.roles import Role

    if user.has_role(Role.ADMIN):
        return None
    return set(
        get_objects_for_user(user, "registry.review_usecase", klass=UseCase, accept_global_perms=False)
        .values_list("pk", flat=True)
    )
