"""Input and output shapes of the registry API. Output serializers never write; input serializers only
parse and type-check, and the services decide the rest."""

from __future__ import annotations

from rest_framework import serializers

from apps.common.api.serializers import JSONValueField, StrictInputSerializer
from apps.registry.models import (
    ART5_PRACTICES,
    DATASHEET_FIELDS,
    Art50Duty,
    Art63Exemption,
    DatasetRole,
    DeploymentStatus,
    LegalBasis,
    LifecycleState,
    ModelRiskTier,
    OperatorRole,
)
from apps.registry.services import MAX_DATASET_SOURCES


def _username(user) -> str | None:
    return None if user is None else user.username


# --- use cases --------------------------------------------------------------------------------------


class ClassificationDecisionOut(serializers.Serializer):
    id = serializers.IntegerField()
    risk_class = serializers.CharField()
    art5_answers = serializers.DictField(child=serializers.BooleanField())
    annex_i_safety_component = serializers.BooleanField()
    annex_iii_point = serializers.SerializerMethodField()
    profiles_natural_persons = serializers.BooleanField()
    art6_3_exemption = serializers.CharField()
    art6_3_rationale = serializers.CharField()
    art50_duties = serializers.ListField(child=serializers.CharField())
    rationale = serializers.CharField()
    decided_by = serializers.SerializerMethodField()
    decided_at = serializers.DateTimeField()

    def get_annex_iii_point(self, decision) -> str | None:
        return decision.annex_iii_point_id

    def get_decided_by(self, decision) -> str | None:
        return _username(decision.decided_by)


class UseCaseOut(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    intended_purpose = serializers.CharField()
    owner_team = serializers.CharField(source="owner_team.key")
    business_owner = serializers.CharField(source="business_owner.username")
    operator_role = serializers.CharField()
    affected_persons = serializers.CharField()
    member_states = serializers.ListField(child=serializers.CharField())
    risk_class = serializers.CharField()
    current_classification_id = serializers.IntegerField(allow_null=True)
    model_risk_tier = serializers.CharField()
    model_risk_tier_rationale = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class UseCaseCreateIn(StrictInputSerializer):
    key = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    intended_purpose = serializers.CharField()
    owner_team = serializers.CharField(help_text="Key of the owning team.")
    business_owner = serializers.CharField(help_text="Username of the accountable person.")
    operator_role = serializers.ChoiceField(choices=OperatorRole.choices)
    affected_persons = serializers.CharField(required=False, allow_blank=True, default="")
    member_states = serializers.ListField(child=serializers.CharField(max_length=2), required=False, default=list)


class UseCaseUpdateIn(StrictInputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    intended_purpose = serializers.CharField(required=False)
    business_owner = serializers.CharField(required=False, help_text="Username of the accountable person.")
    operator_role = serializers.ChoiceField(choices=OperatorRole.choices, required=False)
    affected_persons = serializers.CharField(required=False, allow_blank=True)
    member_states = serializers.ListField(child=serializers.CharField(max_length=2), required=False)


class Art5AnswersIn(StrictInputSerializer):
    def get_fields(self):
        return {letter: serializers.BooleanField() for letter in ART5_PRACTICES}


class ClassificationIn(StrictInputSerializer):
    art5_answers = Art5AnswersIn()
    annex_i_safety_component = serializers.BooleanField()
    annex_iii_code = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
    profiles_natural_persons = serializers.BooleanField()
    rationale = serializers.CharField()
    art6_3_exemption = serializers.ChoiceField(choices=Art63Exemption.choices, required=False, allow_blank=True,
                                               default="")
    art6_3_rationale = serializers.CharField(required=False, allow_blank=True, default="")
    art50_duties = serializers.ListField(child=serializers.ChoiceField(choices=Art50Duty.choices), required=False,
                                         default=list)


class RiskTierIn(StrictInputSerializer):
    tier = serializers.ChoiceField(choices=ModelRiskTier.choices)
    rationale = serializers.CharField()


# --- models and versions ----------------------------------------------------------------------------


class ModelOut(serializers.Serializer):
    use_case = serializers.CharField(source="use_case.key")
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class ModelCreateIn(StrictInputSerializer):
    key = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetLinkOut(serializers.Serializer):
    dataset = serializers.CharField(source="dataset_version.dataset.key")
    version = serializers.IntegerField(source="dataset_version.number")
    content_sha256 = serializers.CharField(source="dataset_version.content_sha256")
    role = serializers.CharField()


class ClaimedMetricOut(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField()
    dataset = serializers.CharField(source="dataset_version.dataset.key")
    version = serializers.IntegerField(source="dataset_version.number")
    higher_is_better = serializers.BooleanField(allow_null=True)
    threshold_note = serializers.CharField()


class DeveloperOut(serializers.Serializer):
    """A person who developed a model version (a link row; its `user` is prefetched by the selector)."""

    username = serializers.CharField(source="user.username")
    display_name = serializers.CharField(source="user.display_name")


class ModelVersionOut(serializers.Serializer):
    use_case = serializers.CharField(source="model.use_case.key")
    model = serializers.CharField(source="model.key")
    number = serializers.IntegerField()
    artifact_sha256 = serializers.CharField()
    artifact_size = serializers.IntegerField()
    artifact_format = serializers.CharField()
    artifact_original_name = serializers.CharField()
    framework = serializers.CharField()
    framework_version = serializers.CharField()
    library_versions = serializers.DictField(child=serializers.CharField())
    training_code_repository = serializers.CharField()
    training_code_commit = serializers.CharField()
    hyperparameters = serializers.JSONField()
    features = serializers.ListField(child=serializers.CharField())
    intended_use = serializers.CharField()
    out_of_scope_uses = serializers.CharField()
    limitations = serializers.CharField()
    parent = serializers.SerializerMethodField()
    datasets = DatasetLinkOut(source="dataset_link_list", many=True)  # prefetched by the selector
    claimed_metrics = ClaimedMetricOut(source="claimed_metric_list", many=True)
    developers = DeveloperOut(source="developer_link_list", many=True,
                              help_text="The people who developed the version, as named at registration; "
                                        "empty when a service account registered it without naming any.")
    registered_by = serializers.SerializerMethodField()
    registered_at = serializers.DateTimeField()

    def get_parent(self, version) -> int | None:
        return None if version.parent is None else version.parent.number

    def get_registered_by(self, version) -> str | None:
        return _username(version.registered_by)


class DatasetLinkIn(StrictInputSerializer):
    dataset = serializers.CharField(help_text="Dataset key.")
    version = serializers.IntegerField(min_value=1)
    role = serializers.ChoiceField(choices=DatasetRole.choices)


class ClaimedMetricIn(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    value = serializers.FloatField()
    dataset = serializers.CharField(help_text="Key of a dataset linked in `datasets`.")
    version = serializers.IntegerField(min_value=1)
    higher_is_better = serializers.BooleanField(required=False, allow_null=True, default=None)
    threshold_note = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class ModelVersionRegisterIn(StrictInputSerializer):
    """multipart/form-data: the artifact file plus fields; JSON-valued fields are sent as JSON text."""

    artifact = serializers.FileField(help_text="skops or ONNX file; pickle/joblib are refused.")
    declared_sha256 = serializers.CharField(
        max_length=71, help_text="SHA-256 (hex) of the artifact as the client computed it; must match."
    )
    framework = serializers.CharField(max_length=100)
    intended_use = serializers.CharField()
    framework_version = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    library_versions = JSONValueField(kind=dict, required=False, default=dict)
    training_code_repository = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    training_code_commit = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    hyperparameters = JSONValueField(kind=dict, required=False, default=dict)
    features = JSONValueField(kind=list, required=False, default=list)
    datasets = JSONValueField(kind=list, required=False, default=list,
                              help_text='JSON array of {"dataset": key, "version": n, "role": "train"|...}.')
    claimed_metrics = JSONValueField(
        kind=list, required=False, default=list,
        help_text='JSON array of {"name", "value", "dataset", "version", "higher_is_better", "threshold_note"}.',
    )
    out_of_scope_uses = serializers.CharField(required=False, allow_blank=True, default="")
    limitations = serializers.CharField(required=False, allow_blank=True, default="")
    parent = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None,
                                      help_text="Number of the earlier version this one corrects or supersedes.")
    developers = JSONValueField(
        kind=list, required=False, default=list,
        help_text="JSON array of the usernames of the people who developed the version (at most 50, active "
                  "people, not service accounts). Omitted or empty: the caller when the caller is a person; "
                  "nobody when a service account registers.",
    )

    def validate_datasets(self, value):
        return self._validate_items(value, DatasetLinkIn)

    def validate_claimed_metrics(self, value):
        return self._validate_items(value, ClaimedMetricIn)

    @staticmethod
    def _validate_items(value, serializer_class):
        cleaned, errors = [], {}
        for position, item in enumerate(value):
            serializer = serializer_class(data=item)
            if serializer.is_valid():
                cleaned.append(serializer.validated_data)
            else:
                errors[str(position)] = serializer.errors
        if errors:
            raise serializers.ValidationError(errors)
        return cleaned


# --- datasets ---------------------------------------------------------------------------------------


class DatasetOut(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    owner_team = serializers.CharField(source="owner_team.key")
    source_system = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class DatasetCreateIn(StrictInputSerializer):
    key = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    owner_team = serializers.CharField(help_text="Key of the owning team.")
    source_system = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetSourceOut(serializers.Serializer):
    """A dataset version another was derived from (a link row; its `source` is prefetched by the selector)."""

    dataset = serializers.CharField(source="source.dataset.key")
    version = serializers.IntegerField(source="source.number")
    content_sha256 = serializers.CharField(source="source.content_sha256")


class DatasetVersionOut(serializers.Serializer):
    dataset = serializers.CharField(source="dataset.key")
    number = serializers.IntegerField()
    content_sha256 = serializers.CharField()
    row_count = serializers.IntegerField()
    schema = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    has_file = serializers.SerializerMethodField()
    file_format = serializers.CharField()
    file_size = serializers.IntegerField(allow_null=True)
    file_original_name = serializers.CharField()
    contains_personal_data = serializers.BooleanField()
    contains_special_category_data = serializers.BooleanField()
    special_category_justification = serializers.CharField()
    protected_attributes = serializers.ListField(child=serializers.CharField())
    legal_basis = serializers.CharField()
    retention_until = serializers.DateField(allow_null=True)
    lifecycle_state = serializers.CharField()
    lifecycle_changed_at = serializers.DateTimeField(allow_null=True)
    datasheet = serializers.SerializerMethodField()
    derived_from = DatasetSourceOut(
        source="source_link_list", many=True,  # prefetched by the selector
        help_text="The dataset versions this one was derived from, as named at registration; sources of "
                  "datasets the caller may not see are left out.",
    )
    registered_by = serializers.SerializerMethodField()
    registered_at = serializers.DateTimeField()

    def get_has_file(self, version) -> bool:
        return bool(version.file)

    def get_datasheet(self, version) -> dict[str, str]:
        return {name: value for name, value in version.datasheet().items() if value}

    def get_registered_by(self, version) -> str | None:
        return _username(version.registered_by)


class SchemaColumnIn(StrictInputSerializer):
    name = serializers.CharField()
    type = serializers.CharField()


class DatasetVersionRefIn(StrictInputSerializer):
    dataset = serializers.CharField(help_text="Dataset key.")
    version = serializers.IntegerField(min_value=1)


class DatasetVersionRegisterIn(StrictInputSerializer):
    """JSON (declared facts only) or multipart/form-data with a CSV or Parquet `file`."""

    file = serializers.FileField(required=False, allow_null=True, default=None)
    content_sha256 = serializers.CharField(max_length=71, required=False, allow_blank=True, allow_null=True,
                                           default=None)
    row_count = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)
    schema = JSONValueField(kind=list, required=False, allow_null=True, default=None,
                            help_text='Columns as [{"name": ..., "type": ...}].')
    contains_personal_data = serializers.BooleanField(required=False, default=False)
    contains_special_category_data = serializers.BooleanField(required=False, default=False)
    special_category_justification = serializers.CharField(required=False, allow_blank=True, default="")
    protected_attributes = JSONValueField(kind=list, required=False, default=list)
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices, required=False, allow_blank=True, default="")
    retention_until = serializers.DateField(required=False, allow_null=True, default=None)
    datasheet = JSONValueField(kind=dict, required=False, default=dict,
                               help_text="Art. 10(2) and datasheet fields: " + ", ".join(DATASHEET_FIELDS) + ".")
    derived_from = JSONValueField(
        kind=list, required=False, default=list,
        help_text='JSON array of the dataset versions this one was derived from, as {"dataset": key, "version": n} '
                  "(at most 50, each once, each one you may see).",
    )

    def validate_derived_from(self, value):
        if len(value) > MAX_DATASET_SOURCES:
            raise serializers.ValidationError(
                f"At most {MAX_DATASET_SOURCES} source dataset versions may be named (got {len(value)}).")
        return ModelVersionRegisterIn._validate_items(value, DatasetVersionRefIn)


class LifecycleChangeIn(StrictInputSerializer):
    state = serializers.ChoiceField(choices=LifecycleState.choices)
    reason = serializers.CharField()


# --- deployments ------------------------------------------------------------------------------------


class DeploymentOut(serializers.Serializer):
    id = serializers.IntegerField()
    use_case = serializers.CharField(source="model_version.model.use_case.key")
    model = serializers.CharField(source="model_version.model.key")
    version = serializers.IntegerField(source="model_version.number")
    artifact_sha256 = serializers.CharField(source="model_version.artifact_sha256")
    environment = serializers.CharField()
    deployed_at = serializers.DateTimeField()
    deployed_by = serializers.SerializerMethodField()
    pipeline_run = serializers.CharField()
    status = serializers.CharField()
    status_changed_at = serializers.DateTimeField(allow_null=True)
    status_reason = serializers.CharField()

    def get_deployed_by(self, deployment) -> str | None:
        return _username(deployment.deployed_by)


class DeploymentRecordIn(StrictInputSerializer):
    use_case = serializers.CharField()
    model = serializers.CharField()
    version = serializers.IntegerField(min_value=1)
    environment = serializers.CharField(max_length=64, help_text="One of DOCKET_ENVIRONMENTS.")
    deployed_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    pipeline_run = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DeploymentStatusIn(StrictInputSerializer):
    status = serializers.ChoiceField(choices=[DeploymentStatus.ROLLED_BACK, DeploymentStatus.RETIRED])
    reason = serializers.CharField()
