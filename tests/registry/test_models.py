"""Constraints and immutability of the registry's rows, on every path Django offers."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction

from apps.common.errors import ImmutableRecord
from apps.registry.models import (
    AnnexIIIPoint,
    ClaimedMetric,
    DatasetVersionSource,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionDeveloper,
    UseCase,
    evidence_window,
)
from apps.registry.services import DatasetLink, MetricClaim
from tests.factories.accounts import UserFactory
from tests.factories.registry import DatasetVersionFactory, ModelFactory, ModelVersionFactory, UseCaseFactory

from .conftest import register_version

pytestmark = pytest.mark.django_db


def test_the_annex_iii_fixture_holds_every_point_of_the_reference_list():
    reference = json.loads(Path("/work/shared/reference/eu-ai-act-annex-iii.json").read_text()) \
        if Path("/work/shared/reference/eu-ai-act-annex-iii.json").exists() else None
    fixture = json.loads((settings.BASE_DIR / "fixtures" / "annex_iii_points.json").read_text())
    if reference is not None:
        assert [(row["pk"], row["fields"]["parent"], row["fields"]["title"]) for row in fixture] == [
            (point["code"], point["parent"], point["title"]) for point in reference
        ]
    assert AnnexIIIPoint.objects.count() == len(fixture)
    assert AnnexIIIPoint.objects.get(code="III-5-b").parent_id == "III-5"


def test_loading_reference_data_twice_changes_nothing():
    from django.core.management import call_command

    before = list(AnnexIIIPoint.objects.values_list("code", "parent", "title"))
    call_command("load_reference_data", verbosity=0)
    assert list(AnnexIIIPoint.objects.values_list("code", "parent", "title")) == before


def test_use_case_keys_are_unique_in_the_database():
    UseCaseFactory(key="credit")
    with pytest.raises(IntegrityError), transaction.atomic():
        UseCaseFactory(key="credit")


def test_model_version_numbers_are_unique_per_model_in_the_database():
    model = ModelFactory()
    ModelVersionFactory(model=model, number=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersionFactory(model=model, number=1)


@pytest.fixture
def registered(submitter, model, skops_bytes):
    test_data = DatasetVersionFactory()
    return register_version(
        actor=submitter, model=model, content=skops_bytes, datasets=[DatasetLink(test_data, "test")],
        claimed_metrics=[MetricClaim("accuracy", 0.9, test_data)],
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("artifact_sha256", "0" * 64), ("artifact_size", 1), ("artifact_format", "onnx"), ("artifact", "other.skops"),
     ("framework", "torch")],
)
def test_saving_a_registered_model_version_with_a_changed_field_is_refused(registered, field, value):
    setattr(registered, field, value)
    with pytest.raises(ImmutableRecord, match=f"{field} cannot change"):
        registered.save()
    fresh = ModelVersion.objects.get(pk=registered.pk)
    assert getattr(fresh, field) != value


def test_queryset_writes_and_deletes_of_model_versions_are_refused(registered):
    with pytest.raises(ImmutableRecord):
        ModelVersion.objects.filter(pk=registered.pk).update(artifact_sha256="0" * 64)
    with pytest.raises(ImmutableRecord):
        ModelVersion.objects.all().delete()
    with pytest.raises(ImmutableRecord):
        registered.delete()
    with pytest.raises(ImmutableRecord):
        ModelVersion.objects.bulk_update([registered], ["framework"])
    assert ModelVersion.objects.get(pk=registered.pk).artifact_sha256 == registered.artifact_sha256


def test_dataset_links_and_metrics_cannot_be_changed_removed_or_added_after_registration(registered):
    extra = DatasetVersionFactory()
    link = registered.dataset_links.get()
    metric = registered.claimed_metrics.get()

    metric.value = 0.99
    with pytest.raises(ImmutableRecord):
        metric.save()
    with pytest.raises(ImmutableRecord):
        metric.delete()
    with pytest.raises(ImmutableRecord):
        ClaimedMetric.objects.filter(pk=metric.pk).update(value=0.99)
    with pytest.raises(ImmutableRecord, match="only be recorded while its model version is being registered"):
        ClaimedMetric.objects.create(model_version=registered, name="auc", value=0.8, dataset_version=link.dataset_version)
    with pytest.raises(ImmutableRecord):
        ModelVersionDataset.objects.create(model_version=registered, dataset_version=extra, role="train")
    with pytest.raises(ImmutableRecord):
        ModelVersionDataset.objects.bulk_create([ModelVersionDataset(model_version=registered, dataset_version=extra,
                                                                     role="train")])
    # The related manager runs inside atomic(savepoint=False): a refusal there aborts the caller's
    # transaction, so each attempt gets its own savepoint here.
    with pytest.raises(ImmutableRecord), transaction.atomic():
        registered.datasets.add(extra, through_defaults={"role": "train"})
    with pytest.raises(ImmutableRecord), transaction.atomic():
        registered.datasets.remove(link.dataset_version)
    with pytest.raises(ImmutableRecord), transaction.atomic():
        registered.datasets.clear()
    with pytest.raises(ImmutableRecord):
        link.delete()

    assert list(registered.claimed_metrics.values_list("name", "value")) == [("accuracy", 0.9)]
    assert list(registered.dataset_links.values_list("dataset_version", "role")) == [(link.dataset_version_id, "test")]


def test_developers_cannot_be_added_removed_or_replaced_after_registration(registered, submitter):
    other = UserFactory(username="late-addition")
    link = registered.developer_links.get()
    assert link.user == submitter  # the submitter registered without naming anyone

    link.user = other
    with pytest.raises(ImmutableRecord):
        link.save()
    with pytest.raises(ImmutableRecord):
        link.delete()
    with pytest.raises(ImmutableRecord):
        ModelVersionDeveloper.objects.filter(pk=link.pk).update(user=other)
    with pytest.raises(ImmutableRecord, match="only be recorded while its model version is being registered"):
        ModelVersionDeveloper.objects.create(model_version=registered, user=other)
    # The many-to-many manager's paths, each in its own savepoint (see the test above).
    with pytest.raises(ImmutableRecord), transaction.atomic():
        registered.developers.add(other)
    with pytest.raises(ImmutableRecord), transaction.atomic():
        registered.developers.remove(submitter)
    with pytest.raises(ImmutableRecord), transaction.atomic():
        registered.developers.set([other])
    with pytest.raises(ImmutableRecord), transaction.atomic():
        registered.developers.clear()

    assert list(registered.developers.values_list("username", flat=True)) == [submitter.username]


def test_a_person_is_a_developer_of_a_version_once_in_the_database(registered, submitter):
    with pytest.raises(IntegrityError), transaction.atomic(), evidence_window(registered):
        ModelVersionDeveloper(model_version=registered, user=submitter).save()


def test_the_evidence_window_admits_rows_only_for_the_version_it_was_opened_for(registered):
    other = ModelVersionFactory()
    with evidence_window(other), pytest.raises(ImmutableRecord):
        ClaimedMetric.objects.create(model_version=registered, name="auc", value=0.8,
                                     dataset_version=registered.dataset_links.get().dataset_version)
    assert registered.claimed_metrics.count() == 1


@pytest.fixture
def derived(submitter, team):
    """A dataset version registered through the service as derived from one source version."""
    from apps.registry import services
    from tests.factories.registry import DatasetFactory

    source = DatasetVersionFactory(dataset=DatasetFactory(key="raw", owner_team=team))
    version = services.dataset_version_register(
        actor=submitter, dataset=DatasetFactory(key="clean", owner_team=team), content_sha256="c" * 64,
        row_count=3, schema=[{"name": "age", "type": "integer"}], derived_from=[source])
    return version, source


def test_dataset_version_sources_cannot_be_changed_removed_or_added_after_registration(derived):
    version, source = derived
    link = version.source_links.get()
    other = DatasetVersionFactory(dataset=source.dataset)
    link.source = other
    with pytest.raises(ImmutableRecord, match="part of a registered dataset version and cannot change"):
        link.save()
    with pytest.raises(ImmutableRecord):
        link.delete()
    with pytest.raises(ImmutableRecord):
        DatasetVersionSource.objects.filter(pk=link.pk).update(source=other)
    with pytest.raises(ImmutableRecord):
        DatasetVersionSource.objects.filter(pk=link.pk).delete()
    with pytest.raises(ImmutableRecord, match="only be recorded while its dataset version is being registered "
                                              r"\(dataset_version_register\)"):
        DatasetVersionSource.objects.create(dataset_version=version, source=other)
    # The many-to-many manager's paths, each in its own savepoint.
    with pytest.raises(ImmutableRecord), transaction.atomic():
        version.derived_from.add(other)
    with pytest.raises(ImmutableRecord), transaction.atomic():
        version.derived_from.remove(source)
    with pytest.raises(ImmutableRecord), transaction.atomic():
        version.derived_from.set([other])
    with pytest.raises(ImmutableRecord), transaction.atomic():
        version.derived_from.clear()
    assert list(version.derived_from.all()) == [source]


def test_a_model_versions_evidence_window_does_not_admit_dataset_version_sources(derived, registered):
    version, source = derived
    other = DatasetVersionFactory(dataset=source.dataset)
    # A model version and a dataset version may share a primary key; the window is per kind of version.
    with evidence_window(registered), pytest.raises(ImmutableRecord):
        DatasetVersionSource(dataset_version_id=registered.pk, source=other).save()
    assert version.source_links.count() == 1


def test_a_dataset_version_cannot_derive_from_itself_or_name_a_source_twice_in_the_database(derived):
    version, source = derived
    with pytest.raises(IntegrityError), transaction.atomic(), evidence_window(version):
        DatasetVersionSource(dataset_version=version, source=source).save()
    with pytest.raises(IntegrityError), transaction.atomic(), evidence_window(version):
        DatasetVersionSource(dataset_version=version, source=version).save()


def test_use_cases_models_and_datasets_refuse_deletion():
    version = ModelVersionFactory()
    for row in (version.model.use_case, version.model):
        with pytest.raises(ImmutableRecord):
            row.delete()
    assert UseCase.objects.filter(pk=version.model.use_case.pk).exists()
