"""People, a use case with registered versions (through the registry services, so the edges are the
ones the services write), API clients and OpenLineage event bodies for the lineage tests."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from apps.accounts.scopes import Scope
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM
from apps.registry import services as registry
from apps.registry.services import DatasetLink
from tests.factories.accounts import api_key_with_plaintext
from tests.factories.registry import DatasetFactory, ModelFactory, UseCaseFactory

SCHEMA = [{"name": "age", "type": "integer"}, {"name": "label", "type": "integer"}]



@pytest.fixture(autouse=True)
def reference_data(db):
    """Every test here sees the Annex III reference data, loaded the way seed_demo loads it."""
    call_command("load_reference_data", stdout=io.StringIO())


@pytest.fixture
def use_case(team):
    return UseCaseFactory(key="credit-scoring", owner_team=team)


@pytest.fixture
def other_use_case(other_team):
    return UseCaseFactory(key="hiring", owner_team=other_team)


@pytest.fixture(scope="session")
def skops_bytes() -> bytes:
    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    features = rng.normal(size=(40, 2))
    return skops.io.dumps(LogisticRegression().fit(features, (features[:, 0] > 0).astype(int)))


def register_dataset_version(*, key: str, team, actor=SYSTEM, derived_from=()):
    from apps.registry.models import Dataset

    dataset = Dataset.objects.filter(key=key).first() or DatasetFactory(key=key, owner_team=team)
    return registry.dataset_version_register(
        actor=actor, dataset=dataset, content_sha256=uuid.uuid4().hex * 2, row_count=10, schema=SCHEMA,
        contains_personal_data=True, legal_basis="b", retention_until=_in_a_year(), derived_from=derived_from)


def _in_a_year():
    import datetime as dt

    from django.utils import timezone

    return timezone.localdate() + dt.timedelta(days=365)


@pytest.fixture
def register_version(skops_bytes):
    """Registers a model version through the registry service (SYSTEM), with dataset links and a parent."""

    def register(model, *, train=(), test=(), parent=None):
        links = [DatasetLink(role="train", dataset_version=dv) for dv in train]
        links += [DatasetLink(role="test", dataset_version=dv) for dv in test]
        return registry.model_version_register(
            actor=SYSTEM, model=model, artifact=ContentFile(skops_bytes, name="model.skops"),
            framework="scikit-learn", intended_use="Scoring loan applications.", datasets=links, parent=parent)

    return register


@pytest.fixture
def model(use_case):
    return ModelFactory(use_case=use_case, key="default-lr")


@pytest.fixture
def other_model(other_use_case):
    return ModelFactory(use_case=other_use_case, key="screening")


@pytest.fixture
def audit_count():
    return lambda: AuditEntry.objects.count()


@pytest.fixture
def last_entry():
    return lambda: AuditEntry.objects.order_by("-index").first()


def client_for(user=None, *, key: str | None = None) -> APIClient:
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    elif user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def make_key(team):
    def make(*, scopes=(Scope.READ, Scope.LINEAGE_WRITE), allowed_use_cases=(), owner=None):
        return api_key_with_plaintext(
            service_account__team=owner or team, service_account__scopes=[str(s) for s in scopes],
            service_account__allowed_use_cases=list(allowed_use_cases))

    return make


def grant_view(user, use_case):
    assign_perm("registry.view_usecase", user, use_case)


def run_event(*, event_type="COMPLETE", run_id=None, event_time=None,
              job=("airflow", "etl.loans"), inputs=(), outputs=()) -> dict:
    """A RunEvent as the OpenLineage Python client serialises one (spec 2-0-2)."""
    return {
        "eventType": event_type,
        "eventTime": event_time or timezone.now().isoformat(),
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": {}},
        "job": {"namespace": job[0], "name": job[1], "facets": {}},
        "inputs": [{"namespace": ns, "name": name, "facets": {}, "inputFacets": {}} for ns, name in inputs],
        "outputs": [{"namespace": ns, "name": name, "facets": {}, "outputFacets": {}} for ns, name in outputs],
    }
