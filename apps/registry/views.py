"""The registry's web pages: use cases (list, page, classification wizard), model version and dataset
version pages. Views read through the selectors (which limit everything to what the user may see:
anything else is a 404, as in the API) and change state only through `services.use_case_classify`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.audit.selectors import entries_about
from apps.audit.views import may_read_audit_log
from apps.common.errors import ApplicationError, NotFound, PermissionDenied
from apps.gate import selectors as gate_selectors
from apps.reviews.selectors import review_cases_visible_to

from . import permissions, selectors, services
from .forms import ClassificationForm
from .models import ART5_PRACTICES, DATASHEET_FIELDS, AnnexIIIPoint, RiskClass

USE_CASES_PER_PAGE = 25
VERSIONS_PER_PAGE = 25
RELATED_ROWS_SHOWN = 50
HISTORY_ENTRIES_SHOWN = 50


def may_classify(user, use_case) -> bool:
    """Whether `use_case_classify` would accept `user` for this use case (the registry's rule)."""
    try:
        permissions.require_review(user, use_case, doing="classify this use case")
    except PermissionDenied:
        return False
    return True


def _visible_use_case(user, key: str):
    try:
        return selectors.use_case_get(fetched_by=user, key=key)
    except NotFound:
        raise Http404(f"No use case {key!r} that you may see.") from None


@login_required
def use_case_list(request):
    """Every use case the user may see, with its current EU AI Act class; filter by risk class."""
    use_cases = selectors.use_case_list(fetched_by=request.user)
    risk_class = request.GET.get("risk_class", "")
    if risk_class in RiskClass.values:
        use_cases = use_cases.filter(risk_class=risk_class)
    elif risk_class == "unclassified":
        use_cases = use_cases.filter(risk_class="")
    page = Paginator(use_cases, USE_CASES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "registry/use_case_list.html", {
        "page": page, "risk_class": risk_class, "risk_classes": RiskClass.choices,
    })


@login_required
def use_case_detail(request, key: str):
    """The use case's facts, its classification (current and history), models, versions, approvals,
    deployments and recent audit history."""
    user = request.user
    use_case = _visible_use_case(user, key)
    versions = selectors.model_version_list(fetched_by=user, use_case=use_case).order_by(
        "model__key", "-number"
    )
    return render(request, "registry/use_case_detail.html", {
        "use_case": use_case,
        "classifications": list(selectors.classification_history(fetched_by=user, use_case=use_case)),
        "models": list(selectors.model_list(fetched_by=user, use_case=use_case)),
        "versions": Paginator(versions, VERSIONS_PER_PAGE).get_page(request.GET.get("page")),
        "approvals": list(gate_selectors.approval_list(fetched_by=user, use_case=use_case)[:RELATED_ROWS_SHOWN]),
        "deployments": list(
            selectors.deployment_list(fetched_by=user).filter(model__use_case=use_case)[:RELATED_ROWS_SHOWN]
        ),
        "history": entries_about(subject_type="registry.usecase", subject_id=use_case.pk,
                                 limit=HISTORY_ENTRIES_SHOWN),
        "may_classify": may_classify(user, use_case),
        "may_read_audit_log": may_read_audit_log(user),
        "related_rows_shown": RELATED_ROWS_SHOWN,
        "now": timezone.now(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def classify(request, key: str):
    """The classification wizard. GET shows the questions (prefilled from the current decision); POST
    records a new decision through `use_case_classify`, or shows its refusal next to the fields."""
    use_case = _visible_use_case(request.user, key)
    if not may_classify(request.user, use_case):
        raise DjangoPermissionDenied("You may not classify this use case.")
    if request.method == "POST":
        form = ClassificationForm(request.POST)
        if form.is_valid():
            try:
                decision = services.use_case_classify(actor=request.user, use_case=use_case,
                                                      **form.service_arguments())
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
            except ApplicationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Classification recorded: {decision.get_risk_class_display()}.")
                return redirect("registry:use_case_detail", key=use_case.key)
        status = 400
    else:
        form = ClassificationForm(initial=_initial_answers(use_case.current_classification))
        status = 200
    return render(request, "registry/classify.html", {
        "use_case": use_case, "form": form, "preview": _preview(form) if form.is_bound else None,
    }, status=status)


@login_required
@require_POST
def classify_preview(request, key: str):
    """htmx fragment: the risk class the answers so far lead to, computed as the service would; records nothing."""
    use_case = _visible_use_case(request.user, key)
    if not may_classify(request.user, use_case):
        raise DjangoPermissionDenied("You may not classify this use case.")
    form = ClassificationForm(request.POST)
    return render(request, "registry/_classification_preview.html", {"preview": _preview(form)})


def _datasheet(dataset_version) -> list[tuple[str, str]]:
    """(label, text) of each Art. 10(2) data-governance field and datasheet section, in order."""
    return [(label, getattr(dataset_version, name)) for name, label in DATASHEET_FIELDS.items()]


def _initial_answers(decision) -> dict:
    if decision is None:
        return {}
    initial = {f"art5_{letter}": "yes" if answer else "no" for letter, answer in decision.art5_answers.items()}
    initial.update({
        "annex_i_safety_component": "yes" if decision.annex_i_safety_component else "no",
        "annex_iii_code": decision.annex_iii_point_id or "",
        "profiles_natural_persons": "yes" if decision.profiles_natural_persons else "no",
        "art6_3_exemption": decision.art6_3_exemption,
        "art6_3_rationale": decision.art6_3_rationale,
        "art50_duties": decision.art50_duties,
    })
    return initial


def _preview(form: ClassificationForm) -> dict | None:
    """The class and reasons `compute_risk_class` gives for the answers given so far (unanswered Art. 5
    questions count as "no" here only; the service requires every answer)."""
    data = form.data
    point = None
    code = data.get("annex_iii_code") or ""
    if code:
        point = AnnexIIIPoint.objects.filter(code=code, points__isnull=True).first()
    risk_class, reasons = services.compute_risk_class(
        art5_answers={letter: data.get(f"art5_{letter}") == "yes" for letter in ART5_PRACTICES},
        annex_i_safety_component=data.get("annex_i_safety_component") == "yes",
        annex_iii_point=point,
        art6_3_exemption=data.get("art6_3_exemption") or "",
        art50_duties=data.getlist("art50_duties") if hasattr(data, "getlist") else [],
    )
    return {"risk_class": risk_class, "label": RiskClass(risk_class).label, "reasons": reasons}


@login_required
def model_version_detail(request, pk: int):
    """A model version's registered facts (artifact, training code, datasets with datasheets, claimed
    metrics), its reviews, approvals, deployments, gate decisions and audit history."""
    user = request.user
    version = selectors.model_version_list(fetched_by=user).filter(pk=pk).first()
    if version is None:
        raise Http404(f"No model version {pk} that you may see.")
    return render(request, "registry/model_version_detail.html", {
        "version": version,
        "use_case": version.model.use_case,
        "datasheets": [
            (dataset_version, _datasheet(dataset_version))
            for dataset_version in selectors.linked_dataset_versions(model_version=version)
        ],
        "now": timezone.now(),
        "review_cases": list(review_cases_visible_to(user).filter(model_version=version).order_by("-opened_at")),
        "approvals": list(version.approvals.order_by("-approved_at", "-pk")),
        "deployments": list(version.deployments.select_related("deployed_by").order_by("-deployed_at", "-pk")),
        "gate_decisions": list(
            gate_selectors.decision_list(fetched_by=user).filter(model_version=version)[:RELATED_ROWS_SHOWN]
        ),
        "history": entries_about(subject_type="registry.modelversion", subject_id=version.pk,
                                 limit=HISTORY_ENTRIES_SHOWN),
        "may_read_audit_log": may_read_audit_log(user),
    })


@login_required
def dataset_version_detail(request, pk: int):
    """A dataset version's registered facts (hash, schema, row count, data governance and datasheet,
    lifecycle), the visible dataset versions it was derived from, the visible model versions that used it,
    its sibling versions and audit history."""
    user = request.user
    dataset_version = selectors.dataset_version_list(fetched_by=user).filter(pk=pk).first()
    if dataset_version is None:
        raise Http404(f"No dataset version {pk} that you may see.")
    return render(request, "registry/dataset_version_detail.html", {
        "dataset_version": dataset_version,
        "datasheet": _datasheet(dataset_version),
        "usage": list(selectors.dataset_version_usage(fetched_by=user, dataset_version=dataset_version)),
        "siblings": list(  # numbers and dates only: no sources
            selectors.dataset_version_list(fetched_by=user, dataset=dataset_version.dataset).prefetch_related(None)
        ),
        "history": entries_about(subject_type="registry.datasetversion", subject_id=dataset_version.pk,
                                 limit=HISTORY_ENTRIES_SHOWN),
        "may_read_audit_log": may_read_audit_log(user),
    })

