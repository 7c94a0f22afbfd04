"""Actors, use cases and real artifact files shared by the registry tests."""

import io
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from guardian.shortcuts import assign_perm

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.audit.models import AuditEntry
from apps.registry import services
from tests.factories.accounts import UserFactory
from tests.factories.registry import UseCaseFactory


@pytest.fixture(autouse=True)
def reference_data(db):
    """Every test here sees the Annex III reference data, loaded the way seed_demo loads it."""
    call_command("load_reference_data", stdout=io.StringIO())


@pytest.fixture
def reviewer(use_case):
    user = UserFactory(username="val-validator", roles=[Role.VALIDATOR])
    assign_perm("registry.review_usecase", user, use_case)
    return user


@pytest.fixture
def service_user(use_case):
    """A pipeline's identity: a service-kind user granted submit_to_usecase on the use case directly."""
    user = User.objects.create(username="svc.training-pipeline", kind=User.Kind.SERVICE)
    assign_perm("registry.submit_to_usecase", user, use_case)
    return user


@pytest.fixture
def use_case(team):
    return UseCaseFactory(key="credit-scoring", owner_team=team)


@pytest.fixture
def model(use_case):
    from tests.factories.registry import ModelFactory

    return ModelFactory(use_case=use_case, key="default-lr")


@pytest.fixture
def media_files(settings):
    """Returns the files currently under MEDIA_ROOT (relative paths), to prove nothing was stored."""

    def files() -> list[str]:
        root = Path(settings.MEDIA_ROOT)
        return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()) if root.exists() else []

    return files


@pytest.fixture
def audit_count():
    return lambda: AuditEntry.objects.count()


# --- real artifact bytes ----------------------------------------------------------------------------


def _fitted_logistic_regression():
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
def untrusted_skops_bytes() -> bytes:
    """A skops file whose FunctionTransformer would call os.system: a type no allow-list should hold."""
    import os

    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    return skops.io.dumps(FunctionTransformer(func=os.system))


@pytest.fixture(scope="session")
def onnx_bytes() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "bias"], ["y"])],
        "add-bias",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[helper.make_tensor("bias", TensorProto.FLOAT, [1, 3], [0.1, 0.2, 0.3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="docket-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


class _CreatesMarkerFile:
    """Unpickling this writes a marker file: proof, if it ever appears, that Docket ran the pickle."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "unpickled!"))


@pytest.fixture
def pickle_marker(tmp_path) -> Path:
    return tmp_path / "pickle-was-loaded"


@pytest.fixture
def malicious_pickle_bytes(pickle_marker) -> bytes:
    return pickle.dumps(_CreatesMarkerFile(str(pickle_marker)), protocol=4)


@pytest.fixture
def joblib_bytes(tmp_path) -> bytes:
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(_fitted_logistic_regression(), path, compress=3)
    return path.read_bytes()


@pytest.fixture(scope="session")
def random_binary_bytes() -> bytes:
    return b"\xff\xfe" + random.Random(1234).randbytes(4094)


def upload(content: bytes, name: str) -> ContentFile:
    return ContentFile(content, name=name)


def register_version(*, actor, model, content: bytes, name: str = "model.skops", **overrides):
    """Calls model_version_register with sensible defaults for the fields a test does not care about."""
    arguments = {
        "actor": actor,
        "model": model,
        "artifact": upload(content, name),
        "framework": "scikit-learn",
        "framework_version": "1.5.2",
        "intended_use": "Scoring consumer loan applications, reviewed by a credit officer.",
    }
    arguments.update(overrides)
    return services.model_version_register(**arguments)
