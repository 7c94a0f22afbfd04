"""Evidence packs for a use case or a review case: the PDFs, the same facts as JSON, the audit-log slice
of every subject they draw on (audit evidence packs with inclusion proofs and checkpoints, verifiable
with `docket-verify`), the checkpoint the documents reflect with a consistency proof to each slice, the
verifier keys and a README. Layout (inside one top-level folder of the .tar.gz):

    README.md  manifest.json
    documents/<name>.pdf      facts/<name>.json
    checkpoint/<tree size>.checkpoint
    audit/<subject type>-<id>/            one audit evidence pack (subject pack) per subject
    audit/<subject type>-<id>.consistency  proof from the documents' checkpoint to the slice's newest
    keys/verifier-keys.txt
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from apps.audit import proofs
from apps.audit import selectors as audit_selectors
from apps.audit.evidence import export_pack
from apps.audit.verifier import format_consistency_proof
from apps.common.errors import ValidationFailed
from apps.registry.models import ModelVersion, UseCase
from apps.reviews.models import ReviewCase

from . import facts as f
from .models import DocumentKind

PACK_FORMAT = "docket-compliance-pack@v1"


def _plan(subject, snap: f.Snapshot) -> tuple[list[tuple[str, object, str]], list[tuple[str, str]]]:
    """(documents as (kind, subject, name), audit subjects as (type, id)) for a use case or review case."""
    documents, subjects = [], []
    if isinstance(subject, ReviewCase):
        version = subject.model_version
        documents += [(DocumentKind.VALIDATION_REPORT, subject, f"validation-report-review-{subject.pk}"),
                      (DocumentKind.ANNEX_IV, version, f"annex-iv-{version.model.key}-v{version.number}"),
                      (DocumentKind.MODEL_CARD, version, f"model-card-{version.model.key}-v{version.number}")]
        subjects += [("reviews.reviewcase", str(subject.pk)), ("registry.modelversion", str(version.pk))]
        subjects += [("reviews.decision", str(pk)) for pk in subject.decisions.filter(
            signed_at__lte=snap.as_of).values_list("pk", flat=True)]
        return documents, subjects
    use_case: UseCase = subject
    subjects.append(("registry.usecase", str(use_case.pk)))
    latest_versions = []
    for model in use_case.models.order_by("key"):
        latest = model.versions.filter(registered_at__lte=snap.as_of).order_by("-number").first()
        if latest is not None:
            latest_versions.append(latest)
    for version in latest_versions:
        documents += [(DocumentKind.ANNEX_IV, version, f"annex-iv-{version.model.key}-v{version.number}"),
                      (DocumentKind.MODEL_CARD, version, f"model-card-{version.model.key}-v{version.number}")]
        subjects.append(("registry.modelversion", str(version.pk)))
        for case in f.cases_of(version, snap):
            documents.append((DocumentKind.VALIDATION_REPORT, case, f"validation-report-review-{case.pk}"))
            subjects.append(("reviews.reviewcase", str(case.pk)))
    return documents, subjects


def build_evidence_pack(*, subject, reader, snap: f.Snapshot,
                        progress: Callable[[int, str], None] = lambda percent, message: None) -> tuple[bytes, dict]:
    """The pack as .tar.gz bytes, and a summary: content SHA-256 (of the manifest's file list), every
    file's SHA-256, the audit slices and the first audit index the documents draw on."""
    from .services import render_document

    planned, subjects = _plan(subject, snap)
    with tempfile.TemporaryDirectory(prefix="docket-pack-") as staging:
        root = Path(staging) / "pack"
        root.mkdir()
        hashes: dict[str, str] = {}

        def write(name: str, data: bytes) -> None:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            hashes[name] = hashlib.sha256(data).hexdigest()

        firsts = []
        for number, (kind, item, name) in enumerate(planned):
            progress(20 + int(50 * number / max(1, len(planned))), f"rendering {name}")
            if isinstance(item, ModelVersion):
                item = f.resolve_model_version(item.pk)
            pdf, gathered, content = render_document(kind=kind, subject=item, parameters={}, reader=reader, snap=snap)
            firsts.append(gathered["document"]["audit_index_first"])
            write(f"documents/{name}.pdf", pdf)
            write(f"facts/{name}.json", (json.dumps({"content_sha256": content, "facts": gathered}, indent=2,
                                                    sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
        write(f"checkpoint/{snap.tree_size}.checkpoint", snap.note.encode("utf-8"))
        progress(75, "exporting the audit-log slices")
        slices = []
        (root / "audit").mkdir()
        for subject_type, subject_id in subjects:
            folder = f"audit/{subject_type}-{subject_id}"
            try:
                summary = export_pack(destination=root / folder, subject_type=subject_type, subject_id=subject_id)
            except ValidationFailed:
                continue  # no entry about this subject (e.g. created before Docket recorded it)
            for path in sorted((root / folder).rglob("*")):
                if path.is_file():
                    hashes[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
            entry = {"subject_type": subject_type, "subject_id": subject_id, "path": folder,
                     "entries": summary.entry_count, "newest_checkpoint": summary.checkpoint_size}
            if summary.checkpoint_size > snap.tree_size:
                proof = proofs.consistency_proof(old_size=snap.tree_size, new_size=summary.checkpoint_size)
                write(f"{folder}.consistency", format_consistency_proof(
                    old_size=snap.tree_size, new_size=summary.checkpoint_size, proof=proof).encode("utf-8"))
                entry["consistency_proof"] = f"{folder}.consistency"
            slices.append(entry)
        keys = [key.vkey for key in audit_selectors.signing_keys()]
        write("keys/verifier-keys.txt", ("# Docket audit-log verifier keys; pin the key from an independent source\n"
                                         + "\n".join(keys) + "\n").encode("utf-8"))
        write("README.md", _readme(subject, snap, planned, slices).encode("utf-8"))
        files = dict(sorted(hashes.items()))
        manifest = {"format": PACK_FORMAT, "subject": str(subject), "checkpoint": snap.describe(),
                    "documents": [f"documents/{name}.pdf" for _, _, name in planned], "audit_slices": slices,
                    "files": files}
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        progress(85, "packaging")
        archive = Path(staging) / "pack.tar.gz"
        folder_name = f"docket-compliance-pack-cp{snap.tree_size}"
        with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    info = tarfile.TarInfo(f"{folder_name}/{path.relative_to(root).as_posix()}")
                    info.size, info.mode = path.stat().st_size, 0o644
                    info.mtime = int(snap.signed_at.timestamp())
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
        data = archive.read_bytes()
    content = hashlib.sha256(json.dumps({k: v for k, v in files.items() if not k.startswith("audit/")},
                                        sort_keys=True).encode()).hexdigest()
    known = [first for first in firsts if first is not None]
    return data, {"content_sha256": content, "files": {k: v for k, v in files.items() if not k.startswith("audit/")},
                  "audit_slices": slices, "audit_index_first": min(known) if known else snap.last_index}


def _readme(subject, snap: f.Snapshot, planned, slices) -> str:
    documents = "\n".join(f"- `documents/{name}.pdf` and `facts/{name}.json` — {DocumentKind(kind).label}"
                          for kind, _, name in planned) or "- (no documents: nothing registered yet)"
    commands = []
    for item in slices:
        line = (f"    docket-verify {item['path']} --key \"$KEY\" "
                f"--previous-checkpoint checkpoint/{snap.tree_size}.checkpoint")
        if item.get("consistency_proof"):
            line += f" --consistency-proof {item['consistency_proof']}"
        commands.append(line)
    return f"""# Docket compliance evidence pack

Subject: {subject}
The documents reflect the audit log up to the signed checkpoint of {snap.tree_size} entries
(root {snap.root_hash}, signed {f.when(snap.signed_at)}), kept as `checkpoint/{snap.tree_size}.checkpoint`.

## Contents

{documents}
- `audit/<subject>/` — the audit-log entries about each subject the documents draw on, as Docket audit
  evidence packs (entries, C2SP tlog-proof inclusion proofs, signed checkpoints, consistency proofs).
- `audit/<subject>.consistency` — a consistency proof from the documents' checkpoint to the slice's newest.
- `keys/verifier-keys.txt` — the log's verifier keys (informational: pin the key yourself).
- `manifest.json` — the SHA-256 of every file.

Each `facts/*.json` holds the facts its PDF shows and their `content_sha256`, which the PDF prints on
its last page. The SHA-256 of this pack and of each PDF is recorded in the audit log entry
`reports.document.generated` written when the pack was made (it is after the checkpoint, so it is
not inside this pack: ask Docket's audit API for it and its inclusion proof).

## Verify

Obtain Docket's verifier key from a source independent of this pack and set `KEY` to it. Then verify
each audit slice against it and against the checkpoint the documents reflect:

{chr(10).join(commands) or '    (no audit entries about these subjects)'}

`docket-verify` ships with Docket (`apps/audit/verifier.py`; Python 3.11+ and `cryptography`). Exit
status 0 means every entry in the slice is byte for byte in the signed log, consistent with the
documents' checkpoint. Then check `manifest.json`'s hashes (`sha256sum`) against the files.
"""
