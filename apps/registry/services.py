"""Every change to the registry. Each service checks permission, validates (changing nothing on
failure), makes the change and writes its audit entry, all in one transaction.

`actor` is a User (people and service accounts) or `apps.audit.services.SYSTEM`, which has full
rights and is used only by management commands and Celery tasks, never for a web or API request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.validators import URLValidator, validate_slug
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.models import Team, User
from apps.audit.actions import Action
from apps.audit.services import record
from apps.common.errors import (
    ChecksumMismatch,
    Conflict,
    DuplicateKey,
    FileTooLarge,
    ValidationFailed,
)
from apps.common.hashing import normalise_sha256, sha256_of_file
from apps.lineage import services as lineage_services

from . import permissions, selectors
from .artifacts import inspect_artifact, inspect_dataset_file, safe_file_name
from .models import (
    ART5_PRACTICES,
    DATASHEET_FIELDS,
    DEPLOYMENT_TRANSITIONS,
    EU_MEMBER_STATES,
    LIFECYCLE_TRANSITIONS,
    AnnexIIIPoint,
    Art50Duty,
    Art63Exemption,
    ClaimedMetric,
    ClassificationDecision,
    ColumnType,
    Dataset,
    DatasetRole,
    DatasetVersion,
    DatasetVersionSource,
    Deployment,
    DeploymentStatus,
    LegalBasis,
    LifecycleState,
    Model,
    ModelRiskTier,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionDeveloper,
    OperatorRole,
    RiskClass,
    UseCase,
    evidence_window,
)

COMMIT_HASH = re.compile(r"^[0-9a-f]{7,40}$")
SCP_LIKE_REPOSITORY = re.compile(r"^[\w.-]+@[\w.-]+:[\w./~-]+$")
OWNER_TEAM_USE_CASE_PERMISSIONS = ("view_usecase", "submit_to_usecase")
MAX_FUTURE_DEPLOYMENT_SKEW = dt.timedelta(minutes=5)
MAX_DEVELOPERS = 50
MAX_DATASET_SOURCES = 50


# --- inputs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetLink:
    """A dataset version a model version used, and in which role (train, validation, test, reference)."""

    dataset_version: DatasetVersion
    role: str


@dataclass(frozen=True)
class MetricClaim:
    """A performance figure claimed for a model version, measured on one of its linked dataset versions."""

    name: str
    value: float
    dataset_version: DatasetVersion
    higher_is_better: bool | None = None
    threshold_note: str = ""


# --- helpers ----------------------------------------------------------------------------------------


class FieldErrors:
    """Collects every problem with an input so that one refusal names them all."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __contains__(self, field: str) -> bool:
        return field in self.errors

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            messages = " ".join(message for messages in self.errors.values() for message in messages)
            raise ValidationFailed(f"{what}: {messages}", field_errors=self.errors)


def _user_or_none(actor) -> User | None:
    """The user to store in a *_by column; None when Docket itself acts."""
    return None if permissions.is_system(actor) else actor


def _clean_text(value, *, field: str, errors: FieldErrors, required: bool = False, max_length: int | None = None) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(field, f"{field} must be text.")
        return ""
    value = value.strip()
    if required and not value:
        errors.add(field, f"{field} is required.")
    if max_length is not None and len(value) > max_length:
        errors.add(field, f"{field} must be at most {max_length} characters (got {len(value)}).")
    return value


def _clean_key(value, *, errors: FieldErrors) -> str:
    key = _clean_text(value, field="key", errors=errors, required=True, max_length=64)
    if key:
        try:
            validate_slug(key)
        except DjangoValidationError:
            errors.add("key", f"key {key!r} may contain only letters, digits, hyphens and underscores.")
    return key


def _clean_bool(value, *, field: str, errors: FieldErrors) -> bool:
    if not isinstance(value, bool):
        errors.add(field, f"{field} must be true or false (got {value!r}).")
        return False
    return value


def _clean_choice(value, choices, *, field: str, errors: FieldErrors, required: bool = True) -> str:
    value = "" if value is None else str(value).strip()
    if not value:
        if required:
            errors.add(field, f"{field} is required; choose one of: {', '.join(choices.values)}.")
        return ""
    if value not in choices.values:
        errors.add(field, f"{field} {value!r} is not one of: {', '.join(choices.values)}.")
        return ""
    return value


def _clean_json(value, *, field: str, errors: FieldErrors, kind: type) -> object:
    if value is None:
        return kind()
    if not isinstance(value, kind):
        errors.add(field, f"{field} must be a JSON {'object' if kind is dict else 'list'}.")
        return kind()
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        errors.add(field, f"{field} must contain only JSON values (no NaN or infinity): {exc}.")
    if kind is dict and any(not isinstance(key, str) for key in value):
        errors.add(field, f"{field} keys must be strings.")
    return value


def _check_file_size(file: File, *, limit: int, what: str) -> int:
    """Refuses a file over `limit` bytes using its declared size, before any byte is read."""
    size = file.size
    if size is None:
        raise ValidationFailed(f"The size of the {what} cannot be determined.")
    if size > limit:
        raise FileTooLarge(
            f"The {what} is {size} bytes; the limit is {limit} bytes.", size=size, limit=limit
        )
    return size


def _hash_and_compare(file: File, *, declared: str | None, what: str, field: str) -> tuple[str, int]:
    """Computes the SHA-256 and size of the bytes; refuses a declared SHA-256 that differs."""
    declared_normalised = None
    if declared not in (None, ""):
        declared_normalised = normalise_sha256(declared)
        if declared_normalised is None:
            raise ValidationFailed(
                f"The declared SHA-256 {declared!r} is not 64 hexadecimal digits.",
                field_errors={field: ["Give the SHA-256 as 64 hexadecimal digits."]},
            )
    computed, size = sha256_of_file(file)
    if declared_normalised is not None and declared_normalised != computed:
        raise ChecksumMismatch(
            f"The declared SHA-256 of the {what} ({declared_normalised}) does not match the bytes received "
            f"({computed}). The file may be incomplete or not the one you meant; nothing was stored.",
            declared=declared_normalised,
            computed=computed,
        )
    return computed, size


@contextlib.contextmanager
def _files_removed_on_failure() -> Iterator[list[str]]:
    """Yields a list for the names of files saved to storage; deletes them if the block fails.

    Use it outside the service's transaction.atomic(), so the rollback happens first. If a caller's
    outer transaction rolls back later, `manage.py registry_remove_orphan_files` removes what is left.
    """
    saved: list[str] = []
    try:
        yield saved
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


def _insert_or_duplicate(instance, *, message: str):
    """Saves a new row; a unique-constraint race with another transaction becomes DuplicateKey."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise DuplicateKey(message) from exc
    return instance


# --- use cases --------------------------------------------------------------------------------------


def _clean_member_states(value, *, errors: FieldErrors) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        errors.add("member_states", "member_states must be a list of ISO 3166-1 alpha-2 codes.")
        return []
    codes = []
    for item in value:
        code = str(item).strip().upper()
        if code == "EL":
            code = "GR"
        if code not in EU_MEMBER_STATES:
            errors.add("member_states", f"{item!r} is not an EU Member State code (use ISO codes such as DE, FR, GR).")
        elif code not in codes:
            codes.append(code)
    return sorted(codes)


def _check_business_owner(business_owner, *, errors: FieldErrors) -> None:
    if not isinstance(business_owner, User) or business_owner.pk is None:
        errors.add("business_owner", "business_owner must be an existing user.")
    elif not business_owner.is_active or business_owner.is_service_account:
        errors.add("business_owner", "The business owner must be an active person, not a service account.")


def _use_case_snapshot(use_case: UseCase) -> dict:
    return {
        "key": use_case.key,
        "name": use_case.name,
        "intended_purpose": use_case.intended_purpose,
        "owner_team": use_case.owner_team.key,
        "business_owner": use_case.business_owner.username,
        "operator_role": use_case.operator_role,
        "affected_persons": use_case.affected_persons,
        "member_states": list(use_case.member_states),
    }


def use_case_create(
    *,
    actor,
    key: str,
    name: str,
    intended_purpose: str,
    owner_team: Team,
    business_owner: User,
    operator_role: str,
    affected_persons: str = "",
    member_states: Sequence[str] = (),
) -> UseCase:
    """Registers an AI use case owned by `owner_team` and lets that team view it and submit to it."""
    permissions.require_team_submitter(actor, owner_team, doing="create use cases for this team")
    errors = FieldErrors()
    key = _clean_key(key, errors=errors)
    name = _clean_text(name, field="name", errors=errors, required=True, max_length=200)
    intended_purpose = _clean_text(intended_purpose, field="intended_purpose", errors=errors, required=True)
    operator_role = _clean_choice(operator_role, OperatorRole, field="operator_role", errors=errors)
    affected_persons = _clean_text(affected_persons, field="affected_persons", errors=errors)
    member_states = _clean_member_states(member_states, errors=errors)
    _check_business_owner(business_owner, errors=errors)
    errors.raise_if_any("The use case was not created")
    duplicate = f"A use case with key {key!r} already exists."
    if UseCase.objects.filter(key=key).exists():
        raise DuplicateKey(duplicate)

    with transaction.atomic():
        use_case = _insert_or_duplicate(
            UseCase(
                key=key,
                name=name,
                intended_purpose=intended_purpose,
                owner_team=owner_team,
                business_owner=business_owner,
                operator_role=operator_role,
                affected_persons=affected_persons,
                member_states=member_states,
                created_by=_user_or_none(actor),
            ),
            message=duplicate,
        )
        for codename in OWNER_TEAM_USE_CASE_PERMISSIONS:
            assign_perm(f"registry.{codename}", owner_team.group, use_case)
        record(
            actor=actor,
            action=Action.REGISTRY_USE_CASE_CREATED,
            subject=use_case,
            data={
                **_use_case_snapshot(use_case),
                "granted": [
                    {
                        "group": owner_team.group.name,
                        "team": owner_team.key,
                        "permissions": list(OWNER_TEAM_USE_CASE_PERMISSIONS),
                    }
                ],
            },
        )
    return use_case


def use_case_update(
    *,
    actor,
    use_case: UseCase,
    name: str | None = None,
    intended_purpose: str | None = None,
    business_owner: User | None = None,
    operator_role: str | None = None,
    affected_persons: str | None = None,
    member_states: Sequence[str] | None = None,
) -> UseCase:
    """Changes the descriptive fields given (None leaves a field as it is); classification, risk tier,
    key and owner team have their own rules and are not changed here. Returns the use case; when
    nothing differs, nothing is written."""
    permissions.require_team_submitter(actor, use_case.owner_team, doing="change this use case")
    errors = FieldErrors()
    proposed: dict[str, object] = {}
    if name is not None:
        proposed["name"] = _clean_text(name, field="name", errors=errors, required=True, max_length=200)
    if intended_purpose is not None:
        proposed["intended_purpose"] = _clean_text(
            intended_purpose, field="intended_purpose", errors=errors, required=True
        )
    if business_owner is not None:
        _check_business_owner(business_owner, errors=errors)
        proposed["business_owner"] = business_owner
    if operator_role is not None:
        proposed["operator_role"] = _clean_choice(operator_role, OperatorRole, field="operator_role", errors=errors)
    if affected_persons is not None:
        proposed["affected_persons"] = _clean_text(affected_persons, field="affected_persons", errors=errors)
    if member_states is not None:
        proposed["member_states"] = _clean_member_states(member_states, errors=errors)
    errors.raise_if_any("The use case was not changed")

    with transaction.atomic():
        use_case = UseCase.objects.select_for_update().select_related("owner_team", "business_owner").get(
            pk=use_case.pk
        )
        before = _use_case_snapshot(use_case)
        changed = [field for field, value in proposed.items() if getattr(use_case, field) != value]
        if not changed:
            return use_case
        for field in changed:
            setattr(use_case, field, proposed[field])
        use_case.save(update_fields=[*changed, "updated_at"])
        after = _use_case_snapshot(use_case)
        record(
            actor=actor,
            action=Action.REGISTRY_USE_CASE_UPDATED,
            subject=use_case,
            data={
                "changed": sorted(changed),
                "before": {field: before[field] for field in sorted(changed)},
                "after": {field: after[field] for field in sorted(changed)},
            },
        )
    return use_case


def _resolve_annex_iii_point(code, *, errors: FieldErrors) -> AnnexIIIPoint | None:
    if code in (None, ""):
        return None
    code = str(code).strip()
    code = code[:4].upper() + code[4:].lower()  # "iii-5-B" is III-5-b
    point = AnnexIIIPoint.objects.filter(code=code).first()
    if point is None:
        areas = ", ".join(AnnexIIIPoint.objects.filter(parent=None).values_list("code", flat=True))
        if not areas:
            errors.add("annex_iii_code", f"Unknown Annex III point {code!r}: no Annex III reference data is "
                                         "loaded (run manage.py load_reference_data).")
        else:
            errors.add("annex_iii_code", f"Unknown Annex III point {code!r}. Codes look like III-5-b; the areas "
                                         f"are {areas}.")
        return None
    points = list(point.points.values_list("code", flat=True))
    if points:
        errors.add("annex_iii_code", f"{code} is an Annex III area; choose one of its points: {', '.join(points)}.")
        return None
    return point


def compute_risk_class(
    *,
    art5_answers: Mapping[str, bool],
    annex_i_safety_component: bool,
    annex_iii_point: AnnexIIIPoint | None,
    art6_3_exemption: str,
    art50_duties: Sequence[str],
) -> tuple[str, list[str]]:
    """The EU AI Act risk class that follows from the answers, and the reasons, in the Act's order."""
    hits = [letter for letter, answer in art5_answers.items() if answer]
    if hits:
        return RiskClass.PROHIBITED, [f"Prohibited practice: {ART5_PRACTICES[letter]}." for letter in sorted(hits)]
    reasons = []
    if annex_i_safety_component:
        reasons.append("Safety component of a product under Annex I harmonisation law: high risk (Art. 6(1)).")
    if annex_iii_point is not None:
        if art6_3_exemption:
            reasons.append(
                f"Listed in Annex III ({annex_iii_point.code}) but exempt under Art. 6(3)({art6_3_exemption}): "
                "not high risk on that ground (documented per Art. 6(4))."
            )
        else:
            reasons.append(f"Listed in Annex III ({annex_iii_point.code}): high risk (Art. 6(2)).")
    if annex_i_safety_component or (annex_iii_point is not None and not art6_3_exemption):
        return RiskClass.HIGH, reasons
    if art50_duties:
        return RiskClass.LIMITED, [*reasons, f"Transparency duties under Art. 50: {', '.join(art50_duties)}."]
    return RiskClass.MINIMAL, [*reasons, "No prohibited practice, no high-risk ground, no Art. 50 duty: minimal risk."]


def use_case_classify(
    *,
    actor,
    use_case: UseCase,
    art5_answers: Mapping[str, bool],
    annex_i_safety_component: bool,
    annex_iii_code: str | None,
    profiles_natural_persons: bool,
    rationale: str,
    art6_3_exemption: str = "",
    art6_3_rationale: str = "",
    art50_duties: Sequence[str] = (),
) -> ClassificationDecision:
    """Records a new EU AI Act classification decision for the use case and makes it the current one.

    The risk class is computed from the answers: any Art. 5 hit makes it prohibited; an Annex I safety
    component, or an Annex III point without a valid Art. 6(3) exemption, makes it high; otherwise any
    Art. 50 duty makes it limited; otherwise minimal. Earlier decisions stay as they were.
    """
    permissions.require_review(actor, use_case, doing="classify this use case")
    errors = FieldErrors()
    answers: dict[str, bool] = {}
    if not isinstance(art5_answers, Mapping):
        errors.add("art5_answers", "art5_answers must map each Art. 5(1) point (a)-(h) to true or false.")
    else:
        unknown = sorted(str(letter) for letter in art5_answers if letter not in ART5_PRACTICES)
        if unknown:
            errors.add("art5_answers", f"Unknown Art. 5(1) points: {', '.join(unknown)}; the points are (a)-(h).")
        missing = [letter for letter in ART5_PRACTICES if letter not in art5_answers]
        if missing:
            errors.add(
                "art5_answers",
                "Answer every Art. 5(1) screening question; missing: " + ", ".join(f"({m})" for m in missing) + ".",
            )
        for letter in ART5_PRACTICES:
            if letter in art5_answers:
                answers[letter] = _clean_bool(art5_answers[letter], field=f"art5_answers.{letter}", errors=errors)
    annex_i_safety_component = _clean_bool(annex_i_safety_component, field="annex_i_safety_component", errors=errors)
    profiles_natural_persons = _clean_bool(profiles_natural_persons, field="profiles_natural_persons", errors=errors)
    point = _resolve_annex_iii_point(annex_iii_code, errors=errors)
    exemption = _clean_choice(art6_3_exemption, Art63Exemption, field="art6_3_exemption", errors=errors, required=False)
    exemption_rationale = _clean_text(art6_3_rationale, field="art6_3_rationale", errors=errors)
    if exemption:
        if annex_iii_code in (None, ""):
            errors.add("art6_3_exemption", "An Art. 6(3) exemption applies only to a system listed in Annex III; "
                                           "give its Annex III point.")
        if profiles_natural_persons:
            errors.add("art6_3_exemption", "An Art. 6(3) exemption is not available: an Annex III system that "
                                           "profiles natural persons is always high risk (Art. 6(3), last "
                                           "subparagraph).")
        if not exemption_rationale:
            errors.add("art6_3_rationale", "An Art. 6(3) exemption needs a documented rationale (Art. 6(4)).")
    elif exemption_rationale:
        errors.add("art6_3_rationale", "A rationale for an Art. 6(3) exemption was given, but no exemption.")
    duties: list[str] = []
    if isinstance(art50_duties, str) or not isinstance(art50_duties, Sequence):
        errors.add("art50_duties", "art50_duties must be a list.")
    else:
        for duty in art50_duties:
            if duty not in Art50Duty.values:
                errors.add("art50_duties", f"{duty!r} is not an Art. 50 duty; choose from {', '.join(Art50Duty.values)}.")
            elif duty not in duties:
                duties.append(str(duty))
    rationale = _clean_text(rationale, field="rationale", errors=errors, required=True)
    errors.raise_if_any("The classification was not recorded")

    risk_class, reasons = compute_risk_class(
        art5_answers=answers,
        annex_i_safety_component=annex_i_safety_component,
        annex_iii_point=point,
        art6_3_exemption=exemption,
        art50_duties=duties,
    )
    with transaction.atomic():
        use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
        previous = use_case.current_classification
        decision = ClassificationDecision.objects.create(
            use_case=use_case,
            **{f"art5_1_{letter}": answer for letter, answer in answers.items()},
            annex_i_safety_component=annex_i_safety_component,
            annex_iii_point=point,
            profiles_natural_persons=profiles_natural_persons,
            art6_3_exemption=exemption,
            art6_3_rationale=exemption_rationale,
            art50_duties=duties,
            rationale=rationale,
            risk_class=risk_class,
            decided_by=_user_or_none(actor),
            decided_at=timezone.now(),
        )
        before = use_case.risk_class
        use_case.current_classification = decision
        use_case.risk_class = risk_class
        use_case.save(update_fields=["current_classification", "risk_class", "updated_at"])
        record(
            actor=actor,
            action=Action.REGISTRY_USE_CASE_CLASSIFIED,
            subject=use_case,
            data={
                "decision_id": decision.pk,
                "previous_decision_id": previous.pk if previous else None,
                "risk_class": {"before": before or None, "after": risk_class},
                "reasons": reasons,
                "art5_answers": answers,
                "annex_i_safety_component": annex_i_safety_component,
                "annex_iii_point": point.code if point else None,
                "profiles_natural_persons": profiles_natural_persons,
                "art6_3_exemption": exemption or None,
                "art6_3_rationale": exemption_rationale,
                "art50_duties": duties,
                "rationale": rationale,
            },
        )
    return decision


def use_case_set_risk_tier(*, actor, use_case: UseCase, tier: str | int, rationale: str) -> UseCase:
    """Sets the internal model-risk tier (SR 11-7 materiality; 1 is highest) with its rationale.
    Returns the use case; when neither tier nor rationale differs, nothing is written."""
    permissions.require_review(actor, use_case, doing="set the model-risk tier of this use case")
    errors = FieldErrors()
    tier = _clean_choice(tier, ModelRiskTier, field="tier", errors=errors)
    rationale = _clean_text(rationale, field="rationale", errors=errors, required=True)
    errors.raise_if_any("The model-risk tier was not set")

    with transaction.atomic():
        use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
        before = {"tier": use_case.model_risk_tier or None, "rationale": use_case.model_risk_tier_rationale}
        if before == {"tier": tier, "rationale": rationale}:
            return use_case
        use_case.model_risk_tier = tier
        use_case.model_risk_tier_rationale = rationale
        use_case.model_risk_tier_set_at = timezone.now()
        use_case.model_risk_tier_set_by = _user_or_none(actor)
        use_case.save(
            update_fields=[
                "model_risk_tier", "model_risk_tier_rationale", "model_risk_tier_set_at",
                "model_risk_tier_set_by", "updated_at",
            ]
        )
        record(
            actor=actor,
            action=Action.REGISTRY_USE_CASE_RISK_TIER_SET,
            subject=use_case,
            data={"before": before, "after": {"tier": tier, "rationale": rationale}},
        )
    return use_case


# --- models and model versions ----------------------------------------------------------------------


def model_create(*, actor, use_case: UseCase, key: str, name: str, description: str = "") -> Model:
    """Creates a logical model within a use case; its key is unique within the use case."""
    permissions.require_submit_to(actor, use_case, doing="create models in this use case")
    errors = FieldErrors()
    key = _clean_key(key, errors=errors)
    name = _clean_text(name, field="name", errors=errors, required=True, max_length=200)
    description = _clean_text(description, field="description", errors=errors)
    errors.raise_if_any("The model was not created")
    duplicate = f"Use case {use_case.key!r} already has a model with key {key!r}."
    if Model.objects.filter(use_case=use_case, key=key).exists():
        raise DuplicateKey(duplicate)

    with transaction.atomic():
        model = _insert_or_duplicate(
            Model(use_case=use_case, key=key, name=name, description=description, created_by=_user_or_none(actor)),
            message=duplicate,
        )
        record(
            actor=actor,
            action=Action.REGISTRY_MODEL_CREATED,
            subject=model,
            data={"use_case": use_case.key, "key": key, "name": name, "description": description},
        )
    return model


def _clean_repository(value, *, errors: FieldErrors) -> str:
    repository = _clean_text(value, field="training_code_repository", errors=errors, max_length=500)
    if repository and not SCP_LIKE_REPOSITORY.match(repository):
        try:
            URLValidator(schemes=["http", "https", "ssh", "git"])(repository)
        except DjangoValidationError:
            errors.add("training_code_repository", f"{repository!r} is not a repository URL "
                                                   "(https://..., ssh://... or git@host:org/repo.git).")
    return repository


def _clean_commit(value, *, repository: str, errors: FieldErrors) -> str:
    commit = _clean_text(value, field="training_code_commit", errors=errors).lower()
    if commit and not COMMIT_HASH.match(commit):
        errors.add("training_code_commit", f"{commit!r} is not a commit hash (7 to 40 hexadecimal digits).")
    if commit and not repository:
        errors.add("training_code_commit", "A commit needs the repository it belongs to (training_code_repository).")
    return commit


def _clean_string_map(value, *, field: str, errors: FieldErrors) -> dict[str, str]:
    mapping = _clean_json(value, field=field, errors=errors, kind=dict)
    if any(not isinstance(item, str) for item in mapping.values()):
        errors.add(field, f"{field} must map names to version strings, e.g. {{'scikit-learn': '1.5.2'}}.")
    return mapping


def _clean_features(value, *, errors: FieldErrors) -> list[str]:
    features = _clean_json(value, field="features", errors=errors, kind=list)
    if any(not isinstance(item, str) or not item.strip() for item in features):
        errors.add("features", "features must be a list of non-empty feature names.")
        return []
    repeated = sorted({item for item in features if features.count(item) > 1})
    if repeated:
        errors.add("features", f"features repeat: {', '.join(repeated)}.")
    return list(features)


def _clean_dataset_links(datasets, *, errors: FieldErrors) -> list[DatasetLink]:
    links: list[DatasetLink] = []
    seen: set[tuple[int, str]] = set()
    for position, link in enumerate(datasets or ()):
        field = f"datasets[{position}]"
        if not isinstance(link, DatasetLink) or not isinstance(link.dataset_version, DatasetVersion) \
                or link.dataset_version.pk is None:
            errors.add(field, "Each dataset link names a registered dataset version and a role.")
            continue
        if link.role not in DatasetRole.values:
            errors.add(field, f"Role {link.role!r} is not one of: {', '.join(DatasetRole.values)}.")
            continue
        if link.dataset_version.lifecycle_state == LifecycleState.DELETED:
            errors.add(field, f"Dataset version {link.dataset_version} is deleted; its data no longer exists.")
            continue
        if (link.dataset_version.pk, link.role) in seen:
            errors.add(field, f"Dataset version {link.dataset_version} is linked twice as {link.role}.")
            continue
        seen.add((link.dataset_version.pk, link.role))
        links.append(link)
    return links


def _clean_metric_claims(claims, *, links: Sequence[DatasetLink], errors: FieldErrors) -> list[MetricClaim]:
    linked = {link.dataset_version.pk for link in links}
    cleaned: list[MetricClaim] = []
    seen: set[tuple[str, int]] = set()
    for position, claim in enumerate(claims or ()):
        field = f"claimed_metrics[{position}]"
        if not isinstance(claim, MetricClaim):
            errors.add(field, "Each claimed metric has a name, a value and the dataset version it was measured on.")
            continue
        name = _clean_text(claim.name, field=f"{field}.name", errors=errors, required=True, max_length=100)
        value = claim.value
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or not math.isfinite(value):
            errors.add(f"{field}.value", f"Metric {name!r} needs a finite number as its value (got {value!r}).")
            continue
        if claim.higher_is_better is not None and not isinstance(claim.higher_is_better, bool):
            errors.add(f"{field}.higher_is_better", "higher_is_better must be true, false or empty.")
        note = _clean_text(claim.threshold_note, field=f"{field}.threshold_note", errors=errors, max_length=300)
        version = claim.dataset_version
        if not isinstance(version, DatasetVersion) or version.pk not in linked:
            errors.add(
                f"{field}.dataset_version",
                f"Metric {name!r} was measured on {version}, which is not linked to this model version; "
                "claim metrics only on dataset versions listed in datasets.",
            )
            continue
        if (name, version.pk) in seen:
            errors.add(field, f"Metric {name!r} on {version} is claimed twice.")
            continue
        seen.add((name, version.pk))
        cleaned.append(
            MetricClaim(name=name, value=float(value), dataset_version=version,
                        higher_is_better=claim.higher_is_better, threshold_note=note)
        )
    return cleaned


def _clean_developers(developers, *, actor, errors: FieldErrors) -> list[User]:
    """The people named as developers, in the order given, looked up in one query; the actor when none
    are named and the actor is a person; nobody when a service account or Docket itself registers."""
    if developers is None:
        developers = ()
    if isinstance(developers, (str, bytes)) or not isinstance(developers, (list, tuple)):
        errors.add("developers", f"developers must be a list of usernames (got {type(developers).__name__}).")
        return []
    if len(developers) > MAX_DEVELOPERS:
        errors.add("developers", f"At most {MAX_DEVELOPERS} developers may be named (got {len(developers)}).")
        return []
    names: list[str] = []
    for position, name in enumerate(developers):
        if not isinstance(name, str) or not name.strip():
            errors.add("developers", f"developers[{position}] must be a username (got {name!r}).")
        elif name.strip() in names:
            errors.add("developers", f"{name.strip()!r} is named twice in developers.")
        else:
            names.append(name.strip())
    if "developers" in errors:
        return []
    if not names:
        person = _user_or_none(actor)
        return [person] if person is not None and not person.is_service_account else []
    found = {user.username: user for user in User.objects.filter(username__in=names)}
    for name in names:
        user = found.get(name)
        if user is None:
            errors.add("developers", f"There is no user named {name!r}.")
        elif user.is_service_account:
            errors.add("developers", f"{name!r} is a service account; developers are people.")
        elif not user.is_active:
            errors.add("developers", f"{name!r} is deactivated; developers must be active people.")
    return [] if "developers" in errors else [found[name] for name in names]


def model_version_register(
    *,
    actor,
    model: Model,
    artifact: File,
    framework: str,
    intended_use: str,
    declared_sha256: str | None = None,
    framework_version: str = "",
    library_versions: Mapping[str, str] | None = None,
    training_code_repository: str = "",
    training_code_commit: str = "",
    hyperparameters: Mapping | None = None,
    features: Sequence[str] | None = None,
    datasets: Sequence[DatasetLink] = (),
    claimed_metrics: Sequence[MetricClaim] = (),
    out_of_scope_uses: str = "",
    limitations: str = "",
    parent: ModelVersion | None = None,
    developers: Sequence[str] = (),
) -> ModelVersion:
    """Registers the next version of `model` with its artifact and evidence; it never changes afterwards.

    Docket computes the artifact's SHA-256 and size (a declared SHA-256 must match), identifies its
    format from the content (skops with allow-listed types, or ONNX; pickle is refused, never loaded),
    numbers the version (1, 2, ... per model, under a lock on the model) and stores the file under its
    hash. Dataset links, developers and claimed metrics are inserted with it and cannot be added later.

    `developers` are the usernames of the people who developed the version (at most 50, each once, each
    an active person: not a service account). When none are given and the actor is a person, the actor
    is recorded as the developer; when a service account (or Docket itself) registers without naming
    any, the version has no developers, and the reports say so.
    """
    use_case = model.use_case
    permissions.require_submit_to(actor, use_case, doing="register model versions in this use case")
    if not isinstance(artifact, File):
        artifact = File(artifact)
    errors = FieldErrors()
    framework = _clean_text(framework, field="framework", errors=errors, required=True, max_length=100)
    framework_version = _clean_text(framework_version, field="framework_version", errors=errors, max_length=50)
    library_versions = _clean_string_map(library_versions, field="library_versions", errors=errors)
    repository = _clean_repository(training_code_repository, errors=errors)
    commit = _clean_commit(training_code_commit, repository=repository, errors=errors)
    hyperparameters = _clean_json(hyperparameters, field="hyperparameters", errors=errors, kind=dict)
    features = _clean_features(features, errors=errors)
    intended_use = _clean_text(intended_use, field="intended_use", errors=errors, required=True)
    out_of_scope_uses = _clean_text(out_of_scope_uses, field="out_of_scope_uses", errors=errors)
    limitations = _clean_text(limitations, field="limitations", errors=errors)
    links = _clean_dataset_links(datasets, errors=errors)
    metrics = _clean_metric_claims(claimed_metrics, links=links, errors=errors)
    developer_users = _clean_developers(developers, actor=actor, errors=errors)
    if parent is not None and (not isinstance(parent, ModelVersion) or parent.model_id != model.pk):
        errors.add("parent", f"The parent {parent} belongs to another model; a parent must be an earlier version "
                             f"of {model}.")
    errors.raise_if_any("The model version was not registered")

    original_name = artifact.name or ""
    _check_file_size(artifact, limit=settings.DOCKET_MAX_ARTIFACT_BYTES, what="artifact")
    sha256, size = _hash_and_compare(artifact, declared=declared_sha256, what="artifact", field="declared_sha256")
    inspection = inspect_artifact(artifact, original_name)
    file_name = safe_file_name(original_name, default=f"model.{inspection.format}")

    with _files_removed_on_failure() as saved, transaction.atomic():
        locked_model = Model.objects.select_for_update().get(pk=model.pk)
        last = ModelVersion.objects.filter(model=locked_model).aggregate(last=Max("number"))["last"] or 0
        version = ModelVersion(
            model=locked_model,
            number=last + 1,
            artifact_sha256=sha256,
            artifact_size=size,
            artifact_format=inspection.format,
            artifact_original_name=original_name[:255],
            framework=framework,
            framework_version=framework_version,
            library_versions=library_versions,
            training_code_repository=repository,
            training_code_commit=commit,
            hyperparameters=hyperparameters,
            features=features,
            intended_use=intended_use,
            out_of_scope_uses=out_of_scope_uses,
            limitations=limitations,
            parent=parent,
            registered_by=_user_or_none(actor),
            registered_at=timezone.now(),
        )
        version.artifact.save(file_name, artifact, save=False)
        saved.append(version.artifact.name)
        _insert_or_duplicate(version, message=f"Version {version.number} of {model} was registered concurrently.")
        with evidence_window(version):
            for link in links:
                ModelVersionDataset(model_version=version, dataset_version=link.dataset_version, role=link.role).save()
            for developer in developer_users:
                ModelVersionDeveloper(model_version=version, user=developer).save()
            for metric in metrics:
                ClaimedMetric(
                    model_version=version,
                    name=metric.name,
                    value=metric.value,
                    dataset_version=metric.dataset_version,
                    higher_is_better=metric.higher_is_better,
                    threshold_note=metric.threshold_note,
                ).save()
        lineage_services.edges_for_model_version(model_version=version)
        record(
            actor=actor,
            action=Action.REGISTRY_MODEL_VERSION_REGISTERED,
            subject=version,
            data={
                "use_case": use_case.key,
                "model": model.key,
                "number": version.number,
                "artifact": {
                    "sha256": sha256,
                    "size": size,
                    "format": inspection.format,
                    "original_name": original_name,
                    "stored_as": version.artifact.name,
                    **inspection.details,
                },
                "framework": framework,
                "framework_version": framework_version,
                "library_versions": library_versions,
                "training_code": {"repository": repository, "commit": commit},
                "hyperparameters": hyperparameters,
                "features": features,
                "datasets": [
                    {
                        "dataset": link.dataset_version.dataset.key,
                        "version": link.dataset_version.number,
                        "content_sha256": link.dataset_version.content_sha256,
                        "role": link.role,
                    }
                    for link in links
                ],
                "claimed_metrics": [
                    {
                        "name": metric.name,
                        "value": metric.value,
                        "dataset": metric.dataset_version.dataset.key,
                        "dataset_version": metric.dataset_version.number,
                        "higher_is_better": metric.higher_is_better,
                        "threshold_note": metric.threshold_note,
                    }
                    for metric in metrics
                ],
                "parent": parent.number if parent else None,
                "developers": [developer.username for developer in developer_users],
            },
        )
    return version


# --- datasets ---------------------------------------------------------------------------------------


def dataset_create(
    *, actor, key: str, name: str, owner_team: Team, source_system: str = "", description: str = ""
) -> Dataset:
    """Creates a dataset owned by `owner_team`; its key is unique across Docket."""
    permissions.require_team_submitter(actor, owner_team, doing="create datasets for this team")
    errors = FieldErrors()
    key = _clean_key(key, errors=errors)
    name = _clean_text(name, field="name", errors=errors, required=True, max_length=200)
    source_system = _clean_text(source_system, field="source_system", errors=errors, max_length=200)
    description = _clean_text(description, field="description", errors=errors)
    errors.raise_if_any("The dataset was not created")
    duplicate = f"A dataset with key {key!r} already exists."
    if Dataset.objects.filter(key=key).exists():
        raise DuplicateKey(duplicate)

    with transaction.atomic():
        dataset = _insert_or_duplicate(
            Dataset(key=key, name=name, owner_team=owner_team, source_system=source_system,
                    description=description, created_by=_user_or_none(actor)),
            message=duplicate,
        )
        record(
            actor=actor,
            action=Action.REGISTRY_DATASET_CREATED,
            subject=dataset,
            data={"key": key, "name": name, "owner_team": owner_team.key, "source_system": source_system,
                  "description": description},
        )
    return dataset


def _clean_schema(value, *, errors: FieldErrors) -> list[dict[str, str]] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        errors.add("schema", "schema must be a list of {name, type} columns.")
        return None
    columns: list[dict[str, str]] = []
    for position, column in enumerate(value):
        if not isinstance(column, Mapping) or set(column) != {"name", "type"}:
            errors.add("schema", f"Column {position} must have exactly a name and a type.")
            continue
        name, kind = str(column["name"]).strip(), str(column["type"]).strip().lower()
        if not name:
            errors.add("schema", f"Column {position} has no name.")
        elif any(existing["name"] == name for existing in columns):
            errors.add("schema", f"Column {name!r} appears twice.")
        if kind not in ColumnType.values:
            errors.add("schema", f"Column {name!r} has type {kind!r}; types are {', '.join(ColumnType.values)}.")
        columns.append({"name": name, "type": kind})
    if not columns and "schema" not in errors:
        errors.add("schema", "schema must list at least one column.")
    return columns


def _clean_retention(value, *, errors: FieldErrors) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        errors.add("retention_until", "retention_until must be a date.")
        return None
    today = timezone.localdate()
    if value < today:
        errors.add("retention_until", f"The retention date {value.isoformat()} is in the past (today is "
                                      f"{today.isoformat()}); data past its retention date must not be registered.")
    return value


def dataset_version_register(
    *,
    actor,
    dataset: Dataset,
    file: File | None = None,
    content_sha256: str | None = None,
    row_count: int | None = None,
    schema: Sequence[Mapping[str, str]] | None = None,
    contains_personal_data: bool = False,
    contains_special_category_data: bool = False,
    special_category_justification: str = "",
    protected_attributes: Sequence[str] = (),
    legal_basis: str = "",
    retention_until: dt.date | None = None,
    datasheet: Mapping[str, str] | None = None,
    derived_from: Sequence[DatasetVersion] = (),
) -> DatasetVersion:
    """Registers the next version of `dataset`. With a file (CSV or Parquet), Docket computes the
    SHA-256 and reads schema and row count from it, and declared values must agree; without one, the
    declared SHA-256, row count and schema are recorded as given.

    `derived_from` names the dataset versions this one was derived from (at most 50, each once, each one
    the actor may see, of this or any other dataset). They are stored with the version, cannot be added
    later, and each becomes a `derived_from` lineage edge true from the registration.
    """
    permissions.require_team_submitter(actor, dataset.owner_team, doing="register versions of this dataset")
    if file is not None and not isinstance(file, File):
        file = File(file)
    errors = FieldErrors()
    declared_schema = _clean_schema(schema, errors=errors)
    if row_count is not None and (isinstance(row_count, bool) or not isinstance(row_count, int) or row_count < 0):
        errors.add("row_count", f"row_count must be a whole number of rows, 0 or more (got {row_count!r}).")
    if file is None:
        if content_sha256 in (None, ""):
            errors.add("content_sha256", "Give the content SHA-256 of the data (or upload the file).")
        elif normalise_sha256(content_sha256) is None:
            errors.add("content_sha256", "Give the SHA-256 as 64 hexadecimal digits.")
        if row_count is None:
            errors.add("row_count", "Give the row count (or upload the file).")
        if declared_schema is None:
            errors.add("schema", "Give the schema as a list of {name, type} columns (or upload the file).")
    personal = _clean_bool(contains_personal_data, field="contains_personal_data", errors=errors)
    special = _clean_bool(contains_special_category_data, field="contains_special_category_data", errors=errors)
    justification = _clean_text(special_category_justification, field="special_category_justification", errors=errors)
    if special and not personal:
        errors.add("contains_special_category_data", "Special categories of personal data are personal data; "
                                                     "set contains_personal_data too.")
    if special and not justification:
        errors.add("special_category_justification", "Special-category data needs the Art. 10(5) justification: "
                                                     "why it is strictly necessary for bias detection and correction.")
    legal_basis = _clean_choice(legal_basis, LegalBasis, field="legal_basis", errors=errors, required=personal)
    if legal_basis and not personal:
        errors.add("legal_basis", "A GDPR legal basis applies only to personal data; "
                                  "set contains_personal_data or leave legal_basis empty.")
    retention_until = _clean_retention(retention_until, errors=errors)
    if personal and retention_until is None and "retention_until" not in errors:
        errors.add("retention_until", "Personal data needs a retention date (GDPR storage limitation).")
    if isinstance(protected_attributes, str) or not isinstance(protected_attributes, Sequence):
        errors.add("protected_attributes", "protected_attributes must be a list of column names.")
        protected_attributes = ()
    protected = [str(name).strip() for name in protected_attributes]
    repeated = sorted({name for name in protected if protected.count(name) > 1})
    if repeated:
        errors.add("protected_attributes", f"protected attributes repeat: {', '.join(repeated)}.")
    datasheet = dict(datasheet or {})
    unknown = sorted(set(datasheet) - set(DATASHEET_FIELDS))
    if unknown:
        errors.add("datasheet", f"Unknown datasheet fields: {', '.join(unknown)}; the fields are "
                                f"{', '.join(DATASHEET_FIELDS)}.")
    for name in set(datasheet) & set(DATASHEET_FIELDS):
        datasheet[name] = _clean_text(datasheet[name], field=f"datasheet.{name}", errors=errors)
    if file is None and declared_schema:
        _check_protected_attributes(protected, declared_schema, errors=errors)
    sources = _clean_dataset_sources(derived_from, actor=actor, errors=errors)
    errors.raise_if_any("The dataset version was not registered")

    file_facts: dict = {}
    if file is not None:
        original_name = file.name or ""
        _check_file_size(file, limit=settings.DOCKET_MAX_DATASET_FILE_BYTES, what="dataset file")
        sha256, size = _hash_and_compare(file, declared=content_sha256, what="dataset file", field="content_sha256")
        inspection = inspect_dataset_file(file, original_name)
        if row_count is not None and row_count != inspection.row_count:
            errors.add("row_count", f"The declared row count {row_count} differs from the file's "
                                    f"{inspection.row_count} rows.")
        if declared_schema is not None and declared_schema != inspection.schema:
            errors.add("schema", "The declared schema differs from the file's: "
                                 + json.dumps(inspection.schema) + ". Leave schema out to use the file's.")
        _check_protected_attributes(protected, inspection.schema, errors=errors)
        errors.raise_if_any("The dataset version was not registered")
        content_sha256, row_count, declared_schema = sha256, inspection.row_count, inspection.schema
        file_facts = {"format": inspection.format, "size": size, "original_name": original_name,
                      "stored_name": safe_file_name(original_name, default=f"data.{inspection.format}")}
    else:
        content_sha256 = normalise_sha256(content_sha256)

    with _files_removed_on_failure() as saved, transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        last = DatasetVersion.objects.filter(dataset=locked).aggregate(last=Max("number"))["last"] or 0
        version = DatasetVersion(
            dataset=locked,
            number=last + 1,
            content_sha256=content_sha256,
            row_count=row_count,
            schema=declared_schema,
            file_format=file_facts.get("format", ""),
            file_size=file_facts.get("size"),
            file_original_name=file_facts.get("original_name", "")[:255],
            contains_personal_data=personal,
            contains_special_category_data=special,
            special_category_justification=justification,
            protected_attributes=protected,
            legal_basis=legal_basis,
            retention_until=retention_until,
            registered_by=_user_or_none(actor),
            registered_at=timezone.now(),
            **{name: datasheet.get(name, "") for name in DATASHEET_FIELDS},
        )
        if file is not None:
            version.file.save(file_facts["stored_name"], file, save=False)
            saved.append(version.file.name)
        _insert_or_duplicate(version, message=f"Version {version.number} of {dataset} was registered concurrently.")
        with evidence_window(version):
            for source in sources:
                DatasetVersionSource(dataset_version=version, source=source).save()
        lineage_services.edges_for_dataset_version(dataset_version=version)
        record(
            actor=actor,
            action=Action.REGISTRY_DATASET_VERSION_REGISTERED,
            subject=version,
            data={
                "dataset": dataset.key,
                "number": version.number,
                "content_sha256": content_sha256,
                "row_count": row_count,
                "schema": declared_schema,
                "file": (
                    {"format": file_facts["format"], "size": file_facts["size"],
                     "original_name": file_facts["original_name"], "stored_as": version.file.name}
                    if file is not None else None
                ),
                "contains_personal_data": personal,
                "contains_special_category_data": special,
                "special_category_justification": justification,
                "protected_attributes": protected,
                "legal_basis": legal_basis or None,
                "retention_until": retention_until,
                "datasheet": {name: value for name, value in version.datasheet().items() if value},
                "derived_from": [
                    {"dataset": source.dataset.key, "version": source.number, "content_sha256": source.content_sha256}
                    for source in sources
                ],
            },
        )
    return version


def _clean_dataset_sources(derived_from, *, actor, errors: FieldErrors) -> list[DatasetVersion]:
    """The dataset versions named as sources, in the order given: each a registered dataset version the
    actor may see (checked in one query), named once, at most MAX_DATASET_SOURCES."""
    if derived_from is None:
        derived_from = ()
    if isinstance(derived_from, (str, bytes, Mapping)) or not isinstance(derived_from, Sequence):
        errors.add("derived_from", f"derived_from must be a list of dataset versions (got {type(derived_from).__name__}).")
        return []
    if len(derived_from) > MAX_DATASET_SOURCES:
        errors.add("derived_from", f"At most {MAX_DATASET_SOURCES} source dataset versions may be named "
                                   f"(got {len(derived_from)}).")
        return []
    sources: list[DatasetVersion] = []
    for position, source in enumerate(derived_from):
        if not isinstance(source, DatasetVersion) or source.pk is None:
            errors.add("derived_from", f"derived_from[{position}] must be a registered dataset version (got {source!r}).")
        elif any(source.pk == seen.pk for seen in sources):
            errors.add("derived_from", f"Dataset version {source} is named twice in derived_from.")
        else:
            sources.append(source)
    if "derived_from" in errors or not sources:
        return []
    visible = set(selectors.dataset_version_list(fetched_by=actor).filter(pk__in=[source.pk for source in sources])
                  .values_list("pk", flat=True))
    for source in sources:
        if source.pk not in visible:
            named = (f"version {source.number} of dataset {source.dataset.key!r}" if source.dataset_id
                     else f"dataset version id {source.pk}")
            errors.add("derived_from", f"derived_from names {named}: no such dataset version that you may see.")
    return [] if "derived_from" in errors else sources


def _check_protected_attributes(protected: Sequence[str], schema: Sequence[Mapping], *, errors: FieldErrors) -> None:
    columns = {column["name"] for column in schema}
    missing = [name for name in protected if name not in columns]
    if missing:
        errors.add("protected_attributes", f"Protected attributes must be columns of the schema; not columns: "
                                           f"{', '.join(missing)} (columns: {', '.join(sorted(columns))}).")


def dataset_version_change_lifecycle(*, actor, dataset_version: DatasetVersion, state: str, reason: str) -> DatasetVersion:
    """Moves a dataset version along active → pseudonymised → deleted (or active → deleted).

    Deleting removes the stored file once the transaction commits; the record and its hash remain.
    """
    permissions.require_team_submitter(
        actor, dataset_version.dataset.owner_team, doing="change the lifecycle of this dataset's versions"
    )
    errors = FieldErrors()
    state = _clean_choice(state, LifecycleState, field="state", errors=errors)
    reason = _clean_text(reason, field="reason", errors=errors, required=True)
    errors.raise_if_any("The lifecycle state was not changed")

    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().select_related("dataset").get(pk=dataset_version.pk)
        before = version.lifecycle_state
        if state not in LIFECYCLE_TRANSITIONS[LifecycleState(before)]:
            allowed = ", ".join(sorted(LIFECYCLE_TRANSITIONS[LifecycleState(before)])) or "none (it is final)"
            raise Conflict(
                f"Dataset version {version} is {before}; it cannot become {state}. Allowed next states: {allowed}."
            )
        removed_file = version.file.name if state == LifecycleState.DELETED and version.file else ""
        version.lifecycle_state = state
        version.lifecycle_changed_at = timezone.now()
        update_fields = ["lifecycle_state", "lifecycle_changed_at"]
        if removed_file:
            version.file = ""
            update_fields.append("file")
        version.save(update_fields=update_fields)
        if removed_file:
            transaction.on_commit(lambda: default_storage.delete(removed_file))
        record(
            actor=actor,
            action=Action.REGISTRY_DATASET_VERSION_LIFECYCLE_CHANGED,
            subject=version,
            data={
                "dataset": version.dataset.key,
                "number": version.number,
                "before": before,
                "after": state,
                "reason": reason,
                "content_sha256": version.content_sha256,
                "removed_file": removed_file or None,
            },
        )
    return version


# --- deployments ------------------------------------------------------------------------------------


def _set_deployment_status(deployment: Deployment, *, actor, status: str, reason: str, **extra) -> None:
    """Changes a locked deployment's status and records the change with before/after."""
    before = deployment.status
    deployment.status = status
    deployment.status_changed_at = timezone.now()
    deployment.status_reason = reason
    deployment.save(update_fields=["status", "status_changed_at", "status_reason", "updated_at"])
    lineage_services.deployment_status_changed(deployment=deployment)
    record(
        actor=actor,
        action=Action.REGISTRY_DEPLOYMENT_STATUS_CHANGED,
        subject=deployment,
        data={
            "model": str(deployment.model),
            "version": deployment.model_version.number,
            "environment": deployment.environment,
            "before": before,
            "after": status,
            "reason": reason,
            **extra,
        },
    )


def deployment_record(
    *,
    actor,
    model_version: ModelVersion,
    environment: str,
    deployed_at: dt.datetime | None = None,
    pipeline_run: str = "",
) -> Deployment:
    """Records that `model_version` now runs in `environment`. The model's previous active deployment
    in that environment is retired in the same transaction, with its own audit entry."""
    model = model_version.model
    permissions.require_submit_to(actor, model.use_case, doing="record deployments in this use case")
    errors = FieldErrors()
    if environment not in settings.DOCKET_ENVIRONMENTS:
        errors.add("environment", f"Unknown environment {environment!r}; environments are "
                                  f"{', '.join(settings.DOCKET_ENVIRONMENTS)}.")
    now = timezone.now()
    if deployed_at is None:
        deployed_at = now
    elif not isinstance(deployed_at, dt.datetime) or timezone.is_naive(deployed_at):
        errors.add("deployed_at", "deployed_at must be a timezone-aware date and time.")
    elif deployed_at > now + MAX_FUTURE_DEPLOYMENT_SKEW:
        errors.add("deployed_at", f"deployed_at {deployed_at.isoformat()} is in the future.")
    pipeline_run = _clean_text(pipeline_run, field="pipeline_run", errors=errors, max_length=500)
    errors.raise_if_any("The deployment was not recorded")

    with transaction.atomic():
        Model.objects.select_for_update().get(pk=model.pk)
        previous = list(
            Deployment.objects.select_for_update()
            .filter(model=model, environment=environment, status=DeploymentStatus.ACTIVE)
            .select_related("model_version", "model__use_case")
        )
        for old in previous:
            _set_deployment_status(old, actor=actor, status=DeploymentStatus.RETIRED,
                                   reason=f"Superseded by {model_version} in {environment}.",
                                   superseded_by_version=model_version.number)
        deployment = Deployment.objects.create(
            model_version=model_version,
            model=model,
            environment=environment,
            deployed_at=deployed_at,
            deployed_by=_user_or_none(actor),
            pipeline_run=pipeline_run,
            status=DeploymentStatus.ACTIVE,
            status_changed_at=now,
        )
        lineage_services.edges_for_deployment(deployment=deployment)
        record(
            actor=actor,
            action=Action.REGISTRY_DEPLOYMENT_RECORDED,
            subject=deployment,
            data={
                "use_case": model.use_case.key,
                "model": model.key,
                "version": model_version.number,
                "artifact_sha256": model_version.artifact_sha256,
                "environment": environment,
                "deployed_at": deployed_at,
                "pipeline_run": pipeline_run,
                "retired_deployments": [old.pk for old in previous],
            },
        )
    return deployment


def deployment_change_status(*, actor, deployment: Deployment, status: str, reason: str) -> Deployment:
    """Marks an active deployment rolled back or retired; both are final."""
    permissions.require_submit_to(
        actor, deployment.model.use_case, doing="change deployments in this use case"
    )
    errors = FieldErrors()
    status = _clean_choice(status, DeploymentStatus, field="status", errors=errors)
    reason = _clean_text(reason, field="reason", errors=errors, required=True)
    errors.raise_if_any("The deployment status was not changed")

    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().select_related("model_version", "model").get(
            pk=deployment.pk
        )
        if status not in DEPLOYMENT_TRANSITIONS[DeploymentStatus(deployment.status)]:
            raise Conflict(f"Deployment {deployment} is {deployment.status}; it cannot become {status}.")
        _set_deployment_status(deployment, actor=actor, status=status, reason=reason)
    return deployment
