"""The demo data command."""

import io

import pytest
from django.core.management import call_command

from apps.accounts.models import Team, User
from apps.audit.models import AuditEntry
from apps.registry.models import (
    ClaimedMetric,
    ClassificationDecision,
    Dataset,
    DatasetVersion,
    Model,
    ModelVersion,
    UseCase,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

COUNTED = [User, Team, UseCase, ClassificationDecision, Model, ModelVersion, ClaimedMetric, Dataset, DatasetVersion,
           AuditEntry]


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_seed_demo_creates_the_demo_through_the_services_and_a_second_run_creates_nothing():
    output = io.StringIO()
    call_command("seed_demo", "--password", "a-long-demo-password", stdout=output)
    first = counts()

    assert set(User.objects.values_list("username", flat=True)) >= {"submitter", "validator", "approver", "auditor",
                                                                      "admin"}
    assert "submitter  / a-long-demo-password / submitter" in output.getvalue()
    assert User.objects.get(username="auditor").check_password("a-long-demo-password")
    assert dict(UseCase.objects.values_list("key", "risk_class")) == {
        "credit-scoring": "high", "cv-screening": "high", "fraud-detection": "minimal"
    }
    assert UseCase.objects.get(key="credit-scoring").current_classification.annex_iii_point_id == "III-5-b"
    assert UseCase.objects.get(key="cv-screening").current_classification.annex_iii_point_id == "III-4-a"
    version = ModelVersion.objects.get()
    assert version.artifact_format == "skops" and version.number == 1
    test_data = DatasetVersion.objects.get(dataset__key="credit-applications-test")
    assert set(version.claimed_metrics.values_list("name", "dataset_version")) == {
        ("accuracy", test_data.pk), ("roc_auc", test_data.pk)
    }
    assert {link.role for link in version.dataset_links.all()} == {"train", "test"}
    assert list(version.developers.values_list("username", flat=True)) == ["submitter"]  # Docket registered it
    assert "sex" in test_data.protected_attributes and "age_band" in test_data.column_names
    # Every demo row was written by a service: each has its audit entry.
    assert AuditEntry.objects.filter(action="registry.model_version.registered", subject_id=str(version.pk)).exists()
    assert AuditEntry.objects.filter(action="registry.use_case.classified").count() == 3

    second_output = io.StringIO()
    call_command("seed_demo", stdout=second_output)
    assert counts() == first
    assert "created 0 object(s)" in second_output.getvalue()


def test_the_demo_tables_are_reproducible():
    from apps.registry import demo

    assert demo.credit_applications().to_csv() == demo.credit_applications().to_csv()
    assert demo.card_transactions().to_csv() == demo.card_transactions().to_csv()
