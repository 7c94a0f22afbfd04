"""People, service accounts with real API keys, registry objects and real artifact bytes for the API tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from apps.accounts.roles import Role
from apps.accounts.scopes import Scope
from apps.audit.models import AuditEntry
from apps.registry.models import (
    ClassificationDecision,
    Dataset,
    DatasetVersion,
    Deployment,
    Model,
    ModelVersion,
    UseCase,
)
from tests.factories.accounts import UserFactory, api_key_with_plaintext
from tests.factories.registry import DatasetFactory, DatasetVersionFactory, ModelFactory, UseCaseFactory

PROBLEM_BASE = "https://docket.dev/problems/"


# --- people and keys --------------------------------------------------------------------------------



@pytest.fixture(autouse=True)
def reference_data(db):
    """Every test here sees the Annex III reference data, loaded the way seed_demo loads it."""
    call_command("load_reference_data", stdout=io.StringIO())


@pytest.fixture
def reviewer(use_case):
    user = UserFactory(username="val-validator", roles=[Role.VALIDATOR])
    assign_perm("registry.review_usecase", user, use_case)
    return user


def client_for(user=None, *, key: str | None = None) -> APIClient:
    """An API client signed in with a session (user) or presenting an API key."""
    client = APIClient()
    if user is not None:
        client.force_login(user)
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def as_user():
    return client_for


@pytest.fixture
def make_key(team):
    """make_key(scopes=[...], allowed_use_cases=[...], expires_at=..., team=...) -> (ApiKey, plaintext)."""

    def make(*, scopes=(Scope.READ, Scope.REGISTRY_WRITE), allowed_use_cases=(), owner=team, **kwargs):
        api_key, plaintext = api_key_with_plaintext(
            service_account__scopes=[str(scope) for scope in scopes],
            service_account__team=owner,
            service_account__allowed_use_cases=list(allowed_use_cases),
            **kwargs,
        )
        return api_key, plaintext

    return make


@pytest.fixture
def pipeline_key(make_key):
    """A key of the credit-risk team's training pipeline with read and registry:write."""
    return make_key()[1]


# --- registry objects -------------------------------------------------------------------------------


@pytest.fixture
def use_case(team):
    return UseCaseFactory(key="credit-scoring", owner_team=team)


@pytest.fixture
def other_use_case(other_team):
    return UseCaseFactory(key="cv-screening", owner_team=other_team)


@pytest.fixture
def model(use_case):
    return ModelFactory(use_case=use_case, key="default-lr", name="Default LR")


@pytest.fixture
def other_model(other_use_case):
    return ModelFactory(use_case=other_use_case, key="ranker")


@pytest.fixture
def dataset(team):
    return DatasetFactory(key="loans", owner_team=team)


@pytest.fixture
def dataset_versions(dataset):
    """Versions 1 (train) and 2 (test) of the loans dataset."""
    return [DatasetVersionFactory(dataset=dataset, number=1), DatasetVersionFactory(dataset=dataset, number=2)]


# --- proof that nothing changed ---------------------------------------------------------------------


@pytest.fixture
def media_files(settings):
    def files() -> list[str]:
        root = Path(settings.MEDIA_ROOT)
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []

    return files


@pytest.fixture
def state(media_files):
    """state() is a snapshot of every registry table's row count, the audit log's length and stored files."""

    def snapshot() -> dict:
        return {
            "use_cases": UseCase.objects.count(),
            "classifications": ClassificationDecision.objects.count(),
            "models": Model.objects.count(),
            "model_versions": ModelVersion.objects.count(),
            "datasets": Dataset.objects.count(),
            "dataset_versions": DatasetVersion.objects.count(),
            "deployments": Deployment.objects.count(),
            "audit_entries": AuditEntry.objects.count(),
            "files": media_files(),
            "use_case_rows": list(UseCase.objects.order_by("pk").values()),
            "deployment_rows": list(Deployment.objects.order_by("pk").values()),
            "dataset_version_rows": list(DatasetVersion.objects.order_by("pk").values()),
        }

    return snapshot


def assert_problem(response, status: int, slug: str, *, field: str | None = None) -> dict:
    """Asserts an application/problem+json answer with this status and type; returns its body."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["type"] == PROBLEM_BASE + slug, body
    assert body["status"] == status
    assert body["detail"]
    if field is not None:
        assert field in body.get("errors", {}), body
    return body


def last_audit_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-index").first()


# --- real artifact bytes ----------------------------------------------------------------------------


def _fitted_logistic_regression():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    features = rng.normal(size=(60, 3))
    labels = (features[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    return LogisticRegression().fit(features, labels)


@pytest.fixture(scope="session")
def skops_bytes() -> bytes:
    import skops.io

    return skops.io.dumps(_fitted_logistic_regression())


@pytest.fixture(scope="session")
def skops_calling_eval() -> bytes:
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    return skops.io.dumps(FunctionTransformer(func=eval))


@pytest.fixture(scope="session")
def skops_calling_system() -> bytes:
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    return skops.io.dumps(FunctionTransformer(func=os.system))


def _onnx_model(*, external: bool):
    from onnx import TensorProto, helper

    bias = helper.make_tensor("bias", TensorProto.FLOAT, [1, 3], [0.1, 0.2, 0.3])
    if external:
        bias.ClearField("float_data")
        bias.data_location = TensorProto.EXTERNAL
        entry = bias.external_data.add()
        entry.key, entry.value = "location", "weights.bin"
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "bias"], ["y"])],
        "add-bias",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="docket-tests")
    model.ir_version = 8
    return model.SerializeToString()


@pytest.fixture(scope="session")
def onnx_bytes() -> bytes:
    return _onnx_model(external=False)


@pytest.fixture(scope="session")
def onnx_external_bytes() -> bytes:
    return _onnx_model(external=True)


@pytest.fixture
def pickle_marker(tmp_path) -> Path:
    return tmp_path / "pickle-was-loaded"


class _WritesMarker:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "unpickled!"))


@pytest.fixture
def pickle_bytes(pickle_marker) -> bytes:
    import pickle

    return pickle.dumps(_WritesMarker(str(pickle_marker)), protocol=4)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def expired_at() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=1)
