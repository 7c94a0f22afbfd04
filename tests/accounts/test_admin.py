import pytest
from django.urls import reverse

from apps.accounts import keys
from apps.accounts.models import ApiKey, ServiceAccount, Team, User
from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from tests.accounts.conftest import last_entry
from tests.factories.accounts import ApiKeyFactory, ServiceAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = UserFactory(username="ada", roles=[Role.ADMIN], is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.admin = admin
    return client


def test_admin_lists_render(admin_client):
    ApiKeyFactory(service_account=ServiceAccountFactory(name="ci"))
    for model in ("user", "team", "serviceaccount", "apikey"):
        assert admin_client.get(reverse(f"admin:accounts_{model}_changelist")).status_code == 200
    api_key = ApiKey.objects.get()
    page = admin_client.get(reverse("admin:accounts_apikey_change", args=[api_key.pk]))
    assert page.status_code == 200 and api_key.secret_hash in page.content.decode()


def test_adding_a_team_in_the_admin_goes_through_the_service(admin_client):
    response = admin_client.post(reverse("admin:accounts_team_add"), {"key": "credit", "name": "Credit"})

    assert response.status_code == 302
    team = Team.objects.get(key="credit")
    assert team.group.name == "team:credit"
    assert last_entry().action == Action.ACCOUNTS_TEAM_CREATED


def test_adding_a_user_in_the_admin_goes_through_the_service(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"username": "vera", "first_name": "Vera", "last_name": "V", "email": "", "password": "",
         "roles": ["validator"]},
    )

    assert response.status_code == 302
    vera = User.objects.get(username="vera")
    assert vera.has_role(Role.VALIDATOR) and not vera.has_usable_password()
    assert last_entry().action == Action.ACCOUNTS_USER_CREATED


def test_a_refusal_by_the_service_saves_nothing_and_shows_the_reason(client):
    operator = UserFactory(is_staff=True, is_superuser=True)  # a Django superuser without the admin role
    client.force_login(operator)

    response = client.post(reverse("admin:accounts_team_add"), {"key": "credit", "name": "Credit"}, follow=True)

    assert "Only administrators may create teams." in response.content.decode()
    assert not Team.objects.exists() and not AuditEntry.objects.exists()


def test_issuing_a_key_in_the_admin_shows_it_once(admin_client):
    account = ServiceAccountFactory(name="ci")
    url = reverse("admin:accounts_serviceaccount_changelist")

    form_page = admin_client.post(url, {"action": "issue_api_key", "_selected_action": [account.pk]})
    assert form_page.status_code == 200 and not ApiKey.objects.exists()
    response = admin_client.post(
        url, {"action": "issue_api_key", "_selected_action": [account.pk], "apply": "1", "label": "CI",
              "expires_in_days": "30"},
    )

    api_key = ApiKey.objects.get()
    page = response.content.decode()
    plaintext = next(word for word in page.split() if word.startswith(f"dkt_{api_key.prefix}_"))
    assert keys.hash_key(plaintext) == api_key.secret_hash
    assert last_entry().action == Action.ACCOUNTS_API_KEY_ISSUED
    assert plaintext not in admin_client.get(reverse("admin:accounts_apikey_changelist")).content.decode()


def test_revoking_keys_in_the_admin_asks_for_a_reason(admin_client):
    api_key = ApiKeyFactory()
    url = reverse("admin:accounts_apikey_changelist")

    admin_client.post(url, {"action": "revoke_api_keys", "_selected_action": [api_key.pk], "apply": "1",
                            "reason": ""})
    api_key.refresh_from_db()
    assert not api_key.is_revoked

    admin_client.post(url, {"action": "revoke_api_keys", "_selected_action": [api_key.pk], "apply": "1",
                            "reason": "rotation"})
    api_key.refresh_from_db()
    assert api_key.is_revoked and api_key.revocation_reason == "rotation"
    assert last_entry().action == Action.ACCOUNTS_API_KEY_REVOKED


def test_deactivating_a_service_account_in_the_admin(admin_client):
    account = ServiceAccountFactory()

    admin_client.post(reverse("admin:accounts_serviceaccount_changelist"),
                      {"action": "deactivate_service_accounts", "_selected_action": [account.pk]})

    account.refresh_from_db()
    assert not account.is_active
    assert ServiceAccount.objects.filter(is_active=True).count() == 0
