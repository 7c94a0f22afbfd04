import pytest

from apps.accounts.roles import Role
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM
from tests.factories.accounts import TeamFactory, UserFactory


@pytest.fixture
def admin():
    return UserFactory(username="ada", first_name="Ada", last_name="Admin", roles=[Role.ADMIN])


@pytest.fixture
def make_use_case():
    """make_use_case(team, key=...) -> a UseCase owned by `team`, created the real way.

    Through registry's use_case_create (as SYSTEM), because that service is what grants the owner
    team's group `view_usecase` and `submit_to_usecase`; the permission tests rely on that grant.
    """
    from apps.registry.services import use_case_create

    counter = iter(range(1, 1000))

    def make(team=None, key=None):
        n = next(counter)
        return use_case_create(
            actor=SYSTEM,
            key=key or f"use-case-{n}",
            name=f"Use case {n}",
            intended_purpose="Scores applications for consumer credit.",
            owner_team=team or TeamFactory(),
            business_owner=UserFactory(),
            operator_role="provider",
        )

    return make


def last_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-index").first()
