"""The gate's web pages: decisions (filtered, reasons shown), approvals (expiring soon highlighted,
revoked shown) and revoking an approval with a reason and the approver's password.

Lists show only what the user may see (others' approvals are 404, as in the API); the revoke control
appears only for approvers who may revoke that approval, and the service refuses everyone else too."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from apps.accounts.roles import Role
from apps.common.errors import ApplicationError, PermissionDenied

from . import selectors, services
from .forms import ApprovalFilterForm, DecisionFilterForm, RevokeForm

DECISIONS_PER_PAGE = 50
APPROVALS_PER_PAGE = 50


def may_revoke_approvals_in(user):
    """A test `(approval) -> bool`: whether to show `user` the revoke control for an approval. Mirrors
    the service's rule (an active person holding the approver role and `review_usecase` on the use case,
    or an administrator who is an approver) with two queries for a whole page; the service still decides."""
    if user.is_service_account or not user.has_role(Role.APPROVER):
        return lambda approval: False
    reviewable = selectors.use_case_ids_reviewable_by(user)
    return lambda approval: approval.revoked_at is None and (
        reviewable is None or approval.model_version.model.use_case_id in reviewable
    )


def _cursor(raw: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    """(decided_at, id) from a `before` cursor "<ISO time>_<uuid>"; None when absent or malformed."""
    if not raw or "_" not in raw:
        return None
    when, _, identifier = raw.rpartition("_")
    try:
        parsed = parse_datetime(when)
        return (parsed, uuid.UUID(identifier)) if parsed and parsed.tzinfo else None
    except ValueError:
        return None


@login_required
def decision_list(request):
    """Gate decisions the user may see, newest first, filtered by model, environment, decision and date;
    keyset-paginated on (decided_at, id), so deep pages cost what the first does."""
    form = DecisionFilterForm(request.GET or None)
    decisions = selectors.decision_list(fetched_by=request.user)
    if form.is_bound:
        decisions = form.apply(decisions) if form.is_valid() else decisions.none()
    cursor = _cursor(request.GET.get("before"))
    if cursor is not None:
        when, identifier = cursor
        decisions = decisions.filter(Q(decided_at__lt=when) | Q(decided_at=when, id__lt=identifier))
    rows = list(decisions[:DECISIONS_PER_PAGE + 1])
    older = rows[DECISIONS_PER_PAGE - 1] if len(rows) > DECISIONS_PER_PAGE else None
    rows = rows[:DECISIONS_PER_PAGE]
    query = request.GET.copy()
    query.pop("before", None)
    return render(request, "gate/decision_list.html", {
        "form": form,
        "decisions": rows,
        "filter_query": query.urlencode(),
        "older_cursor": f"{older.decided_at.isoformat()}_{older.id}" if older else None,
        "is_first_page": cursor is None,
    })


@login_required
def approval_list(request):
    """Approvals the user may see, newest first: valid ones expiring within DOCKET_GATE_EXPIRY_WARNING_DAYS
    are highlighted, revoked ones show when and why; approvers see a revoke link where they may revoke."""
    now = timezone.now()
    warning = dt.timedelta(days=settings.DOCKET_GATE_EXPIRY_WARNING_DAYS)
    form = ApprovalFilterForm(request.GET or None)
    approvals = selectors.approval_list(fetched_by=request.user)
    if form.is_bound:
        approvals = form.apply(approvals, now=now, warning=warning) if form.is_valid() else approvals.none()
    page = Paginator(approvals, APPROVALS_PER_PAGE).get_page(request.GET.get("page"))
    may_revoke = may_revoke_approvals_in(request.user)
    rows = []
    for approval in page.object_list:
        valid = approval.is_valid_at(now)
        rows.append({
            "approval": approval,
            "state": "revoked" if approval.revoked_at else ("valid" if valid else
                                                            "expired" if approval.expires_at <= now else "pending"),
            "expiring_soon": valid and approval.expires_at <= now + warning,
            "may_revoke": may_revoke(approval),
        })
    return render(request, "gate/approval_list.html", {
        "form": form, "page": page, "rows": rows, "warning_days": warning.days,
    })


def _visible_approval(user, pk: int):
    approval = selectors.approval_list(fetched_by=user).filter(pk=pk).first()
    if approval is None:
        raise Http404(f"No approval {pk} that you may see.")
    return approval


@login_required
@require_http_methods(["GET", "POST"])
def approval_revoke(request, pk: int):
    """GET: what revoking means and the form; POST: checks the password, then `services.approval_revoke`.
    A wrong password, a missing reason or a refusal changes nothing and is shown by the field."""
    approval = _visible_approval(request.user, pk)
    if approval.revoked_at is not None:
        messages.error(request, f"This approval was already revoked on {approval.revoked_at:%Y-%m-%d %H:%M} UTC.")
        return redirect("gate:approval_list")
    if not may_revoke_approvals_in(request.user)(approval):
        raise DjangoPermissionDenied("Only an approver of this use case may revoke this approval.")
    form = RevokeForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.approval_revoke(actor=request.user, approval=approval, reason=form.cleaned_data["reason"])
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
            except ApplicationError as exc:
                for field, errors in (exc.field_errors or {None: [exc.detail]}).items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, f"Approval revoked: the gate now denies {approval.model_version} "
                                          f"in {approval.environment}.")
                return redirect("gate:approval_list")
    return render(request, "gate/approval_revoke.html", {"approval": approval, "form": form}, status=status)
