"""Real evidence for review tests: synthetic tables with protected attributes, trained scikit-learn
models saved with skops, registered through the registry services (so hashes and files are real)."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
from django.core.files.base import ContentFile
from django.utils import timezone

from apps.audit.services import SYSTEM
from apps.registry import services as registry
from apps.registry.models import DATASHEET_FIELDS, Model

from .registry import DatasetFactory, ModelFactory

FEATURES = ["income", "debt_ratio", "history_months", "late_payments"]


def credit_table(*, rows: int, seed: int, bias: float = 0.0) -> pd.DataFrame:
    """Applicants with sex and age band; `bias` > 0 makes the label depend on sex through `late_payments`."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=rows)
    age_band = rng.choice(["18-35", "36-60", "61+"], size=rows, p=[0.4, 0.45, 0.15])
    income = rng.lognormal(10.3, 0.4, size=rows).round(2)
    debt_ratio = rng.beta(2, 5, size=rows).round(3)
    history = rng.integers(0, 300, size=rows)
    late = rng.poisson(0.5 + bias * (sex == "F"), size=rows)
    logit = -1.0 + 3.0 * debt_ratio - 0.004 * history + 0.8 * late - 0.00001 * (income - 30000)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({
        "applicant_id": np.arange(1, rows + 1), "sex": sex, "age_band": age_band, "income": income,
        "debt_ratio": debt_ratio, "history_months": history, "late_payments": late, "defaulted": label,
    })


def full_datasheet() -> dict[str, str]:
    return {name: f"Documented {name.replace('_', ' ')} for the tests." for name in DATASHEET_FIELDS}


def register_dataset_version(table: pd.DataFrame, *, owner_team, key: str, protected=("sex", "age_band"),
                             datasheet: dict | None = None):
    dataset = DatasetFactory(key=key, owner_team=owner_team)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return registry.dataset_version_register(
        actor=SYSTEM, dataset=dataset, file=ContentFile(buffer.getvalue().encode(), name=f"{key}.csv"),
        protected_attributes=list(protected), contains_personal_data=True, legal_basis="b",
        retention_until=timezone.localdate() + dt.timedelta(days=365),
        datasheet=full_datasheet() if datasheet is None else datasheet,
    )


def trained_model_version(*, use_case, registered_by, estimator="logistic", bias: float = 0.0, seed: int = 11,
                          rows: int = 1500, claimed: dict | None = None, model_key: str | None = None):
    """Trains a model on a synthetic table, registers train/test dataset versions and the model version
    (by `registered_by`, who must hold submit_to_usecase), with the test metrics as claims."""
    import skops.io
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    table = credit_table(rows=rows, seed=seed, bias=bias)
    cut = int(rows * 0.6)
    train, test = table.iloc[:cut], table.iloc[cut:]
    if estimator == "logistic":
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    else:
        model = make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=30, max_depth=2,
                                                                           random_state=0))
    model.fit(train[FEATURES].to_numpy(float), train["defaulted"])
    x_test = test[FEATURES].to_numpy(float)
    metrics = claimed or {
        "accuracy": float(accuracy_score(test["defaulted"], model.predict(x_test))),
        "roc_auc": float(roc_auc_score(test["defaulted"], model.predict_proba(x_test)[:, 1])),
    }
    team = use_case.owner_team
    suffix = f"{use_case.key}-{seed}-{estimator}"
    train_version = register_dataset_version(train, owner_team=team, key=f"train-{suffix}")
    test_version = register_dataset_version(test, owner_team=team, key=f"test-{suffix}")
    model_key = model_key or f"model-{seed}-{estimator}"
    model_row = Model.objects.filter(use_case=use_case, key=model_key).first() or ModelFactory(
        use_case=use_case, key=model_key)
    return registry.model_version_register(
        actor=registered_by, model=model_row,
        artifact=ContentFile(skops.io.dumps(model), name="model.skops"),
        framework="scikit-learn", intended_use="Decision support for credit officers in the tests.",
        limitations="Synthetic training data.", out_of_scope_uses="Automated rejection.",
        training_code_repository="https://git.example.test/credit", features=FEATURES,
        datasets=[registry.DatasetLink(dataset_version=train_version, role="train"),
                  registry.DatasetLink(dataset_version=test_version, role="test")],
        claimed_metrics=[registry.MetricClaim(name=name, value=value, dataset_version=test_version,
                                              higher_is_better=True) for name, value in metrics.items()],
    )
