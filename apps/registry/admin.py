"""Read-only admin pages for the registry. Every change goes through apps.registry.services, so the
admin can look but never add, edit or delete (it would bypass permission checks and the audit log)."""

from django.contrib import admin

from .models import (
    AnnexIIIPoint,
    ClaimedMetric,
    ClassificationDecision,
    Dataset,
    DatasetVersion,
    Deployment,
    Model,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionDeveloper,
    UseCase,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shows rows; refuses add, change and delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AnnexIIIPoint)
class AnnexIIIPointAdmin(ReadOnlyAdmin):
    list_display = ["code", "title", "parent"]
    search_fields = ["code", "title"]


class ClassificationDecisionInline(ReadOnlyInline):
    model = ClassificationDecision
    fields = ["decided_at", "risk_class", "annex_iii_point", "art6_3_exemption", "decided_by"]
    fk_name = "use_case"


@admin.register(UseCase)
class UseCaseAdmin(ReadOnlyAdmin):
    list_display = ["key", "name", "owner_team", "risk_class", "model_risk_tier", "operator_role"]
    list_filter = ["risk_class", "model_risk_tier", "operator_role", "owner_team"]
    search_fields = ["key", "name", "intended_purpose"]
    list_select_related = ["owner_team"]
    inlines = [ClassificationDecisionInline]


@admin.register(ClassificationDecision)
class ClassificationDecisionAdmin(ReadOnlyAdmin):
    list_display = ["use_case", "risk_class", "annex_iii_point", "decided_at", "decided_by"]
    list_filter = ["risk_class"]
    list_select_related = ["use_case", "annex_iii_point", "decided_by"]


@admin.register(Model)
class ModelAdmin(ReadOnlyAdmin):
    list_display = ["key", "name", "use_case", "created_at"]
    search_fields = ["key", "name"]
    list_select_related = ["use_case"]


class ModelVersionDatasetInline(ReadOnlyInline):
    model = ModelVersionDataset
    fields = ["dataset_version", "role"]


class ModelVersionDeveloperInline(ReadOnlyInline):
    model = ModelVersionDeveloper
    fields = ["user"]


class ClaimedMetricInline(ReadOnlyInline):
    model = ClaimedMetric
    fields = ["name", "value", "dataset_version", "higher_is_better", "threshold_note"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "artifact_format", "artifact_sha256", "artifact_size", "registered_at", "registered_by"]
    list_filter = ["artifact_format", "framework"]
    search_fields = ["artifact_sha256", "model__key", "model__use_case__key"]
    list_select_related = ["model__use_case", "registered_by"]
    inlines = [ModelVersionDatasetInline, ModelVersionDeveloperInline, ClaimedMetricInline]


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ["key", "name", "owner_team", "source_system"]
    search_fields = ["key", "name"]
    list_select_related = ["owner_team"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "content_sha256", "row_count", "lifecycle_state", "contains_personal_data", "retention_until"]
    list_filter = ["lifecycle_state", "contains_personal_data", "contains_special_category_data", "file_format"]
    search_fields = ["content_sha256", "dataset__key"]
    list_select_related = ["dataset"]


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ["model_version", "environment", "status", "deployed_at", "deployed_by", "pipeline_run"]
    list_filter = ["environment", "status"]
    list_select_related = ["model_version__model__use_case", "deployed_by"]
