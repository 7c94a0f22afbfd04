"""PDF documents, one module per kind (each has `KIND_TITLE`, `gather(...)` -> facts, `story(facts)`),
rendered in the house style of `style` with a closing page on how to verify the document."""

from __future__ import annotations

from importlib import metadata

from ..models import DocumentKind
from . import annex_iv, audit_extract, model_card, model_inventory, validation_report
from .style import PageFrame, build_pdf, verification_section

MODULES = {
    DocumentKind.ANNEX_IV: annex_iv,
    DocumentKind.MODEL_CARD: model_card,
    DocumentKind.VALIDATION_REPORT: validation_report,
    DocumentKind.AUDIT_EXTRACT: audit_extract,
    DocumentKind.MODEL_INVENTORY: model_inventory,
}
# Documents long enough to need a table of contents.
WITH_CONTENTS = {DocumentKind.ANNEX_IV, DocumentKind.MODEL_CARD, DocumentKind.VALIDATION_REPORT,
                 DocumentKind.MODEL_INVENTORY}


def docket_version() -> str:
    try:
        return metadata.version("docket")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "source"


def render(kind: str, facts: dict, *, content_sha256: str) -> bytes:
    """The PDF of `facts` (which carry a "document" block from `services`), ending with the page that says
    how to verify it. The same facts always give the same bytes."""
    module = MODULES[DocumentKind(kind)]
    document = facts["document"]
    snapshot = document["snapshot"]
    frame = PageFrame(title=module.KIND_TITLE, system=document["system"], docket_version=document["docket_version"],
                      as_of=f"as of checkpoint {snapshot['tree_size']}, signed {snapshot['signed_at']}")
    verification = {"content_sha256": content_sha256, "checkpoint": snapshot,
                    "audit_index_first": document["audit_index_first"],
                    "audit_index_last": document["audit_index_last"]}
    story = module.story(facts) + verification_section(verification)
    return build_pdf(story, frame, with_toc=DocumentKind(kind) in WITH_CONTENTS)
