import pytest
from guardian.models import GroupObjectPermission, UserObjectPermission
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.permissions import (
    UseCasePermission,
    can_review_use_case,
    can_submit_to_use_case,
    can_view_use_case,
    principal_may_access_use_case,
    visible_use_cases,
)
from apps.accounts.roles import Role
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.registry.models import UseCase
from tests.accounts.conftest import last_entry
from tests.factories.accounts import ServiceAccountFactory, TeamFactory, UserFactory, api_key_with_plaintext

pytestmark = pytest.mark.django_db


def object_permission_rows():
    return (
        sorted(UserObjectPermission.objects.values_list("user_id", "permission__codename", "object_pk")),
        sorted(GroupObjectPermission.objects.values_list("group_id", "permission__codename", "object_pk")),
    )


@pytest.fixture
def two_teams(make_use_case):
    credit, fraud = TeamFactory(key="credit"), TeamFactory(key="fraud")
    return {
        "credit_team": credit,
        "fraud_team": fraud,
        "credit_use_case": make_use_case(credit, key="credit-scoring"),
        "fraud_use_case": make_use_case(fraud, key="fraud-detection"),
    }


# --- reading the permissions -------------------------------------------------------------------------


def test_a_team_member_sees_and_submits_to_their_teams_use_case_but_not_another_teams(two_teams):
    member = UserFactory(roles=[Role.SUBMITTER], teams=[two_teams["credit_team"]])
    own, other = two_teams["credit_use_case"], two_teams["fraud_use_case"]

    assert can_view_use_case(member, own) and can_submit_to_use_case(member, own)
    assert not can_review_use_case(member, own)
    assert not can_view_use_case(member, other) and not can_submit_to_use_case(member, other)
    assert list(visible_use_cases(UseCase.objects.all(), user=member)) == [own]


def test_admins_may_do_everything_and_auditors_only_view(two_teams):
    admin, auditor = UserFactory(roles=[Role.ADMIN]), UserFactory(roles=[Role.AUDITOR])
    use_case = two_teams["fraud_use_case"]

    assert can_view_use_case(admin, use_case) and can_submit_to_use_case(admin, use_case)
    assert can_review_use_case(admin, use_case)
    assert can_view_use_case(auditor, use_case)
    assert not can_submit_to_use_case(auditor, use_case) and not can_review_use_case(auditor, use_case)
    assert visible_use_cases(UseCase.objects.all(), user=auditor).count() == 2


def test_deactivated_and_anonymous_principals_reach_nothing(two_teams):
    from django.contrib.auth.models import AnonymousUser

    former = UserFactory(roles=[Role.ADMIN], teams=[two_teams["credit_team"]], is_active=False)
    use_case = two_teams["credit_use_case"]

    for principal in (former, AnonymousUser()):
        assert not can_view_use_case(principal, use_case)
        assert not visible_use_cases(UseCase.objects.all(), user=principal).exists()


# --- granting and revoking ---------------------------------------------------------------------------


def test_granting_review_to_a_user_lets_them_review_and_is_audited(two_teams):
    admin = UserFactory(roles=[Role.ADMIN])
    validator = UserFactory(username="val", roles=[Role.VALIDATOR])
    use_case = two_teams["credit_use_case"]
    assert not can_view_use_case(validator, use_case)

    services.use_case_permission_grant(actor=admin, use_case=use_case, permission="review_usecase", user=validator)

    assert can_review_use_case(validator, use_case) and can_view_use_case(validator, use_case)
    assert not can_submit_to_use_case(validator, use_case)
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_USE_CASE_PERMISSION_GRANTED
    assert (entry.subject_type, entry.subject_id) == ("registry.usecase", str(use_case.pk))
    assert entry.data == {"permission": "review_usecase",
                          "grantee": {"type": "user", "id": validator.pk, "name": "val"}}


def test_revoking_review_from_a_user_takes_it_away_and_is_audited(two_teams):
    admin = UserFactory(roles=[Role.ADMIN])
    validator = UserFactory(username="val", roles=[Role.VALIDATOR])
    use_case = two_teams["credit_use_case"]
    services.use_case_permission_grant(actor=admin, use_case=use_case, permission="review_usecase", user=validator)

    services.use_case_permission_revoke(
        actor=admin, use_case=use_case, permission=UseCasePermission.REVIEW, user=validator
    )

    assert not can_review_use_case(validator, use_case) and not can_view_use_case(validator, use_case)
    entry = last_entry()
    assert entry.action == Action.ACCOUNTS_USE_CASE_PERMISSION_REVOKED
    assert entry.subject_id == str(use_case.pk)
    assert entry.data == {"permission": "review_usecase",
                          "grantee": {"type": "user", "id": validator.pk, "name": "val"}}


def test_a_grant_to_a_team_reaches_every_member(two_teams):
    admin = UserFactory(roles=[Role.ADMIN])
    reviewers = TeamFactory(key="model-risk")
    members = [UserFactory(teams=[reviewers]), UserFactory(teams=[reviewers])]
    use_case = two_teams["fraud_use_case"]

    services.use_case_permission_grant(actor=admin, use_case=use_case, permission="review_usecase", team=reviewers)

    assert all(can_review_use_case(member, use_case) for member in members)
    assert last_entry().data["grantee"] == {"type": "team", "id": reviewers.pk, "name": "model-risk"}


def test_revoking_the_owner_teams_submit_grant_stops_its_members_submitting(two_teams):
    admin = UserFactory(roles=[Role.ADMIN])
    member = UserFactory(teams=[two_teams["credit_team"]])
    use_case = two_teams["credit_use_case"]

    services.use_case_permission_revoke(
        actor=admin, use_case=use_case, permission="submit_to_usecase", team=two_teams["credit_team"]
    )

    assert not can_submit_to_use_case(member, use_case)
    assert can_view_use_case(member, use_case)


def test_a_grant_to_a_service_account_names_the_account(two_teams):
    admin = UserFactory(roles=[Role.ADMIN])
    account = ServiceAccountFactory(name="ci")
    use_case = two_teams["fraud_use_case"]

    services.use_case_permission_grant(actor=admin, use_case=use_case, permission="submit_to_usecase",
                                       user=account.user)

    assert can_submit_to_use_case(account.user, use_case)
    assert last_entry().data["grantee"] == {"type": "service_account", "id": account.user.pk, "name": "ci"}


@pytest.mark.parametrize(
    ("grantee", "permission", "error", "message"),
    [
        ("user", "delete_usecase", ValidationFailed, "Unknown permission"),
        ("both", "review_usecase", ValidationFailed, "exactly one grantee"),
        ("neither", "review_usecase", ValidationFailed, "exactly one grantee"),
        ("inactive", "review_usecase", ValidationFailed, "deactivated"),
        ("owner-team", "submit_to_usecase", Conflict, "already holds"),
    ],
    ids=["unknown-permission", "user-and-team", "no-grantee", "deactivated-user", "already-held"],
)
def test_use_case_permission_grant_refuses_bad_input_and_changes_nothing(two_teams, grantee, permission, error,
                                                                         message):
    admin = UserFactory(roles=[Role.ADMIN])
    user, team = UserFactory(), two_teams["credit_team"]
    arguments = {
        "user": {"user": user},
        "both": {"user": user, "team": team},
        "neither": {},
        "inactive": {"user": UserFactory(is_active=False)},
        "owner-team": {"team": team},
    }[grantee]
    rows, entries = object_permission_rows(), AuditEntry.objects.count()

    with pytest.raises(error, match=message):
        services.use_case_permission_grant(
            actor=admin, use_case=two_teams["credit_use_case"], permission=permission, **arguments
        )

    assert object_permission_rows() == rows and AuditEntry.objects.count() == entries


def test_use_case_permission_grant_refuses_non_admin_and_things_that_are_not_use_cases(two_teams):
    admin = UserFactory(roles=[Role.ADMIN])
    member = UserFactory(roles=[Role.SUBMITTER, Role.VALIDATOR], teams=[two_teams["credit_team"]])
    rows, entries = object_permission_rows(), AuditEntry.objects.count()

    with pytest.raises(PermissionDenied):
        services.use_case_permission_grant(
            actor=member, use_case=two_teams["credit_use_case"], permission="review_usecase", user=member
        )
    with pytest.raises(ValidationFailed, match="not a registered use case"):
        services.use_case_permission_grant(
            actor=admin, use_case=two_teams["credit_team"], permission="review_usecase", user=member
        )

    assert object_permission_rows() == rows and AuditEntry.objects.count() == entries


def test_use_case_permission_revoke_refuses_a_permission_not_held_directly(two_teams):
    admin = UserFactory(roles=[Role.ADMIN])
    member = UserFactory(teams=[two_teams["credit_team"]])  # holds submit only through the team's group
    rows, entries = object_permission_rows(), AuditEntry.objects.count()

    with pytest.raises(Conflict, match="does not hold submit_to_usecase"):
        services.use_case_permission_revoke(
            actor=admin, use_case=two_teams["credit_use_case"], permission="submit_to_usecase", user=member
        )
    with pytest.raises(PermissionDenied):
        services.use_case_permission_revoke(
            actor=member, use_case=two_teams["credit_use_case"], permission="view_usecase",
            team=two_teams["credit_team"],
        )

    assert object_permission_rows() == rows and AuditEntry.objects.count() == entries


def test_permissions_of_a_deactivated_user_can_still_be_revoked(two_teams):
    admin = UserFactory(roles=[Role.ADMIN])
    user = UserFactory()
    use_case = two_teams["fraud_use_case"]
    services.use_case_permission_grant(actor=admin, use_case=use_case, permission="view_usecase", user=user)
    services.user_deactivate(actor=admin, user=user)

    services.use_case_permission_revoke(actor=admin, use_case=use_case, permission="view_usecase", user=user)

    assert not UserObjectPermission.objects.filter(user=user).exists()


# --- API-key use-case restriction --------------------------------------------------------------------


def test_a_restricted_key_reaches_only_its_named_use_cases(two_teams, make_use_case):
    credit_team = two_teams["credit_team"]
    allowed, other_of_same_team = two_teams["credit_use_case"], make_use_case(credit_team, key="credit-limits")
    account = ServiceAccountFactory(team=credit_team, scopes=["read"], allowed_use_cases=[allowed])
    api_key, _ = api_key_with_plaintext(service_account=account)

    assert principal_may_access_use_case(account.user, api_key, allowed)
    assert not principal_may_access_use_case(account.user, api_key, other_of_same_team)
    assert can_view_use_case(account.user, allowed, auth=api_key)
    assert not can_view_use_case(account.user, other_of_same_team, auth=api_key)
    assert not can_submit_to_use_case(account.user, other_of_same_team, auth=api_key)
    assert list(visible_use_cases(UseCase.objects.all(), user=account.user, auth=api_key)) == [allowed]
    # Without the key in play (e.g. a service calling as the account) only permissions decide.
    assert can_view_use_case(account.user, other_of_same_team)


def test_an_unrestricted_key_reaches_whatever_its_permissions_allow(two_teams):
    account = ServiceAccountFactory(team=two_teams["credit_team"])
    api_key, _ = api_key_with_plaintext(service_account=account)

    assert can_submit_to_use_case(account.user, two_teams["credit_use_case"], auth=api_key)
    assert not can_view_use_case(account.user, two_teams["fraud_use_case"], auth=api_key)


def test_a_key_presented_with_another_principal_reaches_nothing(two_teams):
    api_key, _ = api_key_with_plaintext(service_account=ServiceAccountFactory(team=two_teams["credit_team"]))
    admin = UserFactory(roles=[Role.ADMIN])

    assert not principal_may_access_use_case(admin, api_key, two_teams["credit_use_case"])
    assert not can_view_use_case(admin, two_teams["credit_use_case"], auth=api_key)


@pytest.mark.urls("tests.accounts.urls")
def test_the_use_case_restriction_applies_to_api_requests(two_teams, make_use_case):
    credit_team = two_teams["credit_team"]
    allowed = two_teams["credit_use_case"]
    make_use_case(credit_team, key="credit-limits")
    account = ServiceAccountFactory(team=credit_team, scopes=["read"], allowed_use_cases=[allowed])
    _, plaintext = api_key_with_plaintext(service_account=account)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    assert client.get("/use-cases/credit-scoring").json() == {"key": "credit-scoring"}
    assert client.get("/use-cases/credit-limits").status_code == 404
    assert client.get("/use-cases/fraud-detection").status_code == 404
