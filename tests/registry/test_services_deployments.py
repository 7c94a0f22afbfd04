"""deployment_record and deployment_change_status."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.registry import services
from apps.registry.models import Deployment
from tests.factories.registry import ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(model):
    return ModelVersionFactory(model=model, number=1)


def entries(action) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("index"))


def test_deployment_record_stores_an_active_deployment_and_audits_it(service_user, version):
    deployment = services.deployment_record(actor=service_user, model_version=version, environment="production",
                                            pipeline_run="https://ci.example.com/runs/42")

    assert deployment.status == "active" and deployment.deployed_by == service_user
    assert deployment.model == version.model
    [entry] = entries(Action.REGISTRY_DEPLOYMENT_RECORDED)
    assert (entry.subject_type, entry.subject_id) == ("registry.deployment", str(deployment.pk))
    assert entry.data["environment"] == "production" and entry.data["version"] == 1
    assert entry.data["artifact_sha256"] == version.artifact_sha256
    assert entry.data["pipeline_run"] == "https://ci.example.com/runs/42"
    assert entry.data["retired_deployments"] == []


def test_a_new_active_deployment_retires_the_previous_one_in_the_same_environment_only(submitter, model, version):
    newer = ModelVersionFactory(model=model, number=2)
    old_production = services.deployment_record(actor=submitter, model_version=version, environment="production")
    staging = services.deployment_record(actor=submitter, model_version=version, environment="staging")

    new_production = services.deployment_record(actor=submitter, model_version=newer, environment="production")

    old_production.refresh_from_db()
    staging.refresh_from_db()
    assert old_production.status == "retired" and "Superseded by" in old_production.status_reason
    assert staging.status == "active" and new_production.status == "active"
    [retired] = entries(Action.REGISTRY_DEPLOYMENT_STATUS_CHANGED)
    assert retired.subject_id == str(old_production.pk)
    assert retired.data["before"] == "active" and retired.data["after"] == "retired"
    assert retired.data["superseded_by_version"] == 2
    assert entries(Action.REGISTRY_DEPLOYMENT_RECORDED)[-1].data["retired_deployments"] == [old_production.pk]


def test_the_database_allows_one_active_deployment_per_model_and_environment(version):
    from django.db import IntegrityError, transaction

    Deployment.objects.create(model_version=version, model=version.model, environment="production",
                              deployed_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.create(model_version=version, model=version.model, environment="production",
                                  deployed_at=timezone.now())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"environment": "moon"}, "environment"),
        ({"deployed_at": timezone.now() + dt.timedelta(days=1)}, "deployed_at"),
        ({"deployed_at": dt.datetime(2024, 1, 1)}, "deployed_at"),
    ],
    ids=["unknown-environment", "deployed-in-the-future", "naive-datetime"],
)
def test_deployment_record_refuses_bad_input_and_changes_nothing(submitter, version, audit_count, overrides, field):
    arguments = {"actor": submitter, "model_version": version, "environment": "production", **overrides}
    with pytest.raises(ValidationFailed) as refused:
        services.deployment_record(**arguments)
    assert field in refused.value.field_errors
    assert Deployment.objects.count() == 0 and audit_count() == 0


def test_deployment_record_refuses_outsiders_and_auditors(outsider, auditor, version, audit_count):
    for actor in (outsider, auditor):
        with pytest.raises(PermissionDenied):
            services.deployment_record(actor=actor, model_version=version, environment="production")
    assert Deployment.objects.count() == 0 and audit_count() == 0


def test_deployment_change_status_rolls_back_and_audits_before_and_after(submitter, version):
    deployment = services.deployment_record(actor=submitter, model_version=version, environment="staging")
    services.deployment_change_status(actor=submitter, deployment=deployment, status="rolled_back",
                                      reason="Latency regression.")

    deployment.refresh_from_db()
    assert deployment.status == "rolled_back" and deployment.status_reason == "Latency regression."
    [entry] = entries(Action.REGISTRY_DEPLOYMENT_STATUS_CHANGED)
    assert entry.subject_id == str(deployment.pk)
    assert (entry.data["before"], entry.data["after"], entry.data["reason"]) == (
        "active", "rolled_back", "Latency regression."
    )


def test_rolled_back_and_retired_are_final(submitter, version, audit_count):
    deployment = services.deployment_record(actor=submitter, model_version=version, environment="staging")
    services.deployment_change_status(actor=submitter, deployment=deployment, status="retired", reason="Done.")
    before = audit_count()
    for status in ("active", "rolled_back"):
        with pytest.raises(Conflict, match="is retired; it cannot become"):
            services.deployment_change_status(actor=submitter, deployment=deployment, status=status, reason="x")
    assert audit_count() == before


def test_deployment_change_status_refuses_outsiders_and_unknown_statuses(submitter, outsider, version, audit_count):
    deployment = services.deployment_record(actor=submitter, model_version=version, environment="staging")
    before = audit_count()
    with pytest.raises(PermissionDenied):
        services.deployment_change_status(actor=outsider, deployment=deployment, status="retired", reason="x")
    with pytest.raises(ValidationFailed, match="'paused' is not one of"):
        services.deployment_change_status(actor=submitter, deployment=deployment, status="paused", reason="x")
    deployment.refresh_from_db()
    assert deployment.status == "active" and audit_count() == before
