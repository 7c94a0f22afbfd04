"""An auditor in a real browser: browses and filters the audit log, downloads an inclusion proof,
exports an evidence pack that verifies offline, and finds no control to classify, revoke or decide."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.audit.models import SigningKey
from apps.audit.services import SYSTEM, checkpoint_sign, record
from apps.audit.verifier import parse_vkey, verify_pack
from apps.registry import services as registry_services
from apps.reviews.models import Approval, CheckResult, CheckStatus, ReviewCase, ReviewPolicy, ReviewStatus
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import ModelFactory, ModelVersionFactory, UseCaseFactory

pytestmark = pytest.mark.django_db(transaction=True)

ACTING_CONTROLS = re.compile(r"revoke|classify|approve|validate|decide|record this", re.IGNORECASE)


@pytest.fixture
def record_of_a_use_case(django_db_setup):
    """A classified use case with a model version, an approval about to expire, and a few log entries."""
    from django.core.management import call_command

    call_command("load_reference_data", verbosity=0)
    team = TeamFactory(key="credit-risk")
    use_case = UseCaseFactory(key="credit-scoring", name="Consumer credit scoring", owner_team=team)
    classifier = UserFactory(username="cleo-classifier", roles=[Role.VALIDATOR])
    assign_perm("registry.review_usecase", classifier, use_case)
    registry_services.use_case_classify(
        actor=classifier, use_case=use_case, art5_answers={letter: False for letter in "abcdefgh"},
        annex_i_safety_component=False, annex_iii_code="III-5-b", profiles_natural_persons=True,
        rationale="Creditworthiness of natural persons (Annex III point 5(b)); it profiles applicants.",
    )
    version = ModelVersionFactory(model=ModelFactory(use_case=use_case, key="default-lr"), number=1)
    with transaction.atomic():
        record(actor=SYSTEM, action=Action.REGISTRY_MODEL_VERSION_REGISTERED, subject=version, data={"number": 1})
    policy = ReviewPolicy.objects.create(key="e2e", version=1, name="E2E", required_checks=["documentation"],
                                         thresholds={}, approval_validity_days=180, change_reason="e2e")
    case = ReviewCase(model_version=version, environment="production", status=ReviewStatus.APPROVED, policy=policy,
                      policy_snapshot=policy.snapshot(), policy_snapshot_sha256="0" * 64, thresholds={},
                      submitted_by=classifier)
    case.save()
    CheckResult.objects.create(case=case, kind="documentation", status=CheckStatus.PASSED)
    approved = timezone.now() - dt.timedelta(days=170)
    Approval(case=case, model_version=version, artifact_sha256=version.artifact_sha256, environment="production",
             approved_at=approved, expires_at=approved + dt.timedelta(days=180),
             conditions=["Human review of every decline."]).save()
    for n in range(3):
        with transaction.atomic():
            record(actor=SYSTEM, action=Action.REGISTRY_USE_CASE_UPDATED, subject=use_case, data={"n": n})
    checkpoint_sign()
    return use_case


def test_auditor_browses_filters_downloads_a_proof_exports_a_pack_and_cannot_act(
    page, sign_in, screenshot, record_of_a_use_case, tmp_path
):
    auditor = UserFactory(username="audrey-e2e", first_name="Audrey", last_name="Auditor", roles=[Role.AUDITOR])
    use_case = record_of_a_use_case
    sign_in(page, auditor)

    # The audit log: newest first, with the verification badge.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Audit log"
    assert page.get_by_role("table").locator("tbody tr").count() == 5
    assert "Latest checkpoint verified" in page.get_by_role("region", name="Verification").inner_text()
    screenshot(page, "audit-browser")

    # Filter by action.
    page.get_by_label("Action").select_option(str(Action.REGISTRY_USE_CASE_CLASSIFIED))
    page.get_by_role("button", name="Filter", exact=True).click()
    rows = page.get_by_role("table").locator("tbody tr")
    assert rows.count() == 1
    assert "Use case classified under the EU AI Act" in rows.first.inner_text()

    # The subject link leads to the use case page; the entry link to the entry and its proof.
    rows.first.get_by_role("link", name=re.compile("^Entry ")).click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Audit entry #")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download inclusion proof").click()
    proof = json.loads(download_info.value.path().read_text())
    assert set(proof) == {"entry", "checkpoint", "inclusion_proof", "tlog_proof"}
    assert proof["entry"]["action"] == str(Action.REGISTRY_USE_CASE_CLASSIFIED)
    assert proof["tlog_proof"].startswith("c2sp.org/tlog-proof@v1\n")

    # Every entry about the use case, then an evidence pack for that filter.
    page.get_by_role("link", name="all entries about it").click()
    assert page.get_by_role("table").locator("tbody tr").count() == 4
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export evidence pack for this filter").click()
    pack = tmp_path / "pack.tar.gz"
    download_info.value.save_as(pack)
    report = verify_pack(pack, keys=[parse_vkey(key.vkey) for key in SigningKey.objects.all()])
    assert (report.kind, report.entry_count) == ("subject", 4)
    assert page.get_by_role("button", name=ACTING_CONTROLS).count() == 0

    # The use case page: facts and history, no classification control.
    page.goto(f"/registry/use-cases/{use_case.key}/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Consumer credit scoring")
    assert "High risk (Art. 6)" in page.locator("#classification-heading + p").inner_text()
    assert page.get_by_role("link", name=ACTING_CONTROLS).count() == 0
    assert page.get_by_role("button", name=ACTING_CONTROLS).count() == 0
    screenshot(page, "use-case-page")
    assert page.goto(f"/registry/use-cases/{use_case.key}/classify/").status == 403

    # Gate approvals: the expiring approval is highlighted; no revoke control for an auditor.
    page.goto("/gate/approvals/")
    assert page.get_by_role("heading", level=1).inner_text() == "Approvals"
    assert "Expiring soon" in page.get_by_role("table").inner_text()
    assert page.get_by_role("link", name=ACTING_CONTROLS).count() == 0
    assert page.get_by_role("button", name=ACTING_CONTROLS).count() == 0
    screenshot(page, "gate-approvals")
    approval = Approval.objects.get()
    assert page.goto(f"/gate/approvals/{approval.pk}/revoke/").status == 403

    page.goto("/gate/decisions/")
    assert page.get_by_role("heading", level=1).inner_text() == "Gate decisions"
    assert page.get_by_role("button", name=ACTING_CONTROLS).count() == 0
