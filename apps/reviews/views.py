"""Web pages of reviews: the queue, the case page (with its live check panel and plots) and the forms
that act on a case. Thin: reads go through apps.reviews.selectors, every change through exactly one
service of apps.reviews.services, which checks permissions, validates, writes and audits. A refused
action changes nothing and is shown next to the field it concerns (or as a message, or a 403 page)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import User
from apps.accounts.permissions import can_review_use_case
from apps.accounts.roles import Role
from apps.common.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed

from . import forms, selectors, services
from .models import CheckKind, ReviewStatus, SignatureMeaning

QUEUE_PAGE_SIZE = 25
POLL_SECONDS = 2


# --- reads ------------------------------------------------------------------------------------------


@login_required
@require_GET
def queue(request):
    """The review queue: filters (use case, risk class, state, waiting for me), sort by age, 25 a page."""
    visible = selectors.visible_use_case_ids(request.user)
    use_case_keys = selectors.queue_use_case_keys(fetched_by=request.user, use_case_ids=visible)
    form = forms.QueueFilterForm(request.GET or None, use_case_keys=use_case_keys)
    cases = selectors.review_queue(fetched_by=request.user, use_case_ids=visible,
                                   **(form.filters() if form.is_bound else {}))
    page = Paginator(cases, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.attach_queue_counts(list(page.object_list))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reviews/queue.html", {"form": form, "page": page, "query": query.urlencode()})


@dataclass(frozen=True)
class CaseActions:
    """Which forms the case page shows `user`: those the services would accept now. Everything else is
    absent from the page (and the services refuse it anyway)."""

    raise_finding: bool = False
    manage_findings: bool = False
    accept_risk: bool = False
    validate: bool = False
    approve: bool = False
    close: bool = False
    withdraw: bool = False

    @property
    def decide(self) -> bool:
        return self.validate or self.approve or self.close


def case_actions(user, case, *, roles: set[str], signers: dict[str, set[int]]) -> CaseActions:
    """Mirrors the services' rules (roles, review permission, separation of duties, case state) so that a
    form is shown only when submitting it could succeed."""
    auditor_only = str(Role.AUDITOR) in roles and str(Role.ADMIN) not in roles
    person = user.is_active and not user.is_service_account and not auditor_only
    withdraw = person and not case.is_final and (user.pk == case.submitted_by_id or str(Role.ADMIN) in roles)
    reviewer = (
        person
        and user.pk not in (case.submitted_by_id, case.model_version.registered_by_id)
        and not case.developed_by_fetched_by  # annotated by selectors.review_case_for_page
        and can_review_use_case(user, case.model_version.model.use_case)
    )
    if not reviewer:
        return CaseActions(withdraw=withdraw)
    validator, approver = str(Role.VALIDATOR) in roles, str(Role.APPROVER) in roles
    validated_by_me = user.pk in signers.get(SignatureMeaning.VALIDATED, set())
    approved_by_me = user.pk in signers.get(SignatureMeaning.APPROVED, set())
    awaiting_validation = case.status == ReviewStatus.AWAITING_VALIDATION
    awaiting_approval = case.status == ReviewStatus.AWAITING_APPROVAL
    return CaseActions(
        raise_finding=(validator or approver) and case.status in (
            ReviewStatus.CHECKS_RUNNING, ReviewStatus.AWAITING_VALIDATION, ReviewStatus.AWAITING_APPROVAL),
        manage_findings=validator or approver,
        accept_risk=approver and (awaiting_validation or awaiting_approval),
        validate=validator and awaiting_validation and not validated_by_me,
        approve=approver and awaiting_approval and not validated_by_me and not approved_by_me,
        close=(validator and awaiting_validation) or (approver and awaiting_approval and not validated_by_me),
        withdraw=withdraw,
    )


def _case_or_404(request, pk: int):
    case = selectors.review_case_for_page(fetched_by=request.user, pk=pk)
    if case is None:
        raise Http404(f"No review {pk} that you may see.")
    return case


def _case_context(request, case, *, bound: dict | None = None) -> dict:
    """Everything the case page shows. `bound` holds forms re-shown with the errors of a refused action."""
    bound = bound or {}
    page = selectors.review_case_page_data(case)
    roles = set(request.user.groups.values_list("name", flat=True))
    actions = case_actions(request.user, case, roles=roles, signers=page.signers)
    blockers = page.approval_blockers if actions.approve else []
    check_kinds = [result.kind for result in page.check_results]
    for finding in page.findings:
        finding.resolve_form = bound.get("resolve", {}).get(finding.pk) or finding_form(forms.FindingResolveForm, finding.pk)
        finding.reassign_form = (bound.get("reassign", {}).get(finding.pk)
                                 or finding_form(forms.FindingReassignForm, finding.pk))
        finding.resolve_open = bound.get("open_form") == f"resolve-{finding.pk}"
        finding.reassign_open = bound.get("open_form") == f"reassign-{finding.pk}"
    for result in page.check_results:
        result.risk_form = bound.get("risk", {}).get(result.kind) or risk_form(result.kind)
    return {
        "case": case,
        "page": page,
        "actions": actions,
        "approval_blocked": bool(blockers),
        "approval_blockers": blockers,
        "poll_seconds": POLL_SECONDS,
        "meanings": {meaning.value: meaning.label for meaning in SignatureMeaning},
        "raise_form": bound.get("raise") or forms.FindingRaiseForm(check_kinds=check_kinds),
        "validate_url": reverse("reviews:sign", args=[case.pk, SignatureMeaning.VALIDATED]),
        "approve_url": reverse("reviews:sign", args=[case.pk, SignatureMeaning.APPROVED]),
        "reject_url": reverse("reviews:sign", args=[case.pk, SignatureMeaning.REJECTED]),
        "changes_url": reverse("reviews:sign", args=[case.pk, SignatureMeaning.CHANGES_REQUESTED]),
        "validate_form": bound.get(SignatureMeaning.VALIDATED) or forms.ValidateForm(prefix="validate"),
        "approve_form": bound.get(SignatureMeaning.APPROVED) or forms.ApproveForm(prefix="approve"),
        "reject_form": bound.get(SignatureMeaning.REJECTED) or forms.CloseForm(prefix="reject"),
        "changes_form": bound.get(SignatureMeaning.CHANGES_REQUESTED) or forms.CloseForm(prefix="changes"),
        "withdraw_form": bound.get("withdraw") or forms.WithdrawForm(),
    }


def finding_form(form_class, finding_pk: int, data=None):
    """A resolve/reassign form of one finding, with element ids unique on the page."""
    return form_class(data, auto_id=f"id_{form_class.__name__.lower()}_{finding_pk}_%s")


def risk_form(kind: str, data=None):
    return forms.RiskAcceptForm(data, auto_id=f"id_accept_{kind}_%s")


@login_required
@require_GET
def case_detail(request, pk: int):
    """The review case page."""
    case = _case_or_404(request, pk)
    return render(request, "reviews/case.html", _case_context(request, case))


@login_required
@require_GET
def case_checks(request, pk: int):
    """The check results panel alone, for htmx polling while checks run (it stops polling once every
    check has finished: the fragment then carries no hx-trigger)."""
    case = _case_or_404(request, pk)
    page = selectors.review_case_page_data(case, checks_only=True)
    response = render(request, "reviews/_checks.html", {"case": case, "page": page, "poll_seconds": POLL_SECONDS})
    if request.htmx and not page.checks_running:
        # The checks finished while the page was open: reload it once, so the forms that depend on the
        # finished checks (decisions, risk acceptances) appear.
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_GET
def check_plot(request, pk: int, kind: str, name: str):
    """Streams a stored check plot (PNG) of a case the user may see; 404 otherwise."""
    plot = selectors.check_plot_visible_to(request.user, case_pk=pk, kind=kind, name=name)
    if plot is None:
        raise Http404("No such plot that you may see.")
    response = FileResponse(plot.image.open("rb"), content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="review-{pk}-{kind}-{name}.png"'
    response["ETag"] = f'"{plot.sha256}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- actions ----------------------------------------------------------------------------------------


def _attach_errors(form, error: ApplicationError) -> None:
    """Puts a service's refusal on the form: field errors next to their fields, the rest on top."""
    placed = False
    for field, field_messages in (error.field_errors or {}).items():
        target = field if field in form.fields else None
        if field == "check_result" and "check" in form.fields:
            target = "check"
        for message in field_messages:
            form.add_error(target, message)
        placed = True
    if not placed:
        form.add_error(None, error.detail)


def _refused(request, case, error: ApplicationError, *, key, form, form_id: str):
    """Re-shows the case page with the refused form and its errors; the status follows the error
    (400 invalid input or wrong password, 403 not allowed, 409 state conflict). Nothing was changed."""
    if isinstance(error, PermissionDenied) and "password" in form.fields and "password" in error.detail.lower():
        form.add_error("password", error.detail)
        status = 400
    elif isinstance(error, PermissionDenied):
        return render(request, "403.html", {"reason": error.detail}, status=403)
    elif isinstance(error, Conflict):
        # The case moved on (or the action was already taken): said on top of the page, since the form
        # may no longer be offered in the case's new state.
        messages.error(request, f"{error.detail} Nothing was changed.")
        status = 409
    else:
        _attach_errors(form, error)
        status = 400
    for name in form.errors:
        if name in form.fields:  # screen readers announce the error with the field
            form.fields[name].widget.attrs.update(
                {"aria-invalid": "true", "aria-describedby": f"{form[name].auto_id}-error"})
    bound = {"open_form": form_id}
    if isinstance(key, tuple):
        bound.setdefault(key[0], {})[key[1]] = form
    else:
        bound[key] = form
    return render(request, "reviews/case.html", _case_context(request, case, bound=bound), status=status)


def _back(case, anchor: str = ""):
    return redirect(reverse("reviews:case", args=[case.pk]) + (f"#{anchor}" if anchor else ""))


def _active_user(username: str):
    username = (username or "").strip()
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True, kind=User.Kind.HUMAN).first()
    if user is None:
        message = f"There is no active person with the username {username!r}."
        raise ValidationFailed(message, field_errors={"owner": [message]})
    return user


@login_required
@require_POST
def finding_raise(request, pk: int):
    case = _case_or_404(request, pk)
    kinds = list(case.check_results.values_list("kind", flat=True))
    form = forms.FindingRaiseForm(request.POST, check_kinds=kinds)
    if not form.is_valid():
        return _refused(request, case, ValidationFailed("The finding was not raised."), key="raise", form=form,
                        form_id="raise-finding")
    data = form.cleaned_data
    try:
        owner = _active_user(data["owner"])
        check_result = case.check_results.filter(kind=data["check"]).first() if data["check"] else None
        finding = services.finding_raise(
            actor=request.user, case=case, severity=data["severity"], title=data["title"],
            description=data["description"], owner=owner, due_date=data["due_date"], check_result=check_result,
        )
    except ApplicationError as error:
        return _refused(request, case, error, key="raise", form=form, form_id="raise-finding")
    messages.success(request, f"Finding “{finding.title}” raised.")
    return _back(case, f"finding-{finding.pk}")


def _finding_or_404(case, finding_pk: int):
    finding = case.findings.select_related("case__model_version__model__use_case").filter(pk=finding_pk).first()
    if finding is None:
        raise Http404(f"Review {case.pk} has no finding {finding_pk}.")
    return finding


@login_required
@require_POST
def finding_resolve(request, pk: int, finding_pk: int):
    case = _case_or_404(request, pk)
    finding = _finding_or_404(case, finding_pk)
    form = finding_form(forms.FindingResolveForm, finding.pk, request.POST)
    form_id = f"resolve-{finding.pk}"
    if not form.is_valid():
        return _refused(request, case, ValidationFailed("The finding was not resolved."),
                        key=("resolve", finding.pk), form=form, form_id=form_id)
    try:
        services.finding_resolve(actor=request.user, finding=finding, resolution=form.cleaned_data["resolution"])
    except ApplicationError as error:
        return _refused(request, case, error, key=("resolve", finding.pk), form=form, form_id=form_id)
    messages.success(request, f"Finding “{finding.title}” resolved.")
    return _back(case, f"finding-{finding.pk}")


@login_required
@require_POST
def finding_reassign(request, pk: int, finding_pk: int):
    case = _case_or_404(request, pk)
    finding = _finding_or_404(case, finding_pk)
    form = finding_form(forms.FindingReassignForm, finding.pk, request.POST)
    form_id = f"reassign-{finding.pk}"
    if not form.is_valid():
        return _refused(request, case, ValidationFailed("The finding was not reassigned."),
                        key=("reassign", finding.pk), form=form, form_id=form_id)
    data = form.cleaned_data
    try:
        services.finding_reassign(actor=request.user, finding=finding, reason=data["reason"],
                                  owner=_active_user(data["owner"]), due_date=data["due_date"])
    except ApplicationError as error:
        return _refused(request, case, error, key=("reassign", finding.pk), form=form, form_id=form_id)
    messages.success(request, f"Finding “{finding.title}” reassigned.")
    return _back(case, f"finding-{finding.pk}")


@login_required
@require_POST
def risk_accept(request, pk: int, kind: str):
    case = _case_or_404(request, pk)
    result = case.check_results.filter(kind=kind).first() if kind in CheckKind.values else None
    if result is None:
        raise Http404(f"Review {pk} has no {kind} check.")
    form = risk_form(kind, request.POST)
    form_id = f"accept-{kind}"
    if not form.is_valid():
        return _refused(request, case, ValidationFailed("The risk was not accepted."), key=("risk", kind),
                        form=form, form_id=form_id)
    try:
        services.risk_accept(actor=request.user, check_result=result, rationale=form.cleaned_data["rationale"])
    except ApplicationError as error:
        return _refused(request, case, error, key=("risk", kind), form=form, form_id=form_id)
    messages.success(request, f"Risk of the failed {result.get_kind_display()} check accepted.")
    return _back(case, f"check-{kind}")


@login_required
@require_POST
def withdraw(request, pk: int):
    case = _case_or_404(request, pk)
    form = forms.WithdrawForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, ValidationFailed("The review was not withdrawn."), key="withdraw",
                        form=form, form_id="withdraw")
    try:
        services.review_withdraw(actor=request.user, case=case, reason=form.cleaned_data["reason"])
    except ApplicationError as error:
        return _refused(request, case, error, key="withdraw", form=form, form_id="withdraw")
    messages.success(request, f"Review {case.pk} withdrawn.")
    return _back(case)


# Each signing form: its form class and prefix, and the service call it makes.
SIGNATURES = {
    SignatureMeaning.VALIDATED: (forms.ValidateForm, "validate", lambda request, case, form: services.review_validate(
        actor=request.user, case=case, password=form.cleaned_data["password"], comment=form.cleaned_data["comment"])),
    SignatureMeaning.APPROVED: (forms.ApproveForm, "approve", lambda request, case, form: services.review_approve(
        actor=request.user, case=case, password=form.cleaned_data["password"], conditions=form.condition_list(),
        comment=form.cleaned_data["comment"])),
    SignatureMeaning.REJECTED: (forms.CloseForm, "reject", lambda request, case, form: services.review_reject(
        actor=request.user, case=case, password=form.cleaned_data["password"], reason=form.cleaned_data["reason"])),
    SignatureMeaning.CHANGES_REQUESTED: (forms.CloseForm, "changes", lambda request, case, form:
                                         services.review_request_changes(
        actor=request.user, case=case, password=form.cleaned_data["password"], reason=form.cleaned_data["reason"])),
}


@login_required
@require_POST
def sign(request, pk: int, meaning: str):
    """Signs a decision (validate, approve, reject, request changes) after password re-entry. A wrong
    password is refused by the service before anything is written."""
    if meaning not in SIGNATURES:
        raise Http404("No such decision.")
    case = _case_or_404(request, pk)
    form_class, prefix, call = SIGNATURES[meaning]
    form = form_class(request.POST, prefix=prefix)
    form_id = f"decide-{prefix}"
    if not form.is_valid():
        return _refused(request, case, ValidationFailed("Nothing was signed."), key=meaning, form=form,
                        form_id=form_id)
    try:
        decision = call(request, case, form)
    except ApplicationError as error:
        return _refused(request, case, error, key=meaning, form=form, form_id=form_id)
    messages.success(request, f"Signed by {decision.signer_printed_name}: {decision.get_meaning_display()}.")
    return _back(case, "decisions")
