"""List endpoints run a fixed number of queries, whatever the number of rows on the page."""

from __future__ import annotations

import pytest

from tests.factories.accounts import UserFactory
from tests.factories.registry import (
    DatasetFactory,
    DatasetVersionFactory,
    DeploymentFactory,
    ModelFactory,
    ModelVersionFactory,
    UseCaseFactory,
)

from .conftest import client_for


def populate(team, dataset, rows: int) -> None:
    """`rows` use cases, each with a model, a version linked to a dataset version (derived from a version
    of another dataset) and with two developers, and a deployment."""
    from apps.registry.models import (
        ClaimedMetric,
        DatasetVersionSource,
        ModelVersionDataset,
        ModelVersionDeveloper,
        evidence_window,
    )

    for n in range(rows):
        use_case = UseCaseFactory(owner_team=team)
        version = ModelVersionFactory(model=ModelFactory(use_case=use_case))
        dataset_version = DatasetVersionFactory(dataset=dataset)
        with evidence_window(dataset_version):
            source = DatasetVersionFactory(dataset=DatasetFactory(owner_team=team))
            DatasetVersionSource(dataset_version=dataset_version, source=source).save()
        with evidence_window(version):
            ModelVersionDataset(model_version=version, dataset_version=dataset_version, role="train").save()
            ClaimedMetric(model_version=version, name="auc", value=0.8, dataset_version=dataset_version).save()
            for developer in (UserFactory(), UserFactory()):
                ModelVersionDeveloper(model_version=version, user=developer).save()
        DeploymentFactory(model_version=version, environment=f"env-{n}")
        DatasetFactory(owner_team=team)


# Queries per request, signed in with a session as a submitter (session, user, the selectors' role
# checks, the page itself and its prefetches). Pinned: a change here is a change in how lists scale.
EXPECTED = {
    "/api/v1/use-cases/": 4,
    "/api/v1/models/": 4,
    "/api/v1/model-versions/": 7,
    "/api/v1/datasets/": 4,
    "/api/v1/datasets/loans/versions/": 6,  # + the sources each version was derived from
    "/api/v1/deployments/": 4,
}


@pytest.mark.parametrize("url", list(EXPECTED))
def test_list_endpoints_run_a_constant_number_of_queries(django_assert_num_queries, submitter, team, dataset, url):
    client = client_for(submitter)
    populate(team, dataset, 2)
    with django_assert_num_queries(EXPECTED[url]):
        small = client.get(url)
    populate(team, dataset, 8)
    with django_assert_num_queries(EXPECTED[url]):
        large = client.get(url)
    assert small.status_code == large.status_code == 200
    assert len(large.json()["results"]) > len(small.json()["results"]) >= 2


def test_an_api_key_adds_only_its_own_lookups(django_assert_num_queries, make_key, team, dataset):
    populate(team, dataset, 3)
    client = client_for(key=make_key()[1])
    with django_assert_num_queries(8):  # no session; the key, its account's use-case restriction (a service account is never an admin: no role lookup)
        response = client.get("/api/v1/model-versions/")
    assert len(response.json()["results"]) == 3
