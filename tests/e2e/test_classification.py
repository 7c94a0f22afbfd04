"""The classification wizard in a real browser: the live preview follows the answers (htmx), the
service's refusal of an Art. 6(3) exemption for a profiling system shows by the field and records
nothing, and a corrected submission records the decision."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.registry.models import ClassificationDecision
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import UseCaseFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_validator_classifies_a_use_case_with_the_wizard(page, sign_in, screenshot):
    call_command("load_reference_data", verbosity=0)
    use_case = UseCaseFactory(key="credit-scoring", name="Consumer credit scoring", owner_team=TeamFactory())
    validator = UserFactory(username="val-wizard", roles=[Role.VALIDATOR])
    assign_perm("registry.review_usecase", validator, use_case)
    sign_in(page, validator)

    page.goto(f"/registry/use-cases/{use_case.key}/")
    page.get_by_role("link", name="Classify this use case").click()
    preview = page.locator("#classification-preview")
    for letter in "abcdefgh":
        page.locator(f"#id_art5_{letter}_1").check()  # "No"
    page.locator("#id_art5_c_0").check()  # social scoring: "Yes"
    preview.get_by_text("Prohibited (Art. 5)").wait_for()
    page.locator("#id_art5_c_1").check()
    page.locator("#id_annex_i_safety_component_1").check()
    page.get_by_label("Annex III point").select_option("III-5-b")
    page.locator("#id_profiles_natural_persons_0").check()  # profiles: "Yes"
    preview.get_by_text("High risk (Art. 6)").wait_for()
    page.get_by_label("Art. 6(3) exemption").select_option("d")
    page.get_by_label("Why the exemption applies").fill("It only prepares the file for a credit officer.")
    page.get_by_label("Rationale for this classification").fill("Creditworthiness of natural persons.")
    screenshot(page, "classification-wizard")
    page.get_by_role("button", name="Record this classification").click()

    error = page.locator("#id_art6_3_exemption-errors")
    assert "profiles natural persons is always high risk" in error.inner_text()
    assert ClassificationDecision.objects.count() == 0

    page.get_by_label("Art. 6(3) exemption").select_option("")
    page.get_by_label("Why the exemption applies").fill("")
    page.get_by_role("button", name="Record this classification").click()
    page.get_by_text("Classification recorded: High risk (Art. 6).").wait_for()
    decision = ClassificationDecision.objects.get()
    assert (decision.risk_class, decision.annex_iii_point_id, decision.decided_by_id) == ("high", "III-5-b", validator.pk)
