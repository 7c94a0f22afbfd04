"""Evidence packs: PDFs, the same facts as JSON, audit-log slices with proofs and the documents'
checkpoint, verifier keys and a README; each slice verifies with docket-verify."""

from __future__ import annotations

import hashlib
import json
import tarfile

from apps.audit import verifier
from apps.audit.models import AuditEntry, SigningKey
from apps.reports.models import DocumentStatus

from .conftest import generate


def _extract(document, tmp_path):
    target = tmp_path / "extracted"
    with tarfile.open(document.file.path) as archive:
        archive.extractall(target, filter="data")
    (root,) = list(target.iterdir())
    return root


def test_review_case_pack_holds_documents_facts_and_audit_slices_that_verify(complete_system, submitter, tmp_path,
                                                                                capsys):
    version, case = complete_system
    document = generate(submitter, "evidence_pack", case)
    assert document.status == DocumentStatus.DONE, document.error
    assert document.content_type == "application/gzip" and document.file_name.endswith(".tar.gz")
    root = _extract(document, tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name
    names = set(manifest["files"])
    report = f"documents/validation-report-review-{case.pk}.pdf"
    assert {report, f"documents/annex-iv-{version.model.key}-v1.pdf", f"documents/model-card-{version.model.key}-v1.pdf",
            f"checkpoint/{document.checkpoint_tree_size}.checkpoint", "keys/verifier-keys.txt", "README.md"} <= names
    facts = json.loads((root / f"facts/validation-report-review-{case.pk}.json").read_text())
    assert facts["facts"]["review"]["id"] == case.pk
    assert [s["printed_name"] for s in facts["facts"]["review"]["signatures"]] == ["Vera Validator", "Ada Approver"]
    # The generated entry lists the PDFs' hashes, so each PDF is bound into the log.
    entry = AuditEntry.objects.get(index=document.audit_index)
    assert entry.data["files"][report] == manifest["files"][report]
    assert entry.data["sha256"] == hashlib.sha256(document.file.open("rb").read()).hexdigest()
    # Every audit slice verifies with pinned keys, consistent with the documents' checkpoint.
    slices = manifest["audit_slices"]
    assert {item["subject_type"] for item in slices} >= {"reviews.reviewcase", "registry.modelversion",
                                                         "reviews.decision"}
    key = SigningKey.objects.get().vkey
    for item in slices:
        argv = [str(root / item["path"]), "--key", key, "--previous-checkpoint",
                str(root / f"checkpoint/{document.checkpoint_tree_size}.checkpoint")]
        if item.get("consistency_proof"):
            argv += ["--consistency-proof", str(root / item["consistency_proof"])]
        assert verifier.main(argv) == 0, capsys.readouterr()
    readme = (root / "README.md").read_text()
    assert "docket-verify audit/reviews.reviewcase-" in readme and str(document.checkpoint_tree_size) in readme


def test_use_case_pack_covers_the_latest_version_of_each_model_and_its_reviews(complete_system, submitter, tmp_path):
    version, case = complete_system
    document = generate(submitter, "evidence_pack", version.model.use_case)
    root = _extract(document, tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["documents"] == [f"documents/annex-iv-{version.model.key}-v1.pdf",
                                     f"documents/model-card-{version.model.key}-v1.pdf",
                                     f"documents/validation-report-review-{case.pk}.pdf"]
    assert any(item["subject_type"] == "registry.usecase" for item in manifest["audit_slices"])


def test_a_tampered_slice_fails_verification(complete_system, submitter, tmp_path, capsys):
    _, case = complete_system
    document = generate(submitter, "evidence_pack", case)
    root = _extract(document, tmp_path)
    item = next(item for item in json.loads((root / "manifest.json").read_text())["audit_slices"]
                if item["subject_type"] == "reviews.reviewcase")
    entries = root / item["path"] / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace(b'"production"', b'"development"', 1))
    assert verifier.main([str(root / item["path"]), "--key", SigningKey.objects.get().vkey]) == 1
    assert "FAILED" in capsys.readouterr().out
