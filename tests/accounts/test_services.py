import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.accounts import keys, services
from apps.accounts.models import ApiKey, ServiceAccount, Team, User
from apps.accounts.roles import Role
from apps.accounts.scopes import Scope
from apps.accounts.selectors import user_roles
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM
from apps.common.errors import Conflict, DuplicateKey, PermissionDenied, ValidationFailed
from tests.accounts.conftest import last_entry
from tests.factories.accounts import ApiKeyFactory, ServiceAccountFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "quiet-harbour-lantern-42"


def snapshot():
    """Everything a refused accounts service could have touched."""
    return {
        "users": list(User.objects.order_by("pk").values_list("pk", "username", "is_active")),
        "memberships": sorted(User.groups.through.objects.values_list("user_id", "group_id")),
        "groups": sorted(Group.objects.values_list("name", flat=True)),
        "teams": list(Team.objects.order_by("pk").values_list("pk", "key", "name")),
        "service_accounts": list(ServiceAccount.objects.order_by("pk").values_list("pk", "name", "is_active")),
        "api_keys": list(ApiKey.objects.order_by("pk").values_list("pk", "revoked_at", "revocation_reason")),
        "object_permissions": UserObjectPermission.objects.count() + GroupObjectPermission.objects.count(),
        "audit_entries": AuditEntry.objects.count(),
    }


# --- user_create -------------------------------------------------------------------------------------


def test_user_create_makes_a_person_with_roles_and_records_it_without_the_password(admin):
    user = services.user_create(
        actor=admin, username="val", password=STRONG_PASSWORD, first_name="Vera", last_name="Lidator",
        email="vera@example.test", roles=[Role.VALIDATOR, "approver"],
    )

    user.refresh_from_db()
    assert user.kind == User.Kind.HUMAN
    assert user.check_password(STRONG_PASSWORD)
    assert user_roles(user) == [Role.VALIDATOR, Role.APPROVER]
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_USER_CREATED
    assert (entry.subject_type, entry.subject_id) == ("accounts.user", str(user.pk))
    assert (entry.actor_type, entry.actor_name) == ("user", "Ada Admin")
    assert entry.data == {
        "username": "val", "name": "Vera Lidator", "email": "vera@example.test", "kind": "human",
        "roles": ["validator", "approver"], "password_set": True,
    }
    encoded = bytes(entry.encoded).decode()
    assert STRONG_PASSWORD not in encoded and user.password not in encoded


def test_user_create_without_password_leaves_it_unusable_and_system_may_create():
    user = services.user_create(actor=SYSTEM, username="sso-only")

    assert not user.has_usable_password()
    entry = last_entry()
    assert entry.actor_type == "system"
    assert entry.data["password_set"] is False and entry.data["roles"] == []


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"username": "x", "roles": ["superhero"]}, ValidationFailed, "roles"),
        ({"username": "x", "password": "password"}, ValidationFailed, "password"),
        ({"username": "x", "password": "12345678901234"}, ValidationFailed, "password"),
        ({"username": "bad name!"}, ValidationFailed, "username"),
        ({"username": ""}, ValidationFailed, "username"),
        ({"username": "x", "email": "not-an-email"}, ValidationFailed, "email"),
        ({"username": "svc.pretender"}, ValidationFailed, "username"),
    ],
    ids=["unknown-role", "common-password", "numeric-password", "invalid-username", "empty-username",
         "invalid-email", "reserved-service-prefix"],
)
def test_user_create_refuses_bad_input_and_changes_nothing(admin, kwargs, error, field):
    before = snapshot()

    with pytest.raises(error) as refused:
        services.user_create(actor=admin, **kwargs)

    assert field in refused.value.field_errors
    assert snapshot() == before


def test_user_create_refuses_a_duplicate_username_in_any_case(admin):
    UserFactory(username="alice")
    before = snapshot()

    with pytest.raises(DuplicateKey, match="already exists"):
        services.user_create(actor=admin, username="ALICE")

    assert snapshot() == before


@pytest.mark.parametrize("role", [Role.SUBMITTER, Role.VALIDATOR, Role.APPROVER, Role.AUDITOR])
def test_user_create_refuses_non_admin_actors_and_changes_nothing(role):
    actor = UserFactory(roles=[role])
    before = snapshot()

    with pytest.raises(PermissionDenied, match="Only administrators"):
        services.user_create(actor=actor, username="newcomer")

    assert snapshot() == before


def test_user_create_refuses_a_deactivated_admin_and_a_service_account():
    former_admin = UserFactory(roles=[Role.ADMIN], is_active=False)
    service_user = ServiceAccountFactory().user
    before = snapshot()

    for actor in (former_admin, service_user):
        with pytest.raises(PermissionDenied):
            services.user_create(actor=actor, username="newcomer")

    assert snapshot() == before


# --- user_set_roles ----------------------------------------------------------------------------------


def test_user_set_roles_replaces_roles_and_records_before_and_after(admin):
    user = UserFactory(roles=[Role.SUBMITTER, Role.VALIDATOR])

    services.user_set_roles(actor=admin, user=user, roles=[Role.VALIDATOR, Role.APPROVER])

    assert user_roles(user) == [Role.VALIDATOR, Role.APPROVER]
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_USER_ROLES_CHANGED
    assert entry.subject_id == str(user.pk)
    assert entry.data == {"username": user.username, "before": ["submitter", "validator"],
                          "after": ["validator", "approver"]}


def test_user_set_roles_keeps_team_membership(admin):
    team = TeamFactory()
    user = UserFactory(roles=[Role.SUBMITTER], teams=[team])

    services.user_set_roles(actor=admin, user=user, roles=[])

    assert team.has_member(user) and user_roles(user) == []


def test_user_set_roles_refuses_unknown_role_and_changes_nothing(admin):
    user = UserFactory(roles=[Role.SUBMITTER])
    before = snapshot()

    with pytest.raises(ValidationFailed, match="Unknown role 'owner'"):
        services.user_set_roles(actor=admin, user=user, roles=["submitter", "owner"])

    assert snapshot() == before and user_roles(user) == [Role.SUBMITTER]


def test_user_set_roles_refuses_an_unchanged_set(admin):
    user = UserFactory(roles=[Role.SUBMITTER])
    before = snapshot()

    with pytest.raises(Conflict, match="already holds exactly these roles"):
        services.user_set_roles(actor=admin, user=user, roles=["submitter"])

    assert snapshot() == before


def test_user_set_roles_refuses_roles_for_service_accounts(admin):
    service_user = ServiceAccountFactory().user
    before = snapshot()

    with pytest.raises(ValidationFailed, match="scopes, not roles"):
        services.user_set_roles(actor=admin, user=service_user, roles=[Role.SUBMITTER])

    assert snapshot() == before


def test_user_set_roles_refuses_to_remove_the_last_active_admin(admin):
    before = snapshot()

    with pytest.raises(Conflict, match="without an active administrator"):
        services.user_set_roles(actor=SYSTEM, user=admin, roles=[Role.AUDITOR])

    assert snapshot() == before and user_roles(admin) == [Role.ADMIN]


def test_user_set_roles_refuses_non_admin_actor(admin):
    approver = UserFactory(roles=[Role.APPROVER])
    before = snapshot()

    with pytest.raises(PermissionDenied):
        services.user_set_roles(actor=approver, user=approver, roles=[Role.ADMIN])

    assert snapshot() == before and user_roles(approver) == [Role.APPROVER]


# --- user_deactivate ---------------------------------------------------------------------------------


def test_user_deactivate_stops_the_person_and_records_it(admin):
    user = UserFactory(roles=[Role.SUBMITTER])

    services.user_deactivate(actor=admin, user=user, reason="left the bank")

    user.refresh_from_db()
    assert not user.is_active and not user.has_role(Role.SUBMITTER)
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_USER_DEACTIVATED
    assert entry.data == {"username": user.username, "roles": ["submitter"], "reason": "left the bank"}


def test_user_deactivate_refuses_self_already_inactive_service_account_and_non_admin(admin):
    inactive = UserFactory(is_active=False)
    service_user = ServiceAccountFactory().user
    submitter = UserFactory(roles=[Role.SUBMITTER])
    before = snapshot()

    with pytest.raises(Conflict, match="your own account"):
        services.user_deactivate(actor=admin, user=admin)
    with pytest.raises(Conflict, match="already deactivated"):
        services.user_deactivate(actor=admin, user=inactive)
    with pytest.raises(ValidationFailed, match="service_account_deactivate"):
        services.user_deactivate(actor=admin, user=service_user)
    with pytest.raises(PermissionDenied):
        services.user_deactivate(actor=submitter, user=admin)

    assert snapshot() == before


def test_user_deactivate_refuses_the_last_active_admin_even_for_system(admin):
    before = snapshot()

    with pytest.raises(Conflict, match="without an active administrator"):
        services.user_deactivate(actor=SYSTEM, user=admin)

    assert snapshot() == before


# --- teams -------------------------------------------------------------------------------------------


def test_team_create_makes_the_team_and_its_group(admin):
    team = services.team_create(actor=admin, key="credit-risk", name="Credit Risk Modelling")

    assert team.group.name == "team:credit-risk"
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_TEAM_CREATED
    assert (entry.subject_type, entry.subject_id) == ("accounts.team", str(team.pk))
    assert entry.data == {"key": "credit-risk", "name": "Credit Risk Modelling", "group": "team:credit-risk"}


@pytest.mark.parametrize(
    ("key", "name", "field"),
    [("Credit Risk!", "Credit", "key"), ("", "Credit", "key"), ("credit", "  ", "name")],
    ids=["key-not-a-slug", "empty-key", "blank-name"],
)
def test_team_create_refuses_invalid_details(admin, key, name, field):
    before = snapshot()

    with pytest.raises(ValidationFailed) as refused:
        services.team_create(actor=admin, key=key, name=name)

    assert field in refused.value.field_errors
    assert snapshot() == before


def test_team_create_refuses_a_duplicate_key_and_a_stale_group(admin):
    TeamFactory(key="fraud")
    Group.objects.create(name="team:orphan")
    before = snapshot()

    with pytest.raises(DuplicateKey, match="'fraud' already exists"):
        services.team_create(actor=admin, key="fraud", name="Fraud again")
    with pytest.raises(DuplicateKey, match="'orphan' already exists"):
        services.team_create(actor=admin, key="orphan", name="Orphan")

    assert snapshot() == before


def test_team_create_refuses_non_admin():
    auditor = UserFactory(roles=[Role.AUDITOR])
    before = snapshot()

    with pytest.raises(PermissionDenied):
        services.team_create(actor=auditor, key="x", name="X")

    assert snapshot() == before


def test_team_member_add_and_remove_change_group_membership_and_are_recorded(admin):
    team = TeamFactory(key="cards")
    user = UserFactory(username="sam")

    services.team_member_add(actor=admin, team=team, user=user)
    assert team.has_member(user)
    added = last_entry()

    services.team_member_remove(actor=admin, team=team, user=user)
    assert not team.has_member(user)
    removed = last_entry()

    assert added.action == Action.ACCOUNTS_TEAM_MEMBER_ADDED
    assert removed.action == Action.ACCOUNTS_TEAM_MEMBER_REMOVED
    for entry in (added, removed):
        assert (entry.subject_type, entry.subject_id) == ("accounts.team", str(team.pk))
        assert entry.data == {"team": "cards", "user_id": user.pk, "username": "sam"}


def test_team_member_add_refuses_member_inactive_service_account_and_non_admin(admin):
    team = TeamFactory()
    member = UserFactory(teams=[team])
    inactive = UserFactory(is_active=False)
    service_user = ServiceAccountFactory().user
    before = snapshot()

    with pytest.raises(Conflict, match="already a member"):
        services.team_member_add(actor=admin, team=team, user=member)
    with pytest.raises(ValidationFailed, match="deactivated"):
        services.team_member_add(actor=admin, team=team, user=inactive)
    with pytest.raises(ValidationFailed, match="service account"):
        services.team_member_add(actor=admin, team=team, user=service_user)
    with pytest.raises(PermissionDenied):
        services.team_member_add(actor=member, team=team, user=UserFactory())

    assert snapshot()["memberships"] == before["memberships"]
    assert AuditEntry.objects.count() == 0


def test_team_member_remove_refuses_a_non_member_and_non_admin(admin):
    team = TeamFactory()
    member = UserFactory(teams=[team])
    before = snapshot()

    with pytest.raises(Conflict, match="not a member"):
        services.team_member_remove(actor=admin, team=team, user=UserFactory())
    with pytest.raises(PermissionDenied):
        services.team_member_remove(actor=member, team=team, user=member)

    assert snapshot()["memberships"] == before["memberships"]
    assert AuditEntry.objects.count() == 0


# --- service accounts --------------------------------------------------------------------------------


def test_service_account_create_makes_a_service_user_in_the_team_and_records_it(admin, make_use_case):
    team = TeamFactory(key="ml-platform")
    use_case = make_use_case(team)

    account = services.service_account_create(
        actor=admin, name="ci-deploy", team=team, description="Deploys scoring models",
        scopes=["read", Scope.GATE_CHECK, "read"], allowed_use_cases=[use_case],
    )

    account.refresh_from_db()
    assert account.scopes == ["gate:check", "read"]
    assert list(account.allowed_use_cases.all()) == [use_case]
    assert account.user.kind == User.Kind.SERVICE
    assert account.user.username == "svc.ci-deploy"
    assert not account.user.has_usable_password()
    assert team.has_member(account.user)
    assert account.created_by == admin
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_SERVICE_ACCOUNT_CREATED
    assert (entry.subject_type, entry.subject_id) == ("accounts.serviceaccount", str(account.pk))
    assert entry.data == {
        "name": "ci-deploy", "user_id": account.user.pk, "team": "ml-platform", "scopes": ["gate:check", "read"],
        "allowed_use_cases": [use_case.key], "description": "Deploys scoring models",
    }


def test_service_account_create_without_team_or_restriction_and_by_system():
    account = services.service_account_create(actor=SYSTEM, name="lineage-bridge", scopes=[Scope.LINEAGE_WRITE])

    assert account.team is None and account.created_by is None
    assert not account.allowed_use_cases.exists()
    assert last_entry().data["allowed_use_cases"] == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "ci", "scopes": ["registry:write", "admin:all"]}, "scopes"),
        ({"name": "ci", "scopes": []}, "scopes"),
        ({"name": "ci deploy", "scopes": ["read"]}, "name"),
        ({"name": "x" * 65, "scopes": ["read"]}, "name"),
        ({"name": "ci", "scopes": ["read"], "allowed_use_cases": ["credit-scoring"]}, "allowed_use_cases"),
    ],
    ids=["unknown-scope", "no-scopes", "name-with-space", "name-too-long", "use-case-given-as-text"],
)
def test_service_account_create_refuses_bad_input_and_changes_nothing(admin, kwargs, field):
    before = snapshot()

    with pytest.raises(ValidationFailed) as refused:
        services.service_account_create(actor=admin, **kwargs)

    assert field in refused.value.field_errors
    assert snapshot() == before


def test_service_account_create_refuses_a_duplicate_name(admin):
    ServiceAccountFactory(name="ci-deploy")
    before = snapshot()

    with pytest.raises(DuplicateKey, match="'ci-deploy' already exists"):
        services.service_account_create(actor=admin, name="ci-deploy", scopes=["read"])

    assert snapshot() == before


def test_service_account_create_refuses_non_admin():
    submitter = UserFactory(roles=[Role.SUBMITTER])
    before = snapshot()

    with pytest.raises(PermissionDenied):
        services.service_account_create(actor=submitter, name="mine", scopes=["read"])

    assert snapshot() == before


def test_service_account_deactivate_disables_its_user_and_lists_its_unrevoked_keys(admin):
    account = ServiceAccountFactory(name="nightly")
    live = ApiKeyFactory(service_account=account)
    ApiKeyFactory(service_account=account, revoked_at=timezone.now(), revocation_reason="rotated")

    services.service_account_deactivate(actor=admin, service_account=account, reason="pipeline retired")

    account.refresh_from_db()
    account.user.refresh_from_db()
    assert not account.is_active and account.deactivated_at is not None
    assert not account.user.is_active
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_SERVICE_ACCOUNT_DEACTIVATED
    assert entry.data == {"name": "nightly", "reason": "pipeline retired", "unrevoked_keys": [live.display_prefix]}


def test_service_account_deactivate_refuses_twice_and_non_admin(admin):
    inactive = ServiceAccountFactory(is_active=False)
    active = ServiceAccountFactory()
    validator = UserFactory(roles=[Role.VALIDATOR])
    before = snapshot()

    with pytest.raises(Conflict, match="already deactivated"):
        services.service_account_deactivate(actor=admin, service_account=inactive)
    with pytest.raises(PermissionDenied):
        services.service_account_deactivate(actor=validator, service_account=active)

    assert snapshot() == before


# --- API keys ----------------------------------------------------------------------------------------


def test_api_key_issue_returns_the_key_once_and_stores_only_its_hash(admin):
    account = ServiceAccountFactory(name="ci")
    expires_at = timezone.now() + dt.timedelta(days=90)

    api_key, plaintext = services.api_key_issue(actor=admin, service_account=account, expires_at=expires_at,
                                                label="GitHub Actions")

    assert plaintext.startswith(f"dkt_{api_key.prefix}_")
    assert len(plaintext) == len("dkt_") + 8 + 1 + 43
    assert api_key.secret_hash == keys.hash_key(plaintext)
    assert api_key.created_by == admin and api_key.expires_at == expires_at
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_API_KEY_ISSUED
    assert (entry.subject_type, entry.subject_id) == ("accounts.apikey", str(api_key.pk))
    assert entry.data == {"service_account": "ci", "prefix": api_key.display_prefix, "label": "GitHub Actions",
                          "expires_at": expires_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def test_the_plaintext_key_is_stored_nowhere_in_the_database(admin):
    account = ServiceAccountFactory()
    api_key, plaintext = services.api_key_issue(actor=admin, service_account=account)
    services.api_key_revoke(actor=admin, api_key=api_key, reason="testing storage")
    secret = plaintext[len(f"dkt_{api_key.prefix}_"):]

    row = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert not any(secret in str(value) for value in row.values())
    for entry in AuditEntry.objects.all():
        stored = bytes(entry.encoded).decode() + str(entry.data) + entry.subject_label
        assert secret not in stored and api_key.secret_hash not in stored


def test_api_key_issue_refuses_past_expiry_naive_expiry_long_label_inactive_account_and_non_admin(admin):
    account = ServiceAccountFactory()
    inactive = ServiceAccountFactory(is_active=False)
    before = snapshot()

    with pytest.raises(ValidationFailed, match="not in the future") as refused:
        services.api_key_issue(actor=admin, service_account=account,
                               expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert "expires_at" in refused.value.field_errors
    with pytest.raises(ValidationFailed, match="time zone"):
        services.api_key_issue(actor=admin, service_account=account, expires_at=dt.datetime(2099, 1, 1))
    with pytest.raises(ValidationFailed, match="at most 100"):
        services.api_key_issue(actor=admin, service_account=account, label="x" * 101)
    with pytest.raises(Conflict, match="deactivated"):
        services.api_key_issue(actor=admin, service_account=inactive)
    with pytest.raises(PermissionDenied):
        services.api_key_issue(actor=account.user, service_account=account)

    assert snapshot() == before


def test_api_key_revoke_records_who_when_and_why(admin):
    api_key = ApiKeyFactory(service_account=ServiceAccountFactory(name="ci"))

    services.api_key_revoke(actor=admin, api_key=api_key, reason="  leaked in a build log ")

    api_key.refresh_from_db()
    assert api_key.is_revoked and api_key.revoked_by == admin
    assert api_key.revocation_reason == "leaked in a build log"
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_API_KEY_REVOKED
    assert entry.subject_id == str(api_key.pk)
    assert entry.data == {"service_account": "ci", "prefix": api_key.display_prefix,
                          "reason": "leaked in a build log"}


def test_api_key_revoke_refuses_blank_reason_twice_and_non_admin(admin):
    api_key = ApiKeyFactory()
    revoked = ApiKeyFactory(revoked_at=timezone.now(), revocation_reason="rotated")
    auditor = UserFactory(roles=[Role.AUDITOR])
    before = snapshot()

    with pytest.raises(ValidationFailed, match="Say why") as refused:
        services.api_key_revoke(actor=admin, api_key=api_key, reason="   ")
    assert "reason" in refused.value.field_errors
    with pytest.raises(Conflict, match="already revoked"):
        services.api_key_revoke(actor=admin, api_key=revoked, reason="again")
    with pytest.raises(PermissionDenied):
        services.api_key_revoke(actor=auditor, api_key=api_key, reason="no")

    assert snapshot() == before


def test_a_service_accounts_user_is_recorded_in_the_log_as_the_service_account():
    from django.db import transaction

    from apps.audit.services import record

    account = ServiceAccountFactory(name="ci-deploy")
    with transaction.atomic():
        entry = record(actor=account.user, action=Action.ACCOUNTS_TEAM_CREATED, subject=account, data={})

    assert (entry.actor_type, entry.actor_id, entry.actor_name) == ("service_account", str(account.pk), "ci-deploy")
