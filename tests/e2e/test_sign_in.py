"""Signing in and out of the web UI in a real browser."""

import pytest

from apps.accounts.roles import Role
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_validator_signs_in_sees_dashboard_with_roles_and_signs_out(page, sign_in, screenshot):
    user = UserFactory(username="val-e2e", first_name="Vera", last_name="Validator", roles=[Role.VALIDATOR])

    sign_in(page, user)

    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    assert "validator" in page.get_by_label("Your roles").inner_text()
    assert "Vera Validator" in page.locator(".who-name").inner_text()
    screenshot(page, "dashboard-empty")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/**")
    page.goto("/")
    assert "/accounts/login/" in page.url


def test_wrong_password_at_sign_in_shows_error_and_stays_signed_out(page, sign_in):
    user = UserFactory(username="val-wrong", roles=[Role.VALIDATOR])

    sign_in(page, user, password="not-the-password-at-all")

    assert page.get_by_role("alert").is_visible()
    assert "/accounts/login/" in page.url
    assert page.get_by_role("button", name="Sign out").count() == 0
