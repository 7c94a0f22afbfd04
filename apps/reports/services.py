"""Generating compliance documents and evidence packs.

`report_generate` checks that the reader may see the subject, validates the request, stores it and
writes `reports.document.requested`; the document is built after commit by a Celery task that calls
`report_build`. `report_build` pins a signed checkpoint, gathers the facts as they stood there,
renders, stores the file and writes `reports.document.generated` with its SHA-256, the content hash,
the audit index range and the checkpoint — or marks the document failed with
`reports.document.failed`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Model as DjangoModel
from django.utils import timezone

from apps.accounts.permissions import can_view_use_case
from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.audit.encoding import SubjectRef
from apps.audit.services import SYSTEM, describe_subject, record
from apps.common.errors import (
    ApplicationError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    validation_error,
)
from apps.lineage import services as lineage_services
from apps.registry.models import ModelVersion, UseCase
from apps.reviews.models import ReviewCase

from . import documents, facts
from .models import DocumentKind, DocumentStatus, GeneratedDocument

logger = logging.getLogger(__name__)

# What each kind is about: the subject model it takes (None: no subject).
SUBJECTS = {
    DocumentKind.ANNEX_IV: (ModelVersion,),
    DocumentKind.MODEL_CARD: (ModelVersion,),
    DocumentKind.VALIDATION_REPORT: (ReviewCase,),
    DocumentKind.EVIDENCE_PACK: (UseCase, ReviewCase),
    DocumentKind.MODEL_INVENTORY: (),
}


def _use_case_of(subject) -> UseCase | None:
    if isinstance(subject, UseCase):
        return subject
    if isinstance(subject, ModelVersion):
        return subject.model.use_case
    if isinstance(subject, ReviewCase):
        return subject.model_version.model.use_case
    return None


def _is_person_or_account(actor) -> bool:
    return actor is SYSTEM or bool(getattr(actor, "pk", None) and actor.is_active)


def _reads_audit_log(actor) -> bool:
    return actor is SYSTEM or (not actor.is_service_account and (actor.has_role(Role.AUDITOR)
                                                                   or actor.has_role(Role.ADMIN)))


def _may_see(actor, use_case: UseCase, auth=None) -> bool:
    return actor is SYSTEM or can_view_use_case(actor, use_case, auth=auth)


def _clean_time(value, field: str) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise validation_error(field, "Give an ISO 8601 date and time with its time zone.") from None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise validation_error(field, "Give an ISO 8601 date and time with its time zone.")
    return value.astimezone(dt.UTC).isoformat()


def report_generate(
    *,
    actor,
    kind: str,
    subject: DjangoModel | SubjectRef | None = None,
    since: dt.datetime | str | None = None,
    until: dt.datetime | str | None = None,
    checkpoint_tree_size: int | None = None,
    auth=None,
) -> GeneratedDocument:
    """Asks for a document of `kind` about `subject` and queues its generation after commit.

    Subjects: a model version (annex_iv, model_card), a review case (validation_report), a use case or
    review case (evidence_pack), none (model_inventory: every use case the reader may see), and for
    audit_extract any recorded subject and/or a `since <= t < until` window (auditors and administrators
    only). The reader must be able to see the subject (NotFound otherwise, as for a missing object).
    With `checkpoint_tree_size` the document reflects that signed checkpoint; by default the checkpoint
    signed when it is built. `auth` is the API key of the request, whose use-case limits also apply.
    """
    if not _is_person_or_account(actor):
        raise PermissionDenied("Only an active, signed-in user or service account can ask for a document.")
    try:
        kind = DocumentKind(kind)
    except ValueError:
        raise validation_error("kind", f"Unknown document kind {kind!r}; the kinds are: "
                                       f"{', '.join(DocumentKind.values)}.") from None
    parameters: dict = {}
    use_case = None
    if kind == DocumentKind.AUDIT_EXTRACT:
        if not _reads_audit_log(actor):
            raise PermissionDenied("Only auditors and administrators may extract the audit trail.")
        parameters["since"] = _clean_time(since, "since")
        parameters["until"] = _clean_time(until, "until")
        if parameters["since"] and parameters["until"] and parameters["since"] >= parameters["until"]:
            raise validation_error("until", "The end of the time range must come after its start.")
        if subject is not None:
            reference = describe_subject(subject)
            parameters.update(subject_type=reference.type, subject_id=reference.id)
        elif not (parameters["since"] or parameters["until"]):
            raise ValidationFailed("Name a subject or a time range for the audit trail extract.",
                                   field_errors={"subject": ["Name a subject, or give since/until."]})
    else:
        if since is not None or until is not None:
            raise validation_error("since", "A time range applies only to an audit trail extract.")
        allowed = SUBJECTS[kind]
        if not allowed and subject is not None:
            raise validation_error("subject", "The model inventory covers every use case you may see; it takes "
                                              "no subject.")
        if allowed and not isinstance(subject, allowed):
            names = " or ".join(model._meta.verbose_name for model in allowed)
            raise validation_error("subject", f"A {kind.label} is about a {names}.")
        if allowed:
            use_case = _use_case_of(subject)
            if not _may_see(actor, use_case, auth):
                raise NotFound(f"No {subject._meta.verbose_name} {subject.pk} that you may see.")
    if auth is not None and kind == DocumentKind.MODEL_INVENTORY:
        restricted = list(auth.service_account.allowed_use_cases.values_list("key", flat=True))
        if restricted:
            parameters["limited_to_use_cases"] = sorted(restricted)
    if checkpoint_tree_size is not None:
        facts.pin_snapshot(tree_size=checkpoint_tree_size)  # refuses an unknown checkpoint now, not later
    reference = describe_subject(subject) if subject is not None else None
    with transaction.atomic():
        document = GeneratedDocument(
            kind=kind, use_case=use_case, parameters={k: v for k, v in parameters.items() if v is not None},
            subject_type=reference.type if reference else "", subject_id=reference.id if reference else "",
            subject_label=reference.label if reference else "",
            requested_by=None if actor is SYSTEM else actor, checkpoint_tree_size=checkpoint_tree_size,
        )
        document.save()
        record(actor=actor, action=Action.REPORTS_DOCUMENT_REQUESTED, subject=document,
               data={"kind": kind.value, "subject": _subject_data(document), "parameters": document.parameters,
                     "checkpoint_tree_size": checkpoint_tree_size})
        transaction.on_commit(lambda document_id=document.pk: _queue_build(document_id))
    return document


def _subject_data(document: GeneratedDocument) -> dict | None:
    if not document.subject_type:
        return None
    return {"type": document.subject_type, "id": document.subject_id, "label": document.subject_label}


def _queue_build(document_id: int) -> None:
    from .tasks import report_build_task

    report_build_task.delay(document_id)


def report_progress(*, document_id: int, percent: int, message: str) -> None:
    """Display telemetry for the UI and `docket report status`; not audited."""
    GeneratedDocument.objects.filter(pk=document_id).exclude(status=DocumentStatus.DONE).update(
        status=DocumentStatus.RUNNING, progress=max(0, min(100, percent)), progress_message=message[:200])


def _resolve_subject(document: GeneratedDocument):
    model = {"registry.modelversion": ModelVersion, "reviews.reviewcase": ReviewCase,
             "registry.usecase": UseCase}.get(document.subject_type)
    if model is None:
        return None
    if model is ModelVersion:
        return facts.resolve_model_version(document.subject_id)
    return model.objects.get(pk=document.subject_id)


def _requester(document: GeneratedDocument):
    return document.requested_by if document.requested_by_id else SYSTEM


def document_facts(*, kind: str, subject, parameters: dict, reader, snap: facts.Snapshot) -> dict:
    """The facts of one PDF document, with the "document" block its header and last page need."""
    module = documents.MODULES[DocumentKind(kind)]
    if kind == DocumentKind.AUDIT_EXTRACT:
        gathered = module.gather(parameters, snap)
        system = "audit trail"
    elif kind == DocumentKind.MODEL_INVENTORY:
        gathered = module.gather(reader, snap, limited_to=parameters.get("limited_to_use_cases"))
        system = "all visible use cases"
    else:
        gathered = module.gather(subject, snap)
        version = gathered["model_version"]
        system = f"{gathered['use_case']['name']} · {version['model']} v{version['number']}"
    first = gathered.pop("audit_index_first")
    gathered["document"] = {
        "kind": str(kind), "system": system, "docket_version": documents.docket_version(),
        "snapshot": snap.describe(), "audit_index_first": snap.last_index if first is None else first,
        "audit_index_last": snap.last_index,
    }
    return gathered


def render_document(*, kind: str, subject, parameters: dict, reader, snap: facts.Snapshot) -> tuple[bytes, dict, str]:
    """(PDF bytes, facts, content SHA-256) of one document at `snap`."""
    gathered = document_facts(kind=kind, subject=subject, parameters=parameters, reader=reader, snap=snap)
    content = facts.content_sha256(gathered)
    return documents.render(kind, gathered, content_sha256=content), gathered, content


def report_build(*, document_id: int) -> GeneratedDocument:
    """Builds a requested document and records `reports.document.generated`; safe to run twice (a done
    document is returned as it is). A refusal or error marks it failed with `reports.document.failed`;
    transient database errors are raised so the task retries."""
    document = GeneratedDocument.objects.filter(pk=document_id).first()
    if document is None:
        raise NotFound(f"No document {document_id}.")
    if document.status == DocumentStatus.DONE:
        return document
    stored_name = None
    try:
        report_progress(document_id=document.pk, percent=5, message="pinning the signed checkpoint")
        snap = facts.pin_snapshot(tree_size=document.checkpoint_tree_size)
        reader = _requester(document)
        subject = _resolve_subject(document)
        if document.use_case_id and not _may_see(reader, document.use_case):
            raise NotFound("The requester may no longer see the subject of this document.")
        report_progress(document_id=document.pk, percent=20, message="reading the records")
        if document.kind == DocumentKind.EVIDENCE_PACK:
            from .packs import build_evidence_pack

            data, summary = build_evidence_pack(subject=subject, reader=reader, snap=snap,
                                                progress=lambda p, m: report_progress(document_id=document.pk,
                                                                                      percent=p, message=m))
            content, first, extension, content_type = summary["content_sha256"], summary["audit_index_first"], \
                "tar.gz", "application/gzip"
            extra = {"files": summary["files"], "audit_slices": summary["audit_slices"]}
        else:
            data, gathered, content = render_document(kind=document.kind, subject=subject,
                                                      parameters=document.parameters, reader=reader, snap=snap)
            first = gathered["document"]["audit_index_first"]
            extension, content_type, extra = "pdf", "application/pdf", {}
        report_progress(document_id=document.pk, percent=90, message="storing and recording the document")
        sha256 = hashlib.sha256(data).hexdigest()
        with transaction.atomic():
            document = GeneratedDocument.objects.select_for_update().get(pk=document.pk)
            if document.status == DocumentStatus.DONE:
                return document
            document.sha256 = sha256
            document.file_name = _file_name(document, snap, extension)
            document.file.save(document.file_name, ContentFile(data), save=False)
            stored_name = document.file.name
            document.content_type, document.size, document.content_sha256 = content_type, len(data), content
            document.checkpoint_tree_size = snap.tree_size
            document.audit_index_first, document.audit_index_last = first, snap.last_index
            document.status, document.progress, document.progress_message = DocumentStatus.DONE, 100, "done"
            document.generated_at = timezone.now()
            document.error = ""
            document.save()
            entry = record(
                sequenced=True,  # the index is stored/signed below
                actor=_requester(document), action=Action.REPORTS_DOCUMENT_GENERATED, subject=document,
                data={"kind": document.kind, "subject": _subject_data(document), "file_name": document.file_name,
                      "sha256": sha256, "size": len(data), "content_sha256": content,
                      "audit_index_first": first, "audit_index_last": snap.last_index,
                      "checkpoint": {"tree_size": snap.tree_size, "root_hash": snap.root_hash,
                                     "origin": snap.origin},
                      **extra},
            )
            document.audit_index = entry.index
            document.save(update_fields=["audit_index"])
            lineage_services.edges_for_report(document=document, subject=subject)
        return document
    except (OperationalError, InterfaceError):
        _remove(stored_name)
        raise
    except Exception as exc:
        _remove(stored_name)
        if not isinstance(exc, ApplicationError):
            logger.exception("Generating document %s failed", document_id)
        return _fail(document_id, exc)


def _remove(name: str | None) -> None:
    if name:
        from django.core.files.storage import default_storage

        default_storage.delete(name)


def _fail(document_id: int, exc: Exception) -> GeneratedDocument:
    reason = str(exc) if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
    with transaction.atomic():
        document = GeneratedDocument.objects.select_for_update().get(pk=document_id)
        document.status, document.error = DocumentStatus.FAILED, reason[:2000]
        document.progress_message = "failed"
        document.save()
        record(actor=_requester(document), action=Action.REPORTS_DOCUMENT_FAILED, subject=document,
               data={"kind": document.kind, "subject": _subject_data(document), "reason": reason[:2000]})
    return document


def _file_name(document: GeneratedDocument, snap: facts.Snapshot, extension: str) -> str:
    label = (document.subject_label or "all").replace(" ", "-").replace("/", "-")
    safe = "".join(character for character in label if character.isalnum() or character in "-_.")[:80]
    return f"{document.kind}-{safe}-cp{snap.tree_size}.{extension}"
