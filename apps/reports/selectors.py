"""Reads of generated documents, limited to what the user asking may see.

Administrators and auditors see every document. Others see the documents about use cases they may see
(`apps.accounts.permissions.visible_use_cases`) and the documents they requested themselves (a model
inventory holds only what its requester could see)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.accounts.permissions import visible_use_cases
from apps.common.errors import NotFound
from apps.registry import permissions as registry_permissions
from apps.registry.models import UseCase

from .models import DocumentKind, GeneratedDocument


def document_list(*, fetched_by, auth=None) -> QuerySet[GeneratedDocument]:
    """The documents `fetched_by` may see, newest first."""
    documents = GeneratedDocument.objects.select_related("requested_by", "use_case").order_by("-requested_at", "-pk")
    if not registry_permissions.is_active_user(fetched_by):
        return documents.none()
    if registry_permissions.reads_everything(fetched_by) and auth is None:
        return documents
    use_cases = visible_use_cases(UseCase.objects.all(), user=fetched_by, auth=auth)
    own = Q(requested_by=fetched_by)
    about_visible = Q(use_case__in=use_cases) & ~Q(kind__in=[DocumentKind.MODEL_INVENTORY,
                                                            DocumentKind.AUDIT_EXTRACT])
    return documents.filter(own | about_visible)


def document_get(*, fetched_by, pk: int, auth=None) -> GeneratedDocument:
    """One document; NotFound if it does not exist or `fetched_by` may not see it."""
    document = document_list(fetched_by=fetched_by, auth=auth).filter(pk=pk).first()
    if document is None:
        raise NotFound(f"No document {pk} that you may see.")
    return document
