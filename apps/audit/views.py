"""The audit log browser: filtered, keyset-paginated entries with links to their subjects, the latest
checkpoint's verification badge, one entry with a download of its inclusion proof, and an evidence
pack export for the current filter.

Readable by auditors and administrators only, as the audit API is (`may_read_audit_log`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Max, Min
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from apps.accounts.roles import Role
from apps.common.errors import ApplicationError

from . import proofs, selectors, services
from .actions import Action
from .evidence import export_pack
from .forms import EntryFilterForm
from .models import AuditEntry

ENTRIES_PER_PAGE = 50
ACTION_LABELS = dict(Action.choices)


def may_read_audit_log(user) -> bool:
    """Auditors and administrators (and Django superusers) read the audit log, as the audit API allows."""
    return bool(user and user.is_authenticated and user.is_active and (
        user.is_superuser or user.has_role(Role.AUDITOR) or user.has_role(Role.ADMIN)
    ))


def _require_reader(user) -> None:
    if not may_read_audit_log(user):
        raise DjangoPermissionDenied("Only auditors and administrators may read the audit log.")


def _int_or_none(raw) -> int | None:
    if raw is None or not str(raw).isascii() or not str(raw).isdigit():
        return None
    return int(raw)


@login_required
def entry_list(request):
    """Entries matching the filter, newest first, 50 a page. Pages are keyset cursors on the index
    (`?before=<index>` for older, `?after=<index>` for newer), so a page costs the same at any depth of
    a log of any size: no OFFSET and no COUNT."""
    _require_reader(request.user)
    form = EntryFilterForm(request.GET or None)
    entries = AuditEntry.objects.none()
    if not form.is_bound:
        entries = selectors.entry_list()
    elif form.is_valid():
        entries = selectors.entry_list(**form.selector_arguments())
    entries = entries.defer("encoded", "leaf_hash", "data")
    before, after = _int_or_none(request.GET.get("before")), _int_or_none(request.GET.get("after"))
    if after is not None:
        rows = list(entries.filter(index__gt=after).order_by("index")[:ENTRIES_PER_PAGE + 1])
        has_newer = len(rows) > ENTRIES_PER_PAGE
        rows = list(reversed(rows[:ENTRIES_PER_PAGE]))
        has_older = True
    else:
        if before is not None:
            entries = entries.filter(index__lt=before)
        rows = list(entries.order_by("-index")[:ENTRIES_PER_PAGE + 1])
        has_older = len(rows) > ENTRIES_PER_PAGE
        rows = rows[:ENTRIES_PER_PAGE]
        has_newer = before is not None
    links = subject_links(rows)
    return render(request, "audit/entry_list.html", {
        "form": form,
        "rows": [(entry, ACTION_LABELS.get(entry.action, entry.action), links.get(entry.index)) for entry in rows],
        "filter_query": form.query_string() if form.is_bound else "",
        "older_cursor": rows[-1].index if rows and has_older else None,
        "newer_cursor": rows[0].index if rows and has_newer else None,
        "check": selectors.latest_checkpoint_check(),
        "export_max_entries": settings.DOCKET_AUDIT_UI_EXPORT_MAX_ENTRIES,
    })


def subject_links(entries) -> dict[int, str]:
    """{entry index: URL of its subject's page} for the entries whose subject has a page. At most two
    queries (use case keys; models' use case keys), whatever the number of entries."""
    from apps.registry.models import Model, UseCase

    by_type: dict[str, set[str]] = {}
    for entry in entries:
        by_type.setdefault(entry.subject_type, set()).add(entry.subject_id)

    def ids(subject_type):
        return [int(value) for value in by_type.get(subject_type, ()) if value.isdigit()]

    use_case_keys = dict(UseCase.objects.filter(pk__in=ids("registry.usecase")).values_list("pk", "key")) \
        if ids("registry.usecase") else {}
    model_use_cases = dict(Model.objects.filter(pk__in=ids("registry.model")).values_list("pk", "use_case__key")) \
        if ids("registry.model") else {}
    links = {}
    for entry in entries:
        url = _subject_url(entry.subject_type, entry.subject_id, use_case_keys, model_use_cases)
        if url:
            links[entry.index] = url
    return links


def _subject_url(subject_type: str, subject_id: str, use_case_keys: dict, model_use_cases: dict) -> str | None:
    if not subject_id.isdigit():
        return None
    pk = int(subject_id)
    try:
        if subject_type == "registry.usecase" and pk in use_case_keys:
            return reverse("registry:use_case_detail", kwargs={"key": use_case_keys[pk]})
        if subject_type == "registry.model" and pk in model_use_cases:
            return reverse("registry:use_case_detail", kwargs={"key": model_use_cases[pk]})
        if subject_type == "registry.modelversion":
            return reverse("registry:model_version_detail", kwargs={"pk": pk})
        if subject_type == "registry.datasetversion":
            return reverse("registry:dataset_version_detail", kwargs={"pk": pk})
        if subject_type == "reviews.reviewcase":
            return reverse("reviews:case", kwargs={"pk": pk})
    except NoReverseMatch:  # that page is not installed
        return None
    return None


@login_required
def entry_detail(request, index: int):
    """One entry: every recorded field, its data, its leaf hash, the first checkpoint that covers it,
    and a link to download its inclusion proof."""
    _require_reader(request.user)
    entry = AuditEntry.objects.filter(index=index).first()
    if entry is None:
        raise Http404(f"There is no audit entry {index}.")
    return render(request, "audit/entry_detail.html", {
        "entry": entry,
        "action_label": ACTION_LABELS.get(entry.action, entry.action),
        "data_json": json.dumps(entry.data, indent=2, ensure_ascii=False, sort_keys=True),
        "leaf_hash_hex": bytes(entry.leaf_hash).hex(),
        "subject_url": subject_links([entry]).get(entry.index),
        "covering": selectors.checkpoint_covering(index=index),
    })


@login_required
def entry_proof(request, index: int):
    """Downloads the entry with its RFC 9162 inclusion proof in the latest checkpoint, in the JSON the API's
    GET /api/v1/audit/entries/<index> serves (a checkpoint is signed first if none covers the entry yet)."""
    from .api.serializers import AuditEntrySerializer, CheckpointSerializer, b64
    from .api.views import tlog_proof_text

    _require_reader(request.user)
    entry = AuditEntry.objects.filter(index=index).first()
    if entry is None:
        raise Http404(f"There is no audit entry {index}.")
    try:
        checkpoint = services.checkpoint_covering(index=index)
        proof = proofs.inclusion_proof(index=index, tree_size=checkpoint.tree_size)
    except (ApplicationError, services.AuditError, proofs.ProofError) as exc:
        messages.error(request, f"The inclusion proof could not be made: {exc}")
        return redirect("audit:entry_detail", index=index)
    body = {
        "entry": AuditEntrySerializer(entry).data,
        "checkpoint": CheckpointSerializer(checkpoint).data,
        "inclusion_proof": [b64(node) for node in proof],
        "tlog_proof": tlog_proof_text(index=index, proof=proof, note=checkpoint.note),
    }
    response = HttpResponse(json.dumps(body, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="docket-audit-entry-{index}-proof.json"'
    return response


@login_required
@require_POST
def export(request):
    """Streams an evidence pack (.tar.gz, docs/evidence-pack.md) for the filter posted from the browser.

    With a subject in the filter, the pack is that subject's pack (every entry about it). Otherwise it is
    the range pack of the contiguous entries from the first to the last one matching the filter (range
    packs are what the offline verifier checks for completeness), or the whole log without a filter.
    Packs of more than DOCKET_AUDIT_UI_EXPORT_MAX_ENTRIES entries are refused with a message pointing
    to `manage.py audit export`, which has no limit."""
    _require_reader(request.user)
    form = EntryFilterForm(request.POST)
    back = f"{reverse('audit:entry_list')}?{form.query_string()}"
    if not form.is_valid():
        messages.error(request, "Fix the filter before exporting: " + " ".join(
            str(error) for errors in form.errors.values() for error in errors))
        return redirect(back)
    arguments = form.selector_arguments()
    limit = settings.DOCKET_AUDIT_UI_EXPORT_MAX_ENTRIES
    if arguments["subject_type"] and arguments["subject_id"]:
        selection = {"subject_type": arguments["subject_type"], "subject_id": arguments["subject_id"]}
        size = selectors.entry_list(**selection).count()
    else:
        bounds = selectors.entry_list(**arguments).aggregate(first=Min("index"), last=Max("index"))
        if bounds["first"] is None:
            messages.error(request, "No entries match this filter; there is nothing to export.")
            return redirect(back)
        selection = {"start": bounds["first"], "end": bounds["last"] + 1}
        size = selection["end"] - selection["start"]
    if size > limit:
        messages.error(request, (
            f"This pack would hold {size} entries; the web export stops at {limit}. Narrow the filter, or run "
            "`manage.py audit export` on the server, which streams packs of any size."))
        return redirect(back)
    staging = Path(tempfile.mkdtemp(prefix="docket-ui-export-"))
    try:
        summary = export_pack(destination=staging / "evidence-pack.tar.gz", **selection)
        stream = open(summary.path, "rb")  # noqa: SIM115 - FileResponse closes it after streaming
    except (ApplicationError, services.AuditError) as exc:
        messages.error(request, f"The evidence pack was not exported: {exc}")
        return redirect(back)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the open file stays readable until streamed
    name = f"docket-evidence-{summary.kind}-{summary.first_index}-{summary.last_index}.tar.gz"
    return FileResponse(stream, as_attachment=True, filename=name, content_type="application/gzip")
