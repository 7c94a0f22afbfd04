"""`visible_use_case_condition` (the gate's hand-written visibility check) answers exactly what
`visible_use_cases` (guardian through the ORM) answers, for every kind of principal."""

import pytest
from django.db import connection
from guardian.shortcuts import assign_perm

from apps.accounts.permissions import visible_use_case_condition, visible_use_cases
from apps.accounts.roles import Role
from apps.registry.models import UseCase
from tests.factories.accounts import ServiceAccountFactory, TeamFactory, UserFactory, api_key_with_plaintext

pytestmark = pytest.mark.django_db


def ids_by_condition(user, auth=None) -> set[int]:
    condition, params = visible_use_case_condition(user=user, auth=auth, use_case_id="uc.id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT uc.id FROM {UseCase._meta.db_table} uc WHERE {condition}", params)
        return {row[0] for row in cursor.fetchall()}


def ids_by_orm(user, auth=None) -> set[int]:
    return set(visible_use_cases(UseCase.objects.all(), user=user, auth=auth).values_list("pk", flat=True))


@pytest.fixture
def world(make_use_case):
    """Three teams' use cases and every way of reaching (or not reaching) them."""
    credit, talent, fraud = TeamFactory(key="credit"), TeamFactory(key="talent"), TeamFactory(key="fraud")
    use_cases = {team.key: make_use_case(team, key=f"{team.key}-uc") for team in (credit, talent, fraud)}
    direct_viewer = UserFactory(username="direct-viewer")
    assign_perm("registry.view_usecase", direct_viewer, use_cases["talent"])
    direct_reviewer = UserFactory(username="direct-reviewer", roles=[Role.VALIDATOR])
    assign_perm("registry.review_usecase", direct_reviewer, use_cases["fraud"])
    unrelated_perm = UserFactory(username="unrelated-perm")
    assign_perm("registry.change_usecase", unrelated_perm, use_cases["fraud"])  # not a use-case grant
    restricted_account = ServiceAccountFactory(team=credit, allowed_use_cases=[use_cases["credit"]])
    restricted_key, _ = api_key_with_plaintext(service_account=restricted_account)
    open_key, _ = api_key_with_plaintext(service_account__team=talent)
    other_key, _ = api_key_with_plaintext(service_account__team=fraud)
    inactive = UserFactory(username="inactive", roles=[Role.ADMIN], teams=[credit], is_active=False)
    principals = {
        "admin": (UserFactory(username="admin", roles=[Role.ADMIN]), None),
        "auditor": (UserFactory(username="auditor", roles=[Role.AUDITOR]), None),
        "team member": (UserFactory(username="member", roles=[Role.SUBMITTER], teams=[credit]), None),
        "member of two teams": (UserFactory(username="two", teams=[credit, fraud]), None),
        "direct viewer": (direct_viewer, None),
        "direct reviewer": (direct_reviewer, None),
        "holder of an unrelated permission": (unrelated_perm, None),
        "nobody in particular": (UserFactory(username="nobody", roles=[Role.VALIDATOR]), None),
        "superuser without roles": (UserFactory(username="root", is_superuser=True), None),
        "deactivated admin": (inactive, None),
        "restricted service account": (restricted_account.user, restricted_key),
        "unrestricted service account": (open_key.service_account.user, open_key),
        "key presented by another principal": (open_key.service_account.user, other_key),
        "service account with the admin role": (
            api_key_with_plaintext(service_account__team=fraud)[0].service_account.user, None),
    }
    admin_service = principals["service account with the admin role"][0]
    UserFactory._meta.model.groups.through.objects.create(
        user=admin_service, group=type(credit.group).objects.get(name=str(Role.ADMIN)))
    return use_cases, principals


@pytest.mark.parametrize("who", [
    "admin", "auditor", "team member", "member of two teams", "direct viewer", "direct reviewer",
    "holder of an unrelated permission", "nobody in particular", "superuser without roles", "deactivated admin",
    "restricted service account", "unrestricted service account", "key presented by another principal",
    "service account with the admin role",
])
def test_the_sql_condition_matches_visible_use_cases(world, who):
    _, principals = world
    user, auth = principals[who]
    assert ids_by_condition(user, auth) == ids_by_orm(user, auth)


def test_the_condition_is_not_trivially_everything_or_nothing(world):
    use_cases, principals = world
    assert ids_by_condition(*principals["team member"]) == {use_cases["credit"].pk}
    assert ids_by_condition(*principals["direct viewer"]) == {use_cases["talent"].pk}
    assert ids_by_condition(*principals["restricted service account"]) == {use_cases["credit"].pk}
    assert ids_by_condition(*principals["admin"]) == {uc.pk for uc in use_cases.values()}
    assert ids_by_condition(*principals["nobody in particular"]) == set()
    assert ids_by_condition(None) == set()
