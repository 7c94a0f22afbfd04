"""People, a classified use case, a real trained model version and helpers that move a case along."""

import pytest
from guardian.shortcuts import assign_perm

from apps.accounts.roles import Role
from apps.audit.models import AuditEntry
from apps.reviews import services
from apps.reviews.models import CheckStatus, ReviewCase
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import UseCaseFactory
from tests.factories.reviews import trained_model_version

PASSWORD = "correct-horse-battery-staple"  # UserFactory's password
HUMAN_OVERSIGHT = "A credit officer reviews every score before a decision; overrides are logged."


@pytest.fixture(autouse=True)
def default_policies(db):
    return services.policy_defaults_load()


@pytest.fixture
def team():
    return TeamFactory(key="credit-risk")


@pytest.fixture
def use_case(team):
    return UseCaseFactory(key="credit-scoring", owner_team=team, risk_class="high", model_risk_tier="2")


@pytest.fixture
def submitter(team):
    return UserFactory(username="sam-submitter", first_name="Sam", last_name="Submitter",
                       roles=[Role.SUBMITTER], teams=[team])


@pytest.fixture
def developer(team):
    """The data scientist who registered the version (registered_by)."""
    return UserFactory(username="dee-developer", roles=[Role.SUBMITTER, Role.VALIDATOR, Role.APPROVER], teams=[team])


def _reviewer(username, role, use_case):
    user = UserFactory(username=username, roles=[role])
    assign_perm("registry.review_usecase", user, use_case)
    return user


@pytest.fixture
def validator(use_case):
    return _reviewer("val-validator", Role.VALIDATOR, use_case)


@pytest.fixture
def approver(use_case):
    return _reviewer("ada-approver", Role.APPROVER, use_case)


@pytest.fixture
def validator_and_approver(use_case):
    """Holds both roles: may validate or approve a case, never both for the same case."""
    user = UserFactory(username="vic-both", roles=[Role.VALIDATOR, Role.APPROVER])
    assign_perm("registry.review_usecase", user, use_case)
    return user


@pytest.fixture
def admin_user():
    return UserFactory(username="adm-admin", roles=[Role.ADMIN])


@pytest.fixture
def model_version(use_case, developer):
    return trained_model_version(use_case=use_case, registered_by=developer)


@pytest.fixture
def open_case(submitter, model_version):
    def open_(**overrides) -> ReviewCase:
        arguments = {"actor": submitter, "model_version": model_version, "environment": "production",
                     "label_column": "defaulted", "documentation": {"human_oversight": HUMAN_OVERSIGHT}}
        arguments.update(overrides)
        return services.review_open(**arguments)

    return open_


def finish_checks(case: ReviewCase, *, failing=()) -> ReviewCase:
    """Starts the case's checks and records synthetic outcomes through the services (no model runs)."""
    services.review_checks_start(case=case)
    for result in case.check_results.order_by("kind"):
        failed = result.kind in failing
        services.check_result_record(
            check_result_id=result.pk,
            outcome=services.CheckOutcome(
                status=CheckStatus.FAILED if failed else CheckStatus.PASSED,
                summary="synthetic outcome", failure_reasons=["synthetic failure"] if failed else [],
                metrics={"value": 1}, model_sha256=case.model_version.artifact_sha256,
            ),
            duration_seconds=0.1,
        )
    case.refresh_from_db()
    return case


@pytest.fixture
def case_awaiting_validation(open_case):
    return finish_checks(open_case())


@pytest.fixture
def last_entry():
    return lambda: AuditEntry.objects.order_by("-index").first()


@pytest.fixture
def audit_count():
    return lambda: AuditEntry.objects.count()
