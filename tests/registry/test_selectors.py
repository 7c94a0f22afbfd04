"""What each user may see."""

import pytest
from guardian.shortcuts import assign_perm

from apps.audit.services import SYSTEM
from apps.common.errors import NotFound
from apps.registry import selectors
from tests.factories.accounts import UserFactory
from tests.factories.registry import (
    DatasetFactory,
    DatasetVersionFactory,
    DeploymentFactory,
    ModelFactory,
    ModelVersionFactory,
    UseCaseFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_use_case(other_team):
    return UseCaseFactory(key="cv-screening", owner_team=other_team)


def keys(queryset) -> list[str]:
    return [row.key for row in queryset]


def test_team_members_see_their_teams_use_cases_only(submitter, outsider, use_case, other_use_case):
    assert keys(selectors.use_case_list(fetched_by=submitter)) == ["credit-scoring"]
    assert keys(selectors.use_case_list(fetched_by=outsider)) == ["cv-screening"]


def test_admins_auditors_and_system_see_every_use_case(admin_user, auditor, use_case, other_use_case):
    for reader in (admin_user, auditor, SYSTEM):
        assert keys(selectors.use_case_list(fetched_by=reader)) == ["credit-scoring", "cv-screening"]


def test_a_direct_view_grant_makes_a_use_case_visible(use_case, other_use_case):
    reader = UserFactory()
    assert keys(selectors.use_case_list(fetched_by=reader)) == []
    assign_perm("registry.view_usecase", reader, other_use_case)
    assert keys(selectors.use_case_list(fetched_by=reader)) == ["cv-screening"]


def test_use_case_list_loads_owner_team_and_classification_without_extra_queries(
    admin_user, use_case, other_use_case, django_assert_num_queries
):
    listed = list(selectors.use_case_list(fetched_by=admin_user))
    with django_assert_num_queries(0):
        assert [str(row.owner_team) for row in listed] and [row.current_classification for row in listed]


def test_use_case_get_hides_what_the_user_may_not_see(outsider, use_case):
    with pytest.raises(NotFound, match="No use case 'credit-scoring' that you may see"):
        selectors.use_case_get(fetched_by=outsider, key="credit-scoring")


def test_model_versions_and_deployments_follow_use_case_visibility(submitter, outsider, use_case, other_use_case):
    mine = ModelVersionFactory(model=ModelFactory(use_case=use_case))
    theirs = ModelVersionFactory(model=ModelFactory(use_case=other_use_case))
    DeploymentFactory(model_version=mine)
    DeploymentFactory(model_version=theirs)

    assert list(selectors.model_version_list(fetched_by=submitter)) == [mine]
    assert [d.model_version for d in selectors.deployment_list(fetched_by=outsider)] == [theirs]
    found = selectors.model_version_get(fetched_by=submitter, use_case_key="credit-scoring",
                                        model_key=mine.model.key, number=mine.number)
    assert found == mine
    with pytest.raises(NotFound):
        selectors.model_version_get(fetched_by=outsider, use_case_key="credit-scoring", model_key=mine.model.key,
                                    number=mine.number)


def test_datasets_are_visible_to_their_team_and_to_readers_of_use_cases_that_used_them(
    submitter, outsider, team, other_team, auditor
):
    own = DatasetFactory(key="own", owner_team=team)
    foreign = DatasetFactory(key="foreign", owner_team=other_team)
    DatasetFactory(key="unrelated", owner_team=other_team)
    DatasetVersionFactory(dataset=own)
    assert keys(selectors.dataset_list(fetched_by=submitter)) == ["own"]
    assert keys(selectors.dataset_list(fetched_by=outsider)) == ["foreign", "unrelated"]
    assert keys(selectors.dataset_list(fetched_by=auditor)) == ["foreign", "own", "unrelated"]
    assert foreign.key not in keys(selectors.dataset_list(fetched_by=submitter))
