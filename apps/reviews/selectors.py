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


# --- web UI: queue, "waiting for me", case page ----------------------------------------------------


def _roles_of(user) -> set[str]:
    """The user's group names, read once per user object (a request's user is loaded per request)."""
    cached = getattr(user, "_docket_group_names", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._docket_group_names = cached
    return set(cached)


def visible_use_case_ids(user) -> list[int] | None:
    """Primary keys of the use cases a signed-in person may see (`accounts.permissions.visible_use_cases`),
    fetched once, or None when they may see every use case (administrators and auditors). Pages filter
    by this short list rather than re-running the permission subquery inside their larger queries."""
    from apps.accounts.roles import Role

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    if not user.is_service_account and {str(Role.ADMIN), str(Role.AUDITOR)} & _roles_of(user):
        return None
    return list(visible_use_cases(UseCase.objects.all(), user=user).values_list("pk", flat=True))


def _within(queryset, use_case_field: str, ids: list[int] | None):
    return queryset if ids is None else queryset.filter(**{f"{use_case_field}__in": ids})


def reviewable_use_case_ids(user) -> list[int] | None:
    """Primary keys of the use cases on which `user` may review (`review_usecase`, held directly or
    through a team's group), or None for administrators (every use case); [] for anyone else."""
    from guardian.shortcuts import get_objects_for_user

    from apps.accounts.roles import Role

    if not getattr(user, "is_authenticated", False) or not user.is_active or user.is_service_account:
        return []
    if str(Role.ADMIN) in _roles_of(user):
        return None
    return list(get_objects_for_user(user, "registry.review_usecase", klass=UseCase, accept_global_perms=False)
                .values_list("pk", flat=True))


def review_cases_awaiting_action_by(user) -> QuerySet[ReviewCase]:
    """Cases whose next signature `user` may give, as the services decide it: awaiting validation and
    they are a validator who has not validated it yet, or awaiting approval and they are an approver
    who neither validated nor approved it; always on a use case they may review, and never a case they
    submitted or whose version they registered or developed (separation of duties). Auditors act on
    nothing."""
    from django.db.models import Exists, Q

    from apps.accounts.roles import Role

    from .models import Decision, ReviewStatus, SignatureMeaning

    if not getattr(user, "is_authenticated", False) or not user.is_active or user.is_service_account:
        return ReviewCase.objects.none()
    roles = _roles_of(user)
    if str(Role.AUDITOR) in roles and str(Role.ADMIN) not in roles:
        return ReviewCase.objects.none()
    signed_by_me = Decision.objects.filter(case=OuterRef("pk"), signer=user)
    waiting = Q(pk__in=[])
    if str(Role.VALIDATOR) in roles:
        waiting |= Q(status=ReviewStatus.AWAITING_VALIDATION) & ~Q(
            Exists(signed_by_me.filter(meaning=SignatureMeaning.VALIDATED)))
    if str(Role.APPROVER) in roles:
        waiting |= Q(status=ReviewStatus.AWAITING_APPROVAL) & ~Q(
            Exists(signed_by_me.filter(meaning__in=[SignatureMeaning.VALIDATED, SignatureMeaning.APPROVED])))
    cases = (ReviewCase.objects.filter(waiting).exclude(submitted_by=user).exclude(model_version__registered_by=user)
             .exclude(model_version__developer_links__user=user))
    return _within(cases, "model_version__model__use_case", reviewable_use_case_ids(user))


def review_queue(
    *, fetched_by, use_case_key: str = "", risk_class: str = "", status: str = "", assigned_to_me: bool = False,
    oldest_first: bool = True, use_case_ids: list[int] | None = ...,
) -> QuerySet[ReviewCase]:
    """The review queue: cases `fetched_by` may see, filtered, sorted by age (the time since the case
    opened). `attach_queue_counts` adds the check and finding counts to the rows of a page.
    `use_case_ids`: `visible_use_case_ids(fetched_by)` when the caller already has it."""
    ids = visible_use_case_ids(fetched_by) if use_case_ids is ... else use_case_ids
    cases = _within(ReviewCase.objects.all(), "model_version__model__use_case", ids)
    cases = cases.select_related("model_version__model__use_case", "submitted_by").defer(
        "policy_snapshot", "thresholds", "evaluation", "documentation")
    if use_case_key:
        cases = cases.filter(model_version__model__use_case__key=use_case_key)
    if risk_class:
        cases = cases.filter(model_version__model__use_case__risk_class=risk_class)
    if status:
        cases = cases.filter(status=status)
    if assigned_to_me:
        cases = cases.filter(pk__in=review_cases_awaiting_action_by(fetched_by).values("pk"))
    order = ("opened_at", "pk") if oldest_first else ("-opened_at", "-pk")
    return cases.order_by(*order)


def attach_queue_counts(cases: list[ReviewCase]) -> list[ReviewCase]:
    """Sets `checks_total`, `checks_finished`, `checks_failing` (failed or not completed) and
    `open_findings` on each case, in two aggregate queries for the whole list."""
    from django.db.models import Count

    from .models import FINISHED_CHECK_STATUSES, CheckResult, CheckStatus, Finding, FindingStatus

    ids = [case.pk for case in cases]
    checks: dict[int, dict[str, int]] = {}
    for case_id, status, count in (CheckResult.objects.filter(case_id__in=ids).order_by()
                                   .values_list("case_id", "status").annotate(n=Count("pk"))):
        checks.setdefault(case_id, {})[status] = count
    findings = dict(Finding.objects.filter(case_id__in=ids, status=FindingStatus.OPEN).order_by()
                    .values_list("case_id").annotate(n=Count("pk")))
    for case in cases:
        by_status = checks.get(case.pk, {})
        case.checks_total = sum(by_status.values())
        case.checks_finished = sum(n for status, n in by_status.items() if status in FINISHED_CHECK_STATUSES)
        case.checks_failing = by_status.get(CheckStatus.FAILED, 0) + by_status.get(CheckStatus.ERROR, 0)
        case.open_findings = findings.get(case.pk, 0)
    return cases


def failing_checks_visible_to(user, *, use_case_ids: list[int] | None = ...) -> QuerySet:
    """Checks that failed or could not be completed on cases still under review (not final) that `user`
    may see, newest first, with the case, model version and any risk acceptance."""
    from .models import FINAL_REVIEW_STATUSES, CheckResult, CheckStatus

    ids = visible_use_case_ids(user) if use_case_ids is ... else use_case_ids
    results = CheckResult.objects.filter(status__in=[CheckStatus.FAILED, CheckStatus.ERROR]).exclude(
        case__status__in=list(FINAL_REVIEW_STATUSES))
    return (
        _within(results, "case__model_version__model__use_case", ids)
        .select_related("case__model_version__model__use_case", "risk_acceptance")
        .only("kind", "status", "finished_at", "summary", "case__id", "case__environment", "case__status",
              "case__model_version__number", "case__model_version__model__key",
              "case__model_version__model__use_case__key", "risk_acceptance__id")
        .order_by("-finished_at", "-pk")
    )


def queue_use_case_keys(*, fetched_by, use_case_ids: list[int] | None = ...) -> list[str]:
    """Keys of the use cases `fetched_by` may see, for the queue's use-case filter."""
    ids = visible_use_case_ids(fetched_by) if use_case_ids is ... else use_case_ids
    keys = _within(UseCase.objects.all(), "pk", ids)
    return list(keys.order_by("key").values_list("key", flat=True))


def review_case_for_page(*, fetched_by, pk: int) -> ReviewCase | None:
    """The case `fetched_by` may see with its version, model, use case, policy and submitter, and
    `developed_by_fetched_by` (whether they are one of the version's developers); None when it does not
    exist or is not visible (the page answers 404 for both)."""
    from django.db.models import Exists

    from apps.registry.models import ModelVersionDeveloper

    return (
        review_cases_visible_to(fetched_by)
        .prefetch_related(None)
        .annotate(developed_by_fetched_by=Exists(ModelVersionDeveloper.objects.filter(
            model_version=OuterRef("model_version"), user_id=getattr(fetched_by, "pk", None))))
        .select_related("model_version__registered_by", "previous_case")
        .filter(pk=pk)
        .first()
    )


def check_plot_visible_to(user, *, case_pk: int, kind: str, name: str):
    """The stored plot `name` of check `kind` of case `case_pk`, if `user` may see that case."""
    from .models import CheckPlot

    return (
        CheckPlot.objects.filter(
            check_result__case__in=review_cases_visible_to(user).prefetch_related(None).filter(pk=case_pk),
            check_result__kind=kind,
            name=name,
        )
        .only("image", "sha256")
        .first()
    )


class CasePageData:
    """What the case page shows beyond the case row, loaded in a fixed number of queries."""

    def __init__(self, case: ReviewCase, *, checks_only: bool = False):
        from django.db.models import Prefetch, Q

        from apps.audit.models import AuditEntry
        from apps.registry.models import ClaimedMetric, ModelVersionDataset

        from .models import Approval, CheckPlot, CheckResult, Decision, Finding

        self.check_results = list(
            CheckResult.objects.filter(case=case)
            .select_related("risk_acceptance__accepted_by")
            .prefetch_related(Prefetch("plots", queryset=CheckPlot.objects.order_by("name").only(
                "check_result", "name", "sha256")))
            .order_by("kind")
        )
        from .presentation import result_view

        for result in self.check_results:
            result.view = result_view(result, locked_thresholds=case.thresholds)
        self.checks_running = any(not result.is_finished for result in self.check_results) or (
            case.status in ("open", "checks_running") and not self.check_results)
        if checks_only:
            return
        version = case.model_version
        self.dataset_links = list(
            ModelVersionDataset.objects.filter(model_version=version)
            .select_related("dataset_version__dataset").order_by("role", "pk")
        )
        from .presentation import datasheet_rows

        for link in self.dataset_links:
            link.datasheet_rows = datasheet_rows(link.dataset_version)
        self.claimed_metrics = list(
            ClaimedMetric.objects.filter(model_version=version).select_related("dataset_version__dataset")
            .order_by("name", "pk")
        )
        self.findings = list(
            Finding.objects.filter(case=case).select_related("owner", "raised_by", "resolved_by", "check_result")
            .order_by("status", "-raised_at", "-pk")
        )
        self.decisions = list(Decision.objects.filter(case=case).defer("manifest").order_by("signed_at", "pk"))
        self.approval = Approval.objects.filter(case=case).first()
        self.signers: dict[str, set[int]] = {}
        for decision in self.decisions:
            self.signers.setdefault(decision.meaning, set()).add(decision.signer_id)
        self.risk_acceptances = [result.risk_acceptance for result in self.check_results
                                 if getattr(result, "risk_acceptance", None) is not None]
        subjects = Q(subject_type="reviews.reviewcase", subject_id=str(case.pk))
        for label, objects in (
            ("reviews.finding", self.findings), ("reviews.decision", self.decisions),
            ("reviews.checkresult", self.check_results), ("reviews.riskacceptance", self.risk_acceptances),
            ("reviews.approval", [self.approval] if self.approval else []),
        ):
            if objects:
                subjects |= Q(subject_type=label, subject_id__in=[str(obj.pk) for obj in objects])
        self.audit_entries = list(
            AuditEntry.objects.filter(subjects)
            .only("index", "timestamp", "actor_name", "actor_type", "action", "subject_type", "subject_id",
                  "subject_label", "data")
            .order_by("index")[:AUDIT_TRAIL_LIMIT]
        )

    @property
    def approval_blockers(self) -> list[str]:
        """As services.approval_blockers, from the rows already loaded."""
        from .models import FindingSeverity, FindingStatus

        blockers = [f"Open high-severity finding: {finding.title}" for finding in self.findings
                    if finding.status == FindingStatus.OPEN and finding.severity == FindingSeverity.HIGH]
        for result in self.check_results:
            if result.needs_acceptance and getattr(result, "risk_acceptance", None) is None:
                blockers.append(f"The {result.kind} check {result.status} and no approver has accepted the risk.")
            elif not result.is_finished:
                blockers.append(f"The {result.kind} check has not finished.")
        return blockers


AUDIT_TRAIL_LIMIT = 500


def review_case_page_data(case: ReviewCase, *, checks_only: bool = False) -> CasePageData:
    """The check results (with plots and risk acceptances) and, unless `checks_only`, the version's
    datasets and claimed metrics, findings, decisions, approval and the case's audit trail (entries whose
    subject is the case, its check results, findings, risk acceptances, decisions or approval)."""
    return CasePageData(case, checks_only=checks_only)
