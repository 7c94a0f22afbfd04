"""The people most tests need: two teams, an administrator, an auditor, a submitter of the first team
and one of the second. tests/conftest.py offers them everywhere; a folder's conftest may define its
own under the same name (tests/gate does), which then wins there."""

import pytest

from apps.accounts.roles import Role
from tests.factories.accounts import TeamFactory, UserFactory


@pytest.fixture
def team():
    return TeamFactory(key="credit-risk")


@pytest.fixture
def other_team():
    return TeamFactory(key="talent")


@pytest.fixture
def admin_user():
    return UserFactory(username="ada-admin", roles=[Role.ADMIN])


@pytest.fixture
def auditor():
    return UserFactory(username="audrey-auditor", roles=[Role.AUDITOR])


@pytest.fixture
def submitter(team):
    """A submitter in the owner team: holds submit_to_usecase on the team's use cases through the group."""
    return UserFactory(username="sam-submitter", roles=[Role.SUBMITTER], teams=[team])


@pytest.fixture
def outsider(other_team):
    """A submitter in another team: no permission on the first team's use cases."""
    return UserFactory(username="olga-outsider", roles=[Role.SUBMITTER], teams=[other_team])
