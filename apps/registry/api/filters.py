"""Query filters for the registry's list endpoints (django-filter)."""

import datetime as dt

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

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


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO allows."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError("The date-time is out of range.") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StrictFilterSet(django_filters.FilterSet):
    """Refuses a filter it cannot apply instead of ignoring it: an empty value for a choice, yes/no or
    date-time filter, and a yes/no filter that is not true or false, are field errors (400)."""

    BOOLEAN_VALUES = frozenset({"true", "false", "1", "0"})

    def is_valid(self) -> bool:
        super().is_valid()
        for name, filter_ in self.filters.items():
            if name not in self.data or isinstance(filter_, django_filters.CharFilter):
                continue
            raw = self.data.get(name)
            if raw == "":
                self.form.add_error(name, "Give a value, or leave the filter out.")
            elif isinstance(filter_, django_filters.BooleanFilter) and raw.lower() not in self.BOOLEAN_VALUES:
                self.form.add_error(name, "Must be true or false.")
        return not self.form.errors


class UseCaseFilter(StrictFilterSet):
    risk_class = django_filters.ChoiceFilter(choices=RiskClass.choices)
    model_risk_tier = django_filters.ChoiceFilter(choices=ModelRiskTier.choices)
    owner_team = django_filters.CharFilter(field_name="owner_team__key")

    class Meta:
        model = UseCase
        fields = ["risk_class", "model_risk_tier", "owner_team"]


class ModelFilter(StrictFilterSet):
    use_case = django_filters.CharFilter(field_name="use_case__key")

    class Meta:
        model = Model
        fields = ["use_case"]


class ModelVersionFilter(StrictFilterSet):
    use_case = django_filters.CharFilter(field_name="model__use_case__key")
    model = django_filters.CharFilter(field_name="model__key")
    artifact_sha256 = django_filters.CharFilter(field_name="artifact_sha256", lookup_expr="iexact")
    artifact_format = django_filters.ChoiceFilter(choices=ArtifactFormat.choices)
    framework = django_filters.CharFilter(field_name="framework")
    registered_after = UtcIsoDateTimeFilter(field_name="registered_at", lookup_expr="gte")
    registered_before = UtcIsoDateTimeFilter(field_name="registered_at", lookup_expr="lt")

    class Meta:
        model = ModelVersion
        fields = ["use_case", "model", "artifact_sha256", "artifact_format", "framework"]


class DatasetFilter(StrictFilterSet):
    owner_team = django_filters.CharFilter(field_name="owner_team__key")

    class Meta:
        model = Dataset
        fields = ["owner_team"]


class DatasetVersionFilter(StrictFilterSet):
    content_sha256 = django_filters.CharFilter(field_name="content_sha256", lookup_expr="iexact")
    lifecycle_state = django_filters.ChoiceFilter(choices=LifecycleState.choices)
    contains_personal_data = django_filters.BooleanFilter()

    class Meta:
        model = DatasetVersion
        fields = ["content_sha256", "lifecycle_state", "contains_personal_data"]


class DeploymentFilter(StrictFilterSet):
    use_case = django_filters.CharFilter(field_name="model__use_case__key")
    model = django_filters.CharFilter(field_name="model__key")
    environment = django_filters.CharFilter(field_name="environment")
    status = django_filters.ChoiceFilter(choices=DeploymentStatus.choices)

    class Meta:
        model = Deployment
        fields = ["use_case", "model", "environment", "status"]
