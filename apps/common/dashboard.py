"""The dashboard's reads: what the signed-in user may see, as aggregates and short lists.

Every figure is limited to the use cases the user may see (`accounts.permissions.visible_use_cases`).
Counts are computed by the database (GROUP BY, or COUNT(*) OVER () beside a list's first rows), never by
loading rows, and each list is cut to `LIST_LIMIT` rows, so the page costs the same number of queries whatever the size of the registry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Window
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.registry.models import AnnexIIIPoint, ModelVersion, RiskClass, UseCase

LIST_LIMIT = 10
RECENT_DENIALS_DAYS = 7


@dataclass
class InventoryRow:
    key: str
    label: str
    use_cases: int
    model_versions: int


@dataclass
class Dashboard:
    by_risk_class: list[InventoryRow]
    by_annex_iii_area: list[InventoryRow]
    total_use_cases: int
    total_model_versions: int
    waiting_for_me: list = field(default_factory=list)
    waiting_for_me_count: int = 0
    expiring_approvals: list = field(default_factory=list)
    expiring_approvals_count: int = 0
    expiry_window_days: int = 30
    gate_denials: list = field(default_factory=list)
    gate_denials_count: int = 0
    denials_window_days: int = RECENT_DENIALS_DAYS
    failing_checks: list = field(default_factory=list)
    failing_checks_count: int = 0


def _inventory(use_case_ids: list[int] | None) -> tuple[list[InventoryRow], list[InventoryRow], int, int]:
    """Use cases and model versions per EU AI Act risk class and per Annex III area: one query for the
    visible use cases (class and area), one counting model versions per use case, one for area titles."""
    visible = UseCase.objects.all() if use_case_ids is None else UseCase.objects.filter(pk__in=use_case_ids)
    point = "current_classification__annex_iii_point"
    use_cases = list(visible.order_by().annotate(area=Coalesce(f"{point}__parent_id", f"{point}_id"))
                     .values_list("pk", "risk_class", "area"))
    model_versions = ModelVersion.objects.all()
    if use_case_ids is not None:
        model_versions = model_versions.filter(model__use_case_id__in=use_case_ids)
    versions = dict(model_versions.order_by().values_list("model__use_case_id").annotate(n=Count("pk")))
    per_class: dict[str, list[int]] = {}
    per_area: dict[str, list[int]] = {}
    for pk, risk_class, area in use_cases:
        for bucket in ([per_class.setdefault(risk_class, [0, 0])]
                       + ([per_area.setdefault(area, [0, 0])] if area else [])):
            bucket[0] += 1
            bucket[1] += versions.get(pk, 0)
    labels = dict(RiskClass.choices)
    by_class = [
        InventoryRow(key=key or "unclassified", label=labels.get(key, "Not classified yet"),
                     use_cases=per_class[key][0], model_versions=per_class[key][1])
        for key in [*RiskClass.values, ""] if key in per_class
    ]
    titles = dict(AnnexIIIPoint.objects.filter(code__in=list(per_area)).values_list("code", "title"))
    by_area = [
        InventoryRow(key=code, label=titles.get(code, code), use_cases=counts[0], model_versions=counts[1])
        for code, counts in sorted(per_area.items())
    ]
    return by_class, by_area, len(use_cases), sum(versions.values())


def _first_rows_and_count(queryset, limit: int = LIST_LIMIT) -> tuple[list, int]:
    """The first `limit` rows and the number of all rows, in one query (COUNT(*) OVER ())."""
    rows = list(queryset.annotate(matching_rows=Window(Count("pk")))[:limit])
    return rows, (rows[0].matching_rows if rows else 0)


def dashboard_for(user, *, now: dt.datetime | None = None) -> Dashboard:
    """Everything the dashboard shows `user`."""
    from apps.gate.models import Verdict
    from apps.gate.selectors import approvals_expiring, decision_list
    from apps.reviews.selectors import (
        failing_checks_visible_to,
        review_cases_awaiting_action_by,
        visible_use_case_ids,
    )

    now = now or timezone.now()
    use_case_ids = visible_use_case_ids(user)
    by_class, by_area, total_use_cases, total_versions = _inventory(use_case_ids)
    window = int(getattr(settings, "DOCKET_GATE_EXPIRY_WARNING_DAYS", 30))

    waiting = (
        review_cases_awaiting_action_by(user)
        .select_related("model_version__model__use_case", "submitted_by")
        .defer("policy_snapshot", "thresholds", "evaluation", "documentation")
        .order_by("opened_at", "pk")
    )
    expiring = approvals_expiring(fetched_by=user, within=dt.timedelta(days=window), at=now)
    denials = decision_list(fetched_by=user).filter(verdict=Verdict.DENY,
                                                     decided_at__gte=now - dt.timedelta(days=RECENT_DENIALS_DAYS))
    failing = failing_checks_visible_to(user, use_case_ids=use_case_ids)
    waiting_rows, waiting_count = _first_rows_and_count(waiting)
    expiring_rows, expiring_count = _first_rows_and_count(expiring)
    denial_rows, denial_count = _first_rows_and_count(denials)
    failing_rows, failing_count = _first_rows_and_count(failing)
    return Dashboard(
        by_risk_class=by_class,
        by_annex_iii_area=by_area,
        total_use_cases=total_use_cases,
        total_model_versions=total_versions,
        waiting_for_me=waiting_rows,
        waiting_for_me_count=waiting_count,
        expiring_approvals=expiring_rows,
        expiring_approvals_count=expiring_count,
        expiry_window_days=window,
        gate_denials=denial_rows,
        gate_denials_count=denial_count,
        failing_checks=failing_rows,
        failing_checks_count=failing_count,
    )
