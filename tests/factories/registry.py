"""Registry rows for test set-up. Services are what the tests exercise; factories only arrange state."""

import datetime as dt
import hashlib

import factory
from django.core.files.base import ContentFile
from guardian.shortcuts import assign_perm

from apps.registry.models import (
    ColumnType,
    Dataset,
    DatasetVersion,
    Deployment,
    Model,
    ModelVersion,
    OperatorRole,
    UseCase,
)

from .accounts import TeamFactory, UserFactory


class UseCaseFactory(factory.django.DjangoModelFactory):
    """A use case; its owner team gets view_usecase and submit_to_usecase, as use_case_create grants."""

    class Meta:
        model = UseCase
        skip_postgeneration_save = True

    key = factory.Sequence(lambda n: f"use-case-{n}")
    name = factory.LazyAttribute(lambda use_case: use_case.key.replace("-", " ").title())
    intended_purpose = "Decide something about people, for the tests."
    owner_team = factory.SubFactory(TeamFactory)
    business_owner = factory.SubFactory(UserFactory)
    operator_role = OperatorRole.PROVIDER
    member_states = factory.LazyFunction(lambda: ["DE"])

    @factory.post_generation
    def grant_owner_team(self, create, extracted, **kwargs):
        if create and extracted is not False:
            for codename in ("view_usecase", "submit_to_usecase"):
                assign_perm(f"registry.{codename}", self.owner_team.group, self)


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Model

    use_case = factory.SubFactory(UseCaseFactory)
    key = factory.Sequence(lambda n: f"model-{n}")
    name = factory.LazyAttribute(lambda model: model.key.title())


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    key = factory.Sequence(lambda n: f"dataset-{n}")
    name = factory.LazyAttribute(lambda dataset: dataset.key.title())
    owner_team = factory.SubFactory(TeamFactory)
    source_system = "warehouse"


class DatasetVersionFactory(factory.django.DjangoModelFactory):
    """A registered dataset version without a stored file."""

    class Meta:
        model = DatasetVersion

    dataset = factory.SubFactory(DatasetFactory)
    number = factory.Sequence(lambda n: n + 1)
    content_sha256 = factory.Sequence(lambda n: hashlib.sha256(f"dataset-content-{n}".encode()).hexdigest())
    row_count = 100
    schema = factory.LazyFunction(
        lambda: [{"name": "age", "type": ColumnType.INTEGER}, {"name": "sex", "type": ColumnType.STRING},
                 {"name": "label", "type": ColumnType.INTEGER}]
    )


def _artifact_bytes(n: int) -> bytes:
    return f"factory artifact {n}".encode()


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A registered model version whose stored artifact's hash and size match its bytes."""

    class Meta:
        model = ModelVersion
        exclude = ["content"]

    model = factory.SubFactory(ModelFactory)
    number = factory.Sequence(lambda n: n + 1)
    content = factory.Sequence(_artifact_bytes)
    artifact_sha256 = factory.LazyAttribute(lambda version: hashlib.sha256(version.content).hexdigest())
    artifact_size = factory.LazyAttribute(lambda version: len(version.content))
    artifact = factory.LazyAttribute(lambda version: ContentFile(version.content, name="model.skops"))
    artifact_format = "skops"
    framework = "scikit-learn"
    intended_use = "Tests."


class DeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deployment

    model_version = factory.SubFactory(ModelVersionFactory)
    model = factory.LazyAttribute(lambda deployment: deployment.model_version.model)
    environment = "staging"
    deployed_at = factory.Faker("past_datetime", tzinfo=dt.UTC)
