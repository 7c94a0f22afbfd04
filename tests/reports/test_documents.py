"""The PDFs themselves: text extracted with pypdf shows every section, the key numbers (metrics, fairness
values, signatures, hashes) and MISSING markers for an incomplete system; regenerating from the same
checkpoint gives the same bytes; pages render to PNG with poppler's pdftoppm."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from apps.audit.services import SYSTEM
from apps.registry import services as registry
from apps.reports.documents.checklist import ARTICLE_TOPICS, MODEL_CARD_SECTIONS, SR_11_7_FIELDS
from apps.reports.models import DocumentStatus
from apps.reviews.models import Decision
from tests.factories.reviews import trained_model_version

from .conftest import generate, pdf_pages, pdf_text

ANNEX_IV_HEADINGS = [
    "Classification and its rationale", "1. General description of the AI system", "2. Development of the system",
    "2(d) Data requirements and datasheets (Art. 10)", "2(g) Validation and testing",
    "3. Monitoring, functioning and control", "Accuracy for specific persons or groups (fairness)",
    "4. Appropriateness of the performance metrics", "5. Risk management system (Art. 9)",
    "6. Relevant changes through the lifecycle", "7. Harmonised standards applied", "8. EU declaration of conformity",
    "9. Post-market monitoring plan (Art. 72)", "Approvals", "Obligations of Art. 9-15, 17 and 72",
    "Verifying this document",
]


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def compact(text: str) -> str:
    """Without whitespace: long hashes wrap inside table cells."""
    return re.sub(r"\s+", "", text)


def test_annex_iv_of_a_complete_system_shows_every_section_number_signature_and_hash(complete_system, submitter):
    version, case = complete_system
    document = generate(submitter, "annex_iv", version)
    assert document.status == DocumentStatus.DONE, document.error
    pages = pdf_pages(document)
    text = flat("\n".join(pages))
    for heading in ANNEX_IV_HEADINGS:
        assert heading in text, heading
    for article, topic in ARTICLE_TOPICS:
        assert f"{article} {topic.split(' (')[0]}" in text or article in text
    assert "Contents" in pages[1]
    assert all(f"of {len(pages)}" in page for page in pages)
    assert f"page 1 of {len(pages)}" in pages[0]
    assert "High risk (Art. 6)" in text and "III-5-b" in text and "Creditworthiness of natural persons" in text
    assert version.artifact_sha256 in compact(text)
    # Fairness per group and the disparity measures, with the locked limits of the policy.
    for figure in ("0.2791", "0.2642", "0.9466", "0.0149", "0.0125", "min 0.8", "max 0.1"):
        assert figure in text, figure
    # Claimed metrics as registered, and Docket's re-computation.
    claimed = {claim.name: claim.value for claim in version.claimed_metrics.all()}
    assert f"accuracy = {claimed['accuracy']:.4f}" in text and "0.7817" in text
    # Signatures with printed name, time and meaning, and their manifest hashes.
    for decision in Decision.objects.filter(case=case):
        assert decision.signer_printed_name in text
        assert decision.manifest_sha256 in compact(text)
        assert decision.signed_at.strftime("%Y-%m-%d %H:%M:%S") in text
    assert "Validated: the evidence was independently reviewed" in text
    assert "Approved: the model version may be used" in text
    # Datasheets of both datasets, and the documentation given with the submission.
    for link in version.dataset_links.all():
        assert link.dataset_version.content_sha256 in compact(text)
    assert "Documented human oversight." in text and "Documented post market monitoring plan." in text
    # The registration carried no hyperparameters: the one item left, and it is said so.
    assert re.findall(r"MISSING — needed: ([^.(]+)", text) == ["the hyperparameters 2"]
    # Last page: content hash, checkpoint and how to verify.
    last = flat(pages[-1])
    assert document.content_sha256 in compact(last)
    assert f"Signed checkpoint: tree size {document.checkpoint_tree_size}" in last
    assert "reports.document.generated" in last and "docket-verify" in last
    assert f"index {document.audit_index_first} to {document.audit_index_last}" in last


def test_annex_iv_of_an_incomplete_system_marks_each_absent_item_missing_with_what_is_needed(
        incomplete_system, developer):
    document = generate(developer, "annex_iv", incomplete_system)
    text = flat(pdf_text(document))
    for needed in (
        "an EU AI Act classification of the use case",
        "the training, validation and test dataset versions the model used",
        "an independent review of this version",
        "the human oversight measures and their assessment",
        "the post-market monitoring plan",
        "a completed fairness check",
        "a completed explainability (SHAP) check",
        "an approval of this version",
        "who the system is used on",
        "the known limitations",
        "claimed metrics on a test dataset",
    ):
        assert f"MISSING — needed: {needed}" in text, needed
    assert text.count("MISSING") >= 25
    # Facts the registry holds are printed, not marked missing.
    assert "Rank applications for recruiters." in text and incomplete_system.artifact_sha256 in compact(text)


def test_model_card_has_the_mitchell_sections_with_fairness_values_and_missing_items(
        complete_system, incomplete_system, submitter, developer):
    version, _ = complete_system
    text = flat(pdf_text(generate(submitter, "model_card", version)))
    for section in MODEL_CARD_SECTIONS:
        assert section in text, section
    assert "Dee Developer (dee-developer)" in text and "0.9466" in text and "Documented licence." in text
    assert "MISSING" not in text
    bare = flat(pdf_text(generate(developer, "model_card", incomplete_system)))
    for needed in ("the model's licence", "a test or validation dataset version", "ethical considerations",
                   "a completed fairness check"):
        assert f"MISSING — needed: {needed}" in bare, needed


def test_validation_report_shows_policy_locked_thresholds_checks_findings_acceptance_and_signatures(
        complete_system, submitter):
    _, case = complete_system
    text = flat(pdf_text(generate(submitter, "validation_report", case)))
    for heading in ("Policy and locked thresholds", "Check results", "Findings and their resolution",
                    "Risk acceptances", "Signatures (21 CFR Part 11 §11.50)", "Approval"):
        assert heading in text, heading
    assert f"{case.policy.key} v{case.policy.version}" in text and case.policy_snapshot_sha256 in compact(text)
    assert "demographic_parity_ratio_min 0.8" in text
    for result in case.check_results.all():
        assert result.result_sha256 in compact(text)
    assert "Retention date of the test data is too short." in text
    assert "Thin data for age 61+" in text and "Monitoring added for the 61+ band." in text
    assert "Retention extended by contract." in text
    for decision in Decision.objects.filter(case=case):
        assert decision.signer_printed_name in text and decision.manifest_sha256 in compact(text)
    assert "Re-validate in 6 months" in text


def test_audit_extract_lists_entries_with_the_covering_checkpoint_and_verification_result(complete_system, auditor):
    _, case = complete_system
    document = generate(auditor, "audit_extract", case)
    text = flat(pdf_text(document))
    assert "reviews.case.opened" in compact(text) and "reviews.case.checks_completed" in compact(text)
    assert "Review case opened" in text
    assert f"tree size {document.checkpoint_tree_size}" in text
    assert "every entry verified" in text and "valid, signed by docket" in text.lower()


def test_model_inventory_lists_only_use_cases_the_reader_may_see_with_sr_11_7_fields(
        complete_system, submitter, outsider):
    text = flat(pdf_text(generate(submitter, "model_inventory")))
    for label in SR_11_7_FIELDS:
        assert label in text, label
    assert "credit-scoring/model-11-logistic" in text and "Vera Validator" in text
    assert "365 days (policy" in text
    hidden = flat(pdf_text(generate(outsider, "model_inventory")))
    assert "credit-scoring" not in hidden and "0 models in 0 use cases" in hidden


def test_model_inventory_names_the_developers_and_says_when_only_the_registrant_is_known(
        complete_system, use_case, submitter):
    """The trained version was registered by Dee without naming anyone (Dee is its developer); a pipeline
    registered a second model naming Ann and Sam; a third model's version came from the pipeline alone."""
    import numpy as np
    import skops.io
    from django.core.files.base import ContentFile
    from guardian.shortcuts import assign_perm
    from sklearn.linear_model import LogisticRegression

    from apps.accounts.models import User
    from tests.factories.accounts import UserFactory
    from tests.factories.registry import ModelFactory

    UserFactory(username="ann-analyst", first_name="Ann", last_name="Analyst")
    pipeline = User.objects.create(username="svc.credit-ci", kind=User.Kind.SERVICE)
    assign_perm("registry.submit_to_usecase", pipeline, use_case)
    artifact = skops.io.dumps(LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1]))
    for key, developers in (("named", ["ann-analyst", "sam-submitter"]), ("unnamed", [])):
        registry.model_version_register(
            actor=pipeline, model=ModelFactory(use_case=use_case, key=key), developers=developers,
            artifact=ContentFile(artifact, name="model.skops"), framework="scikit-learn", intended_use="Tests.")

    text = flat(pdf_text(generate(submitter, "model_inventory")))

    developer_rows = re.findall(r"Developers (.+?) Validators", text)
    assert developer_rows == [
        "Dee Developer (dee-developer)",  # credit-scoring/model-11-logistic
        "Ann Analyst (ann-analyst), Sam Submitter (sam-submitter)",  # credit-scoring/named
        "registered by svc.credit-ci (svc.credit-ci); no developers recorded",  # credit-scoring/unnamed
    ], text


def test_regenerating_from_the_same_checkpoint_gives_the_same_bytes_after_the_registry_changed(
        complete_system, submitter, developer, use_case):
    version, _ = complete_system
    first = generate(submitter, "annex_iv", version)
    # Later changes: a new version, a changed purpose and tier. The old checkpoint's document stays the same.
    trained_model_version(use_case=use_case, registered_by=developer, rows=600, model_key=version.model.key, seed=12)
    registry.use_case_update(actor=SYSTEM, use_case=use_case, intended_purpose="A new purpose.")
    registry.use_case_set_risk_tier(actor=SYSTEM, use_case=use_case, tier="2", rationale="Lower volume.")
    again = generate(submitter, "annex_iv", version, checkpoint_tree_size=first.checkpoint_tree_size)
    assert again.pk != first.pk
    assert again.sha256 == first.sha256 and again.content_sha256 == first.content_sha256
    current = generate(submitter, "annex_iv", version)
    assert current.checkpoint_tree_size > first.checkpoint_tree_size
    assert current.sha256 != first.sha256
    text = flat(pdf_text(current))
    assert "A new purpose." in text and "v2" in text and "Lower volume." in text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (Debian poppler-utils) is not installed; "
                                                             "make test installs it")
def test_pages_render_to_png_with_pdftoppm(incomplete_system, developer, tmp_path):
    document = generate(developer, "annex_iv", incomplete_system)
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "3", document.file.path,
                    str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3
    for page in pages:
        data = page.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
