"""The registry: AI use cases and their EU AI Act classification, models, model versions, datasets,
dataset versions and deployments.

Registered evidence (classification decisions, model versions with their dataset links, developers
and claimed metrics, dataset versions with their sources) is immutable: the models below refuse changes
on every path Django offers (`save()`, `delete()`, queryset `update()`/`delete()`/`bulk_*`). Rows are
written by `apps.registry.services` only.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.common.errors import ImmutableRecord
from apps.common.models import TimeStampedModel

# --- choices ----------------------------------------------------------------------------------------

EU_MEMBER_STATES = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)  # ISO 3166-1 alpha-2 of the EU-27 (Greece is GR, not the EU's "EL").

ART5_PRACTICES = {
    "a": "Manipulative, subliminal or deceptive techniques (Art. 5(1)(a))",
    "b": "Exploiting vulnerabilities due to age, disability or socio-economic situation (Art. 5(1)(b))",
    "c": "Social scoring (Art. 5(1)(c))",
    "d": "Crime prediction based solely on profiling (Art. 5(1)(d))",
    "e": "Untargeted scraping of facial images (Art. 5(1)(e))",
    "f": "Emotion inference at work or in education (Art. 5(1)(f))",
    "g": "Biometric categorisation inferring sensitive traits (Art. 5(1)(g))",
    "h": "Real-time remote biometric identification in public spaces for law enforcement (Art. 5(1)(h))",
}


class RiskClass(models.TextChoices):
    PROHIBITED = "prohibited", "Prohibited (Art. 5)"
    HIGH = "high", "High risk (Art. 6)"
    LIMITED = "limited", "Limited risk (Art. 50 transparency)"
    MINIMAL = "minimal", "Minimal risk"


class ModelRiskTier(models.TextChoices):
    TIER_1 = "1", "Tier 1 (high materiality)"
    TIER_2 = "2", "Tier 2 (medium materiality)"
    TIER_3 = "3", "Tier 3 (low materiality)"


class OperatorRole(models.TextChoices):
    PROVIDER = "provider", "Provider"
    DEPLOYER = "deployer", "Deployer"
    BOTH = "both", "Provider and deployer"


class Art63Exemption(models.TextChoices):
    NARROW_PROCEDURAL_TASK = "a", "Art. 6(3)(a): narrow procedural task"
    IMPROVES_HUMAN_ACTIVITY = "b", "Art. 6(3)(b): improves the result of a completed human activity"
    DETECTS_DECISION_PATTERNS = "c", "Art. 6(3)(c): detects decision patterns without replacing human assessment"
    PREPARATORY_TASK = "d", "Art. 6(3)(d): preparatory task to an assessment"


class Art50Duty(models.TextChoices):
    DISCLOSE_AI_INTERACTION = "ai_interaction", "Disclose interaction with an AI system (Art. 50(1))"
    MARK_SYNTHETIC_CONTENT = "synthetic_content", "Mark synthetic content as AI-generated (Art. 50(2))"
    EMOTION_OR_BIOMETRIC_NOTICE = (
        "emotion_biometric_notice",
        "Inform persons exposed to emotion recognition or biometric categorisation (Art. 50(3))",
    )
    DEEP_FAKE_DISCLOSURE = "deep_fake", "Disclose deep fakes and AI-generated public-interest text (Art. 50(4))"


class ArtifactFormat(models.TextChoices):
    SKOPS = "skops", "skops (scikit-learn, allow-listed types)"
    ONNX = "onnx", "ONNX"


class DatasetRole(models.TextChoices):
    TRAIN = "train", "Training"
    VALIDATION = "validation", "Validation"
    TEST = "test", "Test"
    REFERENCE = "reference", "Reference"


class DatasetFileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class ColumnType(models.TextChoices):
    INTEGER = "integer", "Integer"
    FLOAT = "float", "Floating point / decimal"
    BOOLEAN = "boolean", "Boolean"
    STRING = "string", "String"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    BINARY = "binary", "Binary"
    OTHER = "other", "Other (nested or extension type)"


class LegalBasis(models.TextChoices):
    CONSENT = "a", "GDPR Art. 6(1)(a): consent"
    CONTRACT = "b", "GDPR Art. 6(1)(b): performance of a contract"
    LEGAL_OBLIGATION = "c", "GDPR Art. 6(1)(c): legal obligation"
    VITAL_INTERESTS = "d", "GDPR Art. 6(1)(d): vital interests"
    PUBLIC_TASK = "e", "GDPR Art. 6(1)(e): public task"
    LEGITIMATE_INTERESTS = "f", "GDPR Art. 6(1)(f): legitimate interests"


class LifecycleState(models.TextChoices):
    ACTIVE = "active", "Active"
    PSEUDONYMISED = "pseudonymised", "Pseudonymised"
    DELETED = "deleted", "Deleted"


LIFECYCLE_TRANSITIONS = {
    LifecycleState.ACTIVE: {LifecycleState.PSEUDONYMISED, LifecycleState.DELETED},
    LifecycleState.PSEUDONYMISED: {LifecycleState.DELETED},
    LifecycleState.DELETED: set(),
}


class DeploymentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ROLLED_BACK = "rolled_back", "Rolled back"
    RETIRED = "retired", "Retired"


DEPLOYMENT_TRANSITIONS = {
    DeploymentStatus.ACTIVE: {DeploymentStatus.ROLLED_BACK, DeploymentStatus.RETIRED},
    DeploymentStatus.ROLLED_BACK: set(),
    DeploymentStatus.RETIRED: set(),
}

# Art. 10(2)(a)-(h) data-governance fields, then the Gebru et al. datasheet sections: field -> label.
DATASHEET_FIELDS = {
    "design_choices": "Relevant design choices (Art. 10(2)(a))",
    "collection_and_origin": "Collection processes, origin of data and original purpose of personal data (Art. 10(2)(b))",
    "preparation": "Preparation: annotation, labelling, cleaning, updating, enrichment, aggregation (Art. 10(2)(c))",
    "assumptions": "Assumptions about what the data measure and represent (Art. 10(2)(d))",
    "availability_quantity_suitability": "Availability, quantity and suitability of the data (Art. 10(2)(e))",
    "bias_examination": "Examination for possible biases (Art. 10(2)(f))",
    "bias_measures": "Measures to detect, prevent and mitigate biases (Art. 10(2)(g))",
    "data_gaps": "Data gaps or shortcomings and how they are addressed (Art. 10(2)(h))",
    "motivation": "Datasheet: motivation",
    "composition": "Datasheet: composition",
    "collection_process": "Datasheet: collection process",
    "preprocessing": "Datasheet: preprocessing, cleaning, labelling",
    "uses": "Datasheet: uses and uses to avoid",
    "distribution": "Datasheet: distribution and licence",
    "maintenance": "Datasheet: maintenance",
}


# --- immutability helpers ---------------------------------------------------------------------------


class ImmutableQuerySet(models.QuerySet):
    """A queryset that refuses every bulk write; rows change (if at all) through `save()` only."""

    def _refuse(self, operation: str):
        raise ImmutableRecord(
            f"{self.model._meta.verbose_name} rows are registered evidence; {operation} is refused."
        )

    def update(self, **kwargs):
        self._refuse("update()")

    def delete(self):
        self._refuse("delete()")

    def bulk_update(self, objs, fields, batch_size=None):
        self._refuse("bulk_update()")

    def bulk_create(self, objs, *args, **kwargs):
        self._refuse("bulk_create()")

    def update_or_create(self, *args, **kwargs):
        self._refuse("update_or_create()")


class ImmutableAfterInsertMixin:
    """Refuses `delete()`, and `save()` of an existing row that changes a field outside MUTABLE_FIELDS."""

    MUTABLE_FIELDS: frozenset[str] = frozenset()

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"{self._meta.verbose_name} {self} is registered evidence and cannot be deleted.")

    def changed_fields(self) -> list[str]:
        """Names of the concrete fields whose value differs from the stored row."""
        stored = type(self)._base_manager.filter(pk=self.pk).values().first()
        if stored is None:
            return []
        changed = []
        for field in self._meta.concrete_fields:
            current = field.get_prep_value(getattr(self, field.attname))
            before = stored[field.attname]
            if isinstance(field, models.FileField):
                current, before = (str(current or ""), str(before or ""))
            if current != before:
                changed.append(field.name)
        return changed

    def _refuse_immutable_changes(self) -> None:
        if self._state.adding:
            return
        refused = [name for name in self.changed_fields() if name not in self.MUTABLE_FIELDS]
        if refused:
            raise ImmutableRecord(
                f"{self._meta.verbose_name} {self} is registered evidence; {', '.join(refused)} cannot change. "
                "Register a new version instead.",
                fields=refused,
            )


# Registrations whose evidence rows may be inserted right now, as (model label, pk): a model version's
# dataset links, developers and claimed metrics, a dataset version's sources. Only
# `model_version_register` and `dataset_version_register` open this window, for the version each has just
# created, in its transaction.
_evidence_window: contextvars.ContextVar[frozenset[tuple[str, int]]] = contextvars.ContextVar(
    "registry_evidence_window", default=frozenset()
)


@contextlib.contextmanager
def evidence_window(version: ModelVersion | DatasetVersion) -> Iterator[None]:
    """Allows the registration evidence of `version` (a model version's dataset links, developers and
    claimed metrics; a dataset version's sources) to be inserted inside the block."""
    token = _evidence_window.set(_evidence_window.get() | {(version._meta.label, version.pk)})
    try:
        yield
    finally:
        _evidence_window.reset(token)


class RegistrationEvidence(ImmutableAfterInsertMixin, models.Model):
    """A row that is part of a version's registration: inserted with it, never changed after.

    `REGISTERED_WITH` names the foreign key to the version being registered, `REGISTERING_SERVICE` the
    service that opens its evidence window.
    """

    REGISTERED_WITH = "model_version"
    REGISTERING_SERVICE = "model_version_register"

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        owner = self._meta.get_field(self.REGISTERED_WITH).related_model._meta
        if not self._state.adding:
            raise ImmutableRecord(
                f"{self._meta.verbose_name} rows are part of a registered {owner.verbose_name} and cannot change."
            )
        if (owner.label, getattr(self, f"{self.REGISTERED_WITH}_id")) not in _evidence_window.get():
            raise ImmutableRecord(
                f"A {self._meta.verbose_name} can only be recorded while its {owner.verbose_name} is being "
                f"registered ({self.REGISTERING_SERVICE}); register a new version to add evidence."
            )
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)


# --- reference data ---------------------------------------------------------------------------------


class AnnexIIIPoint(models.Model):
    """An area or point of Annex III of the EU AI Act (reference data from fixtures/)."""

    code = models.CharField(max_length=16, primary_key=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="points")
    title = models.TextField()

    class Meta:
        ordering = ["code"]
        verbose_name = "Annex III point"

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


# --- use cases --------------------------------------------------------------------------------------


class UseCase(TimeStampedModel):
    """An AI system in a business use: who owns it, what it is for, and how it is classified."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    intended_purpose = models.TextField()
    owner_team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="use_cases")
    business_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_use_cases"
    )
    operator_role = models.CharField(max_length=16, choices=OperatorRole.choices)
    affected_persons = models.TextField(blank=True)
    member_states = models.JSONField(default=list, blank=True, help_text="ISO codes of the EU-27 where it is used.")
    # Denormalised from the current classification decision, for listing; set only by use_case_classify.
    risk_class = models.CharField(max_length=16, choices=RiskClass.choices, blank=True)
    current_classification = models.OneToOneField(
        "ClassificationDecision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Internal SR 11-7 materiality tier, separate from the legal class; set only by use_case_set_risk_tier.
    model_risk_tier = models.CharField(max_length=1, choices=ModelRiskTier.choices, blank=True)
    model_risk_tier_rationale = models.TextField(blank=True)
    model_risk_tier_set_at = models.DateTimeField(null=True, blank=True)
    model_risk_tier_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty when Docket itself (a management command) created it.",
    )

    class Meta:
        ordering = ["key"]
        verbose_name = "use case"
        permissions = [
            ("submit_to_usecase", "Can register models, versions and deployments for the use case"),
            ("review_usecase", "Can classify and review the use case"),
        ]

    def __str__(self) -> str:
        return self.key

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"Use case {self} is part of the compliance record and cannot be deleted.")


class ClassificationDecision(ImmutableAfterInsertMixin, models.Model):
    """One EU AI Act classification of a use case, with the answers that led to it. Append-only."""

    use_case = models.ForeignKey(UseCase, on_delete=models.PROTECT, related_name="classifications")
    art5_1_a = models.BooleanField("Art. 5(1)(a) manipulative techniques")
    art5_1_b = models.BooleanField("Art. 5(1)(b) exploiting vulnerabilities")
    art5_1_c = models.BooleanField("Art. 5(1)(c) social scoring")
    art5_1_d = models.BooleanField("Art. 5(1)(d) crime prediction by profiling")
    art5_1_e = models.BooleanField("Art. 5(1)(e) untargeted facial image scraping")
    art5_1_f = models.BooleanField("Art. 5(1)(f) emotion inference at work or in education")
    art5_1_g = models.BooleanField("Art. 5(1)(g) biometric categorisation of sensitive traits")
    art5_1_h = models.BooleanField("Art. 5(1)(h) real-time remote biometric identification")
    annex_i_safety_component = models.BooleanField(
        help_text="Safety component of, or itself, a product under Annex I harmonisation law (Art. 6(1))."
    )
    annex_iii_point = models.ForeignKey(AnnexIIIPoint, null=True, blank=True, on_delete=models.PROTECT)
    profiles_natural_persons = models.BooleanField()
    art6_3_exemption = models.CharField(max_length=1, choices=Art63Exemption.choices, blank=True)
    art6_3_rationale = models.TextField(blank=True)
    art50_duties = models.JSONField(default=list, blank=True)
    rationale = models.TextField()
    risk_class = models.CharField(max_length=16, choices=RiskClass.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty when Docket itself recorded it (management command).",
    )
    decided_at = models.DateTimeField(default=timezone.now)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["use_case", "-decided_at", "-pk"]
        verbose_name = "classification decision"

    def __str__(self) -> str:
        return f"{self.use_case_id and self.use_case.key}: {self.risk_class} ({self.decided_at:%Y-%m-%d})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("A classification decision cannot be edited; record a new decision instead.")
        super().save(*args, **kwargs)

    @property
    def art5_answers(self) -> dict[str, bool]:
        return {letter: getattr(self, f"art5_1_{letter}") for letter in ART5_PRACTICES}


# --- models and model versions ----------------------------------------------------------------------


class Model(TimeStampedModel):
    """A logical model within a use case; its versions carry the artifacts."""

    use_case = models.ForeignKey(UseCase, on_delete=models.PROTECT, related_name="models")
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["use_case", "key"]
        constraints = [models.UniqueConstraint(fields=["use_case", "key"], name="registry_model_key_per_use_case")]

    def __str__(self) -> str:
        return f"{self.use_case.key}/{self.key}"

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"Model {self} is part of the compliance record and cannot be deleted.")


def artifact_upload_to(instance: ModelVersion, filename: str) -> str:
    return f"artifacts/{instance.artifact_sha256}/{filename}"


class ModelVersion(ImmutableAfterInsertMixin, models.Model):
    """One registered, immutable version of a model: its artifact, provenance and claimed performance."""

    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    artifact = models.FileField(upload_to=artifact_upload_to, max_length=300)
    artifact_sha256 = models.CharField(max_length=64, db_index=True)
    artifact_size = models.BigIntegerField()
    artifact_format = models.CharField(max_length=16, choices=ArtifactFormat.choices)
    artifact_original_name = models.CharField(max_length=255, blank=True)
    framework = models.CharField(max_length=100)
    framework_version = models.CharField(max_length=50, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    training_code_repository = models.CharField(max_length=500, blank=True)
    training_code_commit = models.CharField(max_length=40, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    features = models.JSONField(default=list, blank=True)
    intended_use = models.TextField()
    out_of_scope_uses = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    datasets = models.ManyToManyField(
        "DatasetVersion", through="ModelVersionDataset", related_name="model_versions"
    )
    # Through registration-evidence rows, so that developers are named at registration only, like datasets.
    developers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ModelVersionDeveloper", related_name="developed_model_versions",
        help_text="The people who developed the version (SR 11-7 inventory: developers).",
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty when Docket itself registered it (management command).",
    )
    registered_at = models.DateTimeField(default=timezone.now)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["model", "number"]
        verbose_name = "model version"
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="registry_model_version_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="registry_model_version_number_positive"),
        ]
        # The API's registered_after/registered_before filters and the UI's recent lists.
        indexes = [models.Index(fields=["registered_at"], name="registry_mv_registered_at")]

    def __str__(self) -> str:
        return f"{self.model} v{self.number}"

    def save(self, *args, **kwargs):
        self._refuse_immutable_changes()
        super().save(*args, **kwargs)


class ModelVersionDataset(RegistrationEvidence):
    """A dataset version a model version was trained, validated or tested on, with its role."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="dataset_links")
    dataset_version = models.ForeignKey("DatasetVersion", on_delete=models.PROTECT, related_name="model_links")
    role = models.CharField(max_length=16, choices=DatasetRole.choices)

    class Meta:
        ordering = ["model_version", "role", "pk"]
        verbose_name = "model version dataset link"
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "dataset_version", "role"], name="registry_model_version_dataset_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.role}: {self.dataset_version_id}"


class ModelVersionDeveloper(RegistrationEvidence):
    """A person named at registration as one of the people who developed a model version."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="developer_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        # pk: the order in which the registration named them.
        ordering = ["model_version", "pk"]
        verbose_name = "model version developer"
        constraints = [
            models.UniqueConstraint(fields=["model_version", "user"], name="registry_model_version_developer")
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id} developer: {self.user_id}"


class ClaimedMetric(RegistrationEvidence):
    """A performance figure the submitter claims for a model version, on one of its dataset versions."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="claimed_metrics")
    name = models.CharField(max_length=100)
    value = models.FloatField()
    dataset_version = models.ForeignKey("DatasetVersion", on_delete=models.PROTECT, related_name="+")
    higher_is_better = models.BooleanField(null=True, blank=True)
    threshold_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["model_version", "name", "pk"]
        verbose_name = "claimed metric"
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "name", "dataset_version"], name="registry_claimed_metric_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


# --- datasets ---------------------------------------------------------------------------------------


class Dataset(TimeStampedModel):
    """A logical dataset owned by a team; its versions carry the content hashes and datasheets."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    owner_team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="datasets")
    source_system = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"Dataset {self} is part of the compliance record and cannot be deleted.")


def dataset_upload_to(instance: DatasetVersion, filename: str) -> str:
    return f"datasets/{instance.content_sha256}/{filename}"


class DatasetVersion(ImmutableAfterInsertMixin, models.Model):
    """One registered version of a dataset: content hash, schema, data-governance facts and datasheet.

    Immutable apart from its lifecycle state (and the stored file, which deletion removes).
    """

    MUTABLE_FIELDS = frozenset({"lifecycle_state", "lifecycle_changed_at", "file"})

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    content_sha256 = models.CharField(max_length=64, db_index=True)
    row_count = models.BigIntegerField()
    schema = models.JSONField(default=list, help_text="Columns as a list of {name, type}.")
    file = models.FileField(upload_to=dataset_upload_to, max_length=300, blank=True)
    file_format = models.CharField(max_length=16, choices=DatasetFileFormat.choices, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    file_original_name = models.CharField(max_length=255, blank=True)
    contains_personal_data = models.BooleanField(default=False)
    contains_special_category_data = models.BooleanField(default=False)
    special_category_justification = models.TextField(
        blank=True, help_text="Why processing special categories is strictly necessary for bias correction (Art. 10(5))."
    )
    protected_attributes = models.JSONField(default=list, blank=True)
    legal_basis = models.CharField(max_length=1, choices=LegalBasis.choices, blank=True)
    retention_until = models.DateField(null=True, blank=True)
    lifecycle_state = models.CharField(max_length=16, choices=LifecycleState.choices, default=LifecycleState.ACTIVE)
    lifecycle_changed_at = models.DateTimeField(null=True, blank=True)
    # Art. 10(2) data governance
    design_choices = models.TextField(blank=True)
    collection_and_origin = models.TextField(blank=True)
    preparation = models.TextField(blank=True)
    assumptions = models.TextField(blank=True)
    availability_quantity_suitability = models.TextField(blank=True)
    bias_examination = models.TextField(blank=True)
    bias_measures = models.TextField(blank=True)
    data_gaps = models.TextField(blank=True)
    # Datasheet for Datasets (Gebru et al.)
    motivation = models.TextField(blank=True)
    composition = models.TextField(blank=True)
    collection_process = models.TextField(blank=True)
    preprocessing = models.TextField(blank=True)
    uses = models.TextField(blank=True)
    distribution = models.TextField(blank=True)
    maintenance = models.TextField(blank=True)
    # Through registration-evidence rows, so that sources are named at registration only.
    derived_from = models.ManyToManyField(
        "self", through="DatasetVersionSource", through_fields=("dataset_version", "source"), symmetrical=False,
        related_name="derivatives",
        help_text="The dataset versions this one was derived from, as named at registration.",
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    registered_at = models.DateTimeField(default=timezone.now)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["dataset", "number"]
        verbose_name = "dataset version"
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="registry_dataset_version_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="registry_dataset_version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"

    def save(self, *args, **kwargs):
        self._refuse_immutable_changes()
        if not self._state.adding and self.file and "file" in self.changed_fields():
            raise ImmutableRecord(f"Dataset version {self}: a stored file can be removed, never replaced.")
        super().save(*args, **kwargs)

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.schema]

    def datasheet(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in DATASHEET_FIELDS}


class DatasetVersionSource(RegistrationEvidence):
    """A dataset version named at registration as one that a dataset version was derived from."""

    REGISTERED_WITH = "dataset_version"
    REGISTERING_SERVICE = "dataset_version_register"

    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="source_links")
    source = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="derived_links")

    class Meta:
        # pk: the order in which the registration named them.
        ordering = ["dataset_version", "pk"]
        verbose_name = "dataset version source"
        constraints = [
            models.UniqueConstraint(fields=["dataset_version", "source"], name="registry_dataset_version_source"),
            models.CheckConstraint(condition=~models.Q(dataset_version=models.F("source")),
                                   name="registry_dataset_version_source_not_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_version_id} derived from {self.source_id}"


# --- deployments ------------------------------------------------------------------------------------


class Deployment(TimeStampedModel):
    """A model version running in an environment, as a pipeline or a person reported it."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="deployments")
    # Denormalised from model_version so that "one active deployment per model and environment" is a constraint.
    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="deployments")
    environment = models.CharField(max_length=64)
    deployed_at = models.DateTimeField()
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pipeline_run = models.CharField(max_length=500, blank=True, help_text="Pipeline run id or URL.")
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.ACTIVE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-deployed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "environment"],
                condition=models.Q(status="active"),
                name="registry_one_active_deployment_per_model_environment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version} in {self.environment} ({self.status})"

    def delete(self, *args, **kwargs):
        raise ImmutableRecord(f"Deployment {self} is part of the compliance record and cannot be deleted.")
