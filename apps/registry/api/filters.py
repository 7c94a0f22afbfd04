"""Query filters for the registry's list endpoints (django-filter)."""

import django_filters

from apps.registry.models import (
    ArtifactFormat,
    Dataset,
    DatasetVersion,
    Deployment,
    DeploymentStatus,
    LifecycleState,
    Model,
    ModelRiskTier,
    ModelVersion,
    RiskClass,
    UseCase,
)


class UseCaseFilter(django_filters.FilterSet):
    risk_class = django_filters.ChoiceFilter(choices=RiskClass.choices)
    model_risk_tier = django_filters.ChoiceFilter(choices=ModelRiskTier.choices)
    owner_team = django_filters.CharFilter(field_name="owner_team__key")

    class Meta:
        model = UseCase
        fields = ["risk_class", "model_risk_tier", "owner_team"]


class ModelFilter(django_filters.FilterSet):
    use_case = django_filters.CharFilter(field_name="use_case__key")

    class Meta:
        model = Model
        fields = ["use_case"]


class ModelVersionFilter(django_filters.FilterSet):
    use_case = django_filters.CharFilter(field_name="model__use_case__key")
    model = django_filters.CharFilter(field_name="model__key")
    artifact_sha256 = django_filters.CharFilter(field_name="artifact_sha256", lookup_expr="iexact")
    artifact_format = django_filters.ChoiceFilter(choices=ArtifactFormat.choices)
    framework = django_filters.CharFilter(field_name="framework")
    registered_after = django_filters.IsoDateTimeFilter(field_name="registered_at", lookup_expr="gte")
    registered_before = django_filters.IsoDateTimeFilter(field_name="registered_at", lookup_expr="lt")

    class Meta:
        model = ModelVersion
        fields = ["use_case", "model", "artifact_sha256", "artifact_format", "framework"]


class DatasetFilter(django_filters.FilterSet):
    owner_team = django_filters.CharFilter(field_name="owner_team__key")

    class Meta:
        model = Dataset
        fields = ["owner_team"]


class DatasetVersionFilter(django_filters.FilterSet):
    content_sha256 = django_filters.CharFilter(field_name="content_sha256", lookup_expr="iexact")
    lifecycle_state = django_filters.ChoiceFilter(choices=LifecycleState.choices)
    contains_personal_data = django_filters.BooleanFilter()

    class Meta:
        model = DatasetVersion
        fields = ["content_sha256", "lifecycle_state", "contains_personal_data"]


class DeploymentFilter(django_filters.FilterSet):
    use_case = django_filters.CharFilter(field_name="model__use_case__key")
    model = django_filters.CharFilter(field_name="model__key")
    environment = django_filters.CharFilter(field_name="environment")
    status = django_filters.ChoiceFilter(choices=DeploymentStatus.choices)

    class Meta:
        model = Deployment
        fields = ["use_case", "model", "environment", "status"]
