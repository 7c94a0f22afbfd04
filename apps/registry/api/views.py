"""Registry endpoints. Each read goes through `access` (selectors narrowed to the API key's use cases);
each write parses its input, resolves references the caller may see, and calls exactly one service."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.http import FileResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.accounts.models import Team, User
from apps.accounts.scopes import Scope
from apps.common.api.pagination import DocketCursorPagination, OldestFirstCursorPagination
from apps.common.api.permissions import ScopedAPIViewMixin
from apps.common.api.renderers import BinaryRenderer
from apps.common.api.schema import problems
from apps.common.api.uploads import StreamedUploadMixin, StrictMultiPartParser
from apps.common.errors import ApplicationError, ChecksumMismatch, ImmutableRecord, ValidationFailed
from apps.common.hashing import normalise_sha256, sha256_of_file
from apps.gate import services as gate_services
from apps.registry import selectors, services
from apps.registry.models import (
    ClassificationDecision,
    Dataset,
    DatasetVersion,
    Deployment,
    Model,
    ModelVersion,
    UseCase,
)

from . import access, filters
from . import serializers as s

logger = logging.getLogger(__name__)

READ_AND_REGISTRY_WRITE = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": [], "*": [Scope.REGISTRY_WRITE]}
READ_AND_DEPLOYMENTS_WRITE = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": [],
                              "*": [Scope.DEPLOYMENTS_WRITE]}

WRITE_ERRORS = problems(400, 401, 403, 404, 409)
READ_ERRORS = problems(401, 403, 404)
# Lists also answer 400 for a filter, cursor or page size that is not valid.
LIST_ERRORS = problems(400, 401, 403, 404)
UPLOAD_ERRORS = problems(413, 415, 422)


class RegistryView(ScopedAPIViewMixin, GenericAPIView):
    """Base: JSON in, JSON out, registry:write for changes, read for reads."""

    parser_classes = [JSONParser]
    required_scopes = READ_AND_REGISTRY_WRITE
    filter_backends = [DjangoFilterBackend]

    def parse(self, serializer_class, **kwargs):
        serializer = serializer_class(data=self.request.data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def list_response(self, queryset):
        queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @staticmethod
    def created(data, location: str) -> Response:
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location})


def _team(key: str) -> Team:
    team = Team.objects.filter(key=key).first()
    if team is None:
        raise ValidationFailed(f"There is no team with the key {key!r}.",
                               field_errors={"owner_team": [f"There is no team with the key {key!r}."]})
    return team


def _person(username: str, field: str = "business_owner") -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationFailed(f"There is no user named {username!r}.",
                               field_errors={field: [f"There is no user named {username!r}."]})
    return user


def _refuse_change(what: str, hint: str):
    raise ImmutableRecord(f"{what} is registered evidence and cannot be changed or deleted. {hint}")


# --- use cases --------------------------------------------------------------------------------------


class UseCaseListView(RegistryView):
    serializer_class = s.UseCaseOut
    filterset_class = filters.UseCaseFilter
    pagination_class = OldestFirstCursorPagination

    def get_queryset(self):
        return access.use_cases(self.request)

    @extend_schema(operation_id="use_cases_list", responses={200: s.UseCaseOut(many=True), **LIST_ERRORS})
    def get(self, request):
        return self.list_response(self.get_queryset())

    @extend_schema(operation_id="use_cases_create", request=s.UseCaseCreateIn,
                   responses={201: s.UseCaseOut, **WRITE_ERRORS})
    def post(self, request):
        data = self.parse(s.UseCaseCreateIn)
        use_case = services.use_case_create(
            actor=request.user,
            key=data["key"],
            name=data["name"],
            intended_purpose=data["intended_purpose"],
            owner_team=_team(data["owner_team"]),
            business_owner=_person(data["business_owner"]),
            operator_role=data["operator_role"],
            affected_persons=data["affected_persons"],
            member_states=data["member_states"],
        )
        use_case = access.use_case(request, use_case.key)
        return self.created(s.UseCaseOut(use_case).data, f"/api/v1/use-cases/{use_case.key}/")


class UseCaseDetailView(RegistryView):
    queryset = UseCase.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.UseCaseOut

    @extend_schema(operation_id="use_cases_retrieve", responses={200: s.UseCaseOut, **READ_ERRORS})
    def get(self, request, key: str):
        return Response(s.UseCaseOut(access.use_case(request, key)).data)

    @extend_schema(operation_id="use_cases_update", request=s.UseCaseUpdateIn,
                   responses={200: s.UseCaseOut, **WRITE_ERRORS})
    def patch(self, request, key: str):
        use_case = access.use_case(request, key)
        data = self.parse(s.UseCaseUpdateIn)
        if "business_owner" in data:
            data["business_owner"] = _person(data["business_owner"])
        services.use_case_update(actor=request.user, use_case=use_case, **data)
        return Response(s.UseCaseOut(access.use_case(request, key)).data)


class ClassificationListView(RegistryView):
    queryset = ClassificationDecision.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.ClassificationDecisionOut
    pagination_class = DocketCursorPagination

    @extend_schema(operation_id="use_case_classifications_list",
                   responses={200: s.ClassificationDecisionOut(many=True), **LIST_ERRORS})
    def get(self, request, key: str):
        use_case = access.use_case(request, key)
        return self.list_response(selectors.classification_history(fetched_by=request.user, use_case=use_case))

    @extend_schema(operation_id="use_case_classifications_create", request=s.ClassificationIn,
                   responses={201: s.ClassificationDecisionOut, **WRITE_ERRORS})
    def post(self, request, key: str):
        use_case = access.use_case(request, key)
        data = self.parse(s.ClassificationIn)
        decision = services.use_case_classify(actor=request.user, use_case=use_case, **data)
        return self.created(s.ClassificationDecisionOut(decision).data, f"/api/v1/use-cases/{key}/classifications/")


class RiskTierView(RegistryView):
    queryset = UseCase.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.UseCaseOut

    @extend_schema(operation_id="use_case_risk_tier_set", request=s.RiskTierIn,
                   responses={200: s.UseCaseOut, **WRITE_ERRORS})
    def put(self, request, key: str):
        use_case = access.use_case(request, key)
        data = self.parse(s.RiskTierIn)
        services.use_case_set_risk_tier(actor=request.user, use_case=use_case, **data)
        return Response(s.UseCaseOut(access.use_case(request, key)).data)


# --- models -----------------------------------------------------------------------------------------


class ModelListView(RegistryView):
    """Every model the caller may see, filterable by use case."""

    serializer_class = s.ModelOut
    filterset_class = filters.ModelFilter
    pagination_class = OldestFirstCursorPagination

    def get_queryset(self):
        return access.models(self.request)

    @extend_schema(operation_id="models_list", responses={200: s.ModelOut(many=True), **LIST_ERRORS})
    def get(self, request):
        return self.list_response(self.get_queryset())


class UseCaseModelListView(RegistryView):
    queryset = Model.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.ModelOut
    pagination_class = OldestFirstCursorPagination

    @extend_schema(operation_id="use_case_models_list", responses={200: s.ModelOut(many=True), **LIST_ERRORS})
    def get(self, request, use_case: str):
        found = access.use_case(request, use_case)
        return self.list_response(access.models(request).filter(use_case=found))

    @extend_schema(operation_id="use_case_models_create", request=s.ModelCreateIn,
                   responses={201: s.ModelOut, **WRITE_ERRORS})
    def post(self, request, use_case: str):
        found = access.use_case(request, use_case)
        data = self.parse(s.ModelCreateIn)
        model = services.model_create(actor=request.user, use_case=found, **data)
        return self.created(s.ModelOut(model).data, f"/api/v1/use-cases/{use_case}/models/{model.key}/")


class ModelDetailView(RegistryView):
    queryset = Model.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.ModelOut

    @extend_schema(operation_id="models_retrieve", responses={200: s.ModelOut, **READ_ERRORS})
    def get(self, request, use_case: str, model: str):
        return Response(s.ModelOut(access.model(request, use_case, model)).data)


# --- model versions ---------------------------------------------------------------------------------


class ModelVersionListView(RegistryView):
    """Every model version the caller may see, newest first, filterable; cursor-paginated."""

    serializer_class = s.ModelVersionOut
    filterset_class = filters.ModelVersionFilter
    pagination_class = DocketCursorPagination

    def get_queryset(self):
        return access.model_versions(self.request)

    @extend_schema(operation_id="model_versions_list", responses={200: s.ModelVersionOut(many=True), **LIST_ERRORS})
    def get(self, request):
        return self.list_response(self.get_queryset())


def _resolve_dataset_links(request, links: list[dict]) -> list[services.DatasetLink]:
    """DatasetLinks for the given references; a dataset version the caller may not see is a field error."""
    resolved, errors = [], {}
    visible = access.dataset_versions(request)
    wanted = {(link["dataset"], link["version"]) for link in links}
    found = {}
    if wanted:
        condition = Q()
        for dataset_key, number in wanted:
            condition |= Q(dataset__key=dataset_key, number=number)
        found = {(version.dataset.key, version.number): version for version in visible.filter(condition)}
    for position, link in enumerate(links):
        version = found.get((link["dataset"], link["version"]))
        if version is None:
            errors[f"datasets[{position}]"] = [
                f"No version {link['version']} of dataset {link['dataset']!r} that you may see."
            ]
            continue
        resolved.append(services.DatasetLink(dataset_version=version, role=link["role"]))
    if errors:
        raise ValidationFailed("The model version was not registered: " + " ".join(
            message for messages in errors.values() for message in messages), field_errors=errors)
    return resolved


def _resolve_dataset_sources(request, references: list[dict]) -> list[DatasetVersion]:
    """The dataset versions named as sources, in the order given (a repeated reference is left for the
    service to refuse); one the caller may not see is a field error worded as if it did not exist."""
    found = {}
    if references:
        condition = Q()
        for reference in references:
            condition |= Q(dataset__key=reference["dataset"], number=reference["version"])
        found = {(version.dataset.key, version.number): version
                 for version in access.dataset_versions(request).filter(condition)}
    resolved, messages = [], []
    for position, reference in enumerate(references):
        version = found.get((reference["dataset"], reference["version"]))
        if version is None:
            messages.append(f"derived_from[{position}]: no version {reference['version']} of dataset "
                            f"{reference['dataset']!r} that you may see.")
            continue
        resolved.append(version)
    if messages:
        raise ValidationFailed("The dataset version was not registered: " + " ".join(messages),
                               field_errors={"derived_from": messages})
    return resolved


def _resolve_metric_claims(claims: list[dict], links: list[services.DatasetLink]) -> list[services.MetricClaim]:
    by_reference = {(link.dataset_version.dataset.key, link.dataset_version.number): link.dataset_version
                    for link in links}
    resolved, errors = [], {}
    for position, claim in enumerate(claims):
        version = by_reference.get((claim["dataset"], claim["version"]))
        if version is None:
            errors[f"claimed_metrics[{position}]"] = [(
                f"Metric {claim['name']!r} names {claim['dataset']}@{claim['version']}, which is not in datasets; "
                "claim metrics only on linked dataset versions."
            )]
            continue
        resolved.append(services.MetricClaim(
            name=claim["name"], value=claim["value"], dataset_version=version,
            higher_is_better=claim["higher_is_better"], threshold_note=claim["threshold_note"],
        ))
    if errors:
        raise ValidationFailed("The model version was not registered: " + " ".join(
            message for messages in errors.values() for message in messages), field_errors=errors)
    return resolved


class ModelVersionCollectionView(StreamedUploadMixin, RegistryView):
    """The versions of one model; POST registers the next one (multipart upload of the artifact)."""

    queryset = ModelVersion.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.ModelVersionOut
    pagination_class = OldestFirstCursorPagination
    parser_classes = [StrictMultiPartParser]
    upload_limit_setting = "DOCKET_MAX_ARTIFACT_BYTES"

    @extend_schema(operation_id="model_versions_of_model_list",
                   responses={200: s.ModelVersionOut(many=True), **LIST_ERRORS})
    def get(self, request, use_case: str, model: str):
        found = access.model(request, use_case, model)
        return self.list_response(access.model_versions(request).filter(model=found))

    @extend_schema(
        operation_id="model_versions_register",
        request={"multipart/form-data": s.ModelVersionRegisterIn},
        responses={201: s.ModelVersionOut, **UPLOAD_ERRORS, **WRITE_ERRORS},
    )
    def post(self, request, use_case: str, model: str):
        found = access.model(request, use_case, model)
        data = self.parse(s.ModelVersionRegisterIn)
        artifact = data["artifact"]
        declared = normalise_sha256(data["declared_sha256"])
        if declared is None:
            raise ValidationFailed(
                "declared_sha256 must be 64 hexadecimal digits.",
                field_errors={"declared_sha256": ["Give the SHA-256 as 64 hexadecimal digits."]},
            )
        streamed = getattr(artifact, "streamed_sha256", None)
        if streamed is not None and streamed != declared:
            raise ChecksumMismatch(
                f"The declared SHA-256 of the artifact ({declared}) does not match the bytes received ({streamed}). "
                "The file may be incomplete or not the one you meant; nothing was stored.",
                declared=declared, computed=streamed,
            )
        links = _resolve_dataset_links(request, data["datasets"])
        metrics = _resolve_metric_claims(data["claimed_metrics"], links)
        parent = None
        if data["parent"] is not None:
            parent = access.model_versions(request).filter(model=found, number=data["parent"]).first()
            if parent is None:
                message = f"{found} has no version {data['parent']} to be the parent."
                raise ValidationFailed(message, field_errors={"parent": [message]})
        version = services.model_version_register(
            actor=request.user,
            model=found,
            artifact=artifact,
            declared_sha256=declared,
            framework=data["framework"],
            intended_use=data["intended_use"],
            framework_version=data["framework_version"],
            library_versions=data["library_versions"],
            training_code_repository=data["training_code_repository"],
            training_code_commit=data["training_code_commit"],
            hyperparameters=data["hyperparameters"],
            features=data["features"],
            datasets=links,
            claimed_metrics=metrics,
            out_of_scope_uses=data["out_of_scope_uses"],
            limitations=data["limitations"],
            parent=parent,
            developers=data["developers"],
        )
        version = access.model_version(request, use_case, model, version.number)
        return self.created(s.ModelVersionOut(version).data,
                            f"/api/v1/use-cases/{use_case}/models/{model}/versions/{version.number}/")


class StoredArtifactDamaged(ApplicationError):
    problem_type = "stored-artifact-damaged"
    title = "The stored artifact no longer matches its registered SHA-256"
    status = 409


class ModelVersionArtifactView(RegistryView):
    """Downloads a model version's artifact: the exact registered bytes, checked against the registered
    SHA-256 before they are sent (a damaged or swapped file in storage is refused with 409 and logged,
    never served). Reading is not a change, so it writes no audit entry."""

    queryset = ModelVersion.objects.none()  # for the schema's path parameters; reads go through access
    renderer_classes = [JSONRenderer, BinaryRenderer]

    @extend_schema(operation_id="model_versions_artifact_download",
                   responses={(200, "application/octet-stream"): OpenApiResponse(
                       OpenApiTypes.BINARY, description="The artifact; X-Content-SHA256 and ETag name its SHA-256."),
                       **problems(409), **READ_ERRORS})
    def get(self, request, use_case: str, model: str, number: int):
        version = access.model_version(request, use_case, model, number)
        with version.artifact.open("rb") as stored:
            actual, _ = sha256_of_file(stored)
        if actual != version.artifact_sha256:
            logger.error("Stored artifact of %s is damaged: sha256 %s, registered %s", version, actual,
                         version.artifact_sha256)
            raise StoredArtifactDamaged(
                f"The stored artifact of {version} has SHA-256 {actual}, not the registered "
                f"{version.artifact_sha256}; it is not served. Tell the Docket operators.")
        name = version.artifact_original_name or f"{use_case}-{model}-v{number}.{version.artifact_format}"
        response = FileResponse(version.artifact.open("rb"), content_type="application/octet-stream",
                                as_attachment=True, filename=name)
        response["ETag"] = f'"{version.artifact_sha256}"'
        response["X-Content-SHA256"] = version.artifact_sha256
        return response


class ModelVersionDetailView(RegistryView):
    """One model version. It is immutable: PUT, PATCH and DELETE answer 409 immutable-record."""

    queryset = ModelVersion.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.ModelVersionOut

    @extend_schema(operation_id="model_versions_retrieve", responses={200: s.ModelVersionOut, **READ_ERRORS})
    def get(self, request, use_case: str, model: str, number: int):
        return Response(s.ModelVersionOut(access.model_version(request, use_case, model, number)).data)

    def _refuse(self, request, use_case: str, model: str, number: int):
        version = access.model_version(request, use_case, model, number)
        _refuse_change(f"Model version {version}",
                       f"To correct it, register a new version with parent={version.number}.")

    @extend_schema(operation_id="model_versions_update", request=None, responses={**problems(409), **READ_ERRORS})
    def put(self, request, use_case: str, model: str, number: int):
        self._refuse(request, use_case, model, number)

    @extend_schema(operation_id="model_versions_partial_update", request=None,
                   responses={**problems(409), **READ_ERRORS})
    def patch(self, request, use_case: str, model: str, number: int):
        self._refuse(request, use_case, model, number)

    @extend_schema(operation_id="model_versions_destroy", responses={**problems(409), **READ_ERRORS})
    def delete(self, request, use_case: str, model: str, number: int):
        self._refuse(request, use_case, model, number)


# --- datasets ---------------------------------------------------------------------------------------


class DatasetListView(RegistryView):
    serializer_class = s.DatasetOut
    filterset_class = filters.DatasetFilter
    pagination_class = OldestFirstCursorPagination

    def get_queryset(self):
        return access.datasets(self.request)

    @extend_schema(operation_id="datasets_list", responses={200: s.DatasetOut(many=True), **LIST_ERRORS})
    def get(self, request):
        return self.list_response(self.get_queryset())

    @extend_schema(operation_id="datasets_create", request=s.DatasetCreateIn,
                   responses={201: s.DatasetOut, **WRITE_ERRORS})
    def post(self, request):
        data = self.parse(s.DatasetCreateIn)
        data["owner_team"] = _team(data["owner_team"])
        dataset = services.dataset_create(actor=request.user, **data)
        return self.created(s.DatasetOut(dataset).data, f"/api/v1/datasets/{dataset.key}/")


class DatasetDetailView(RegistryView):
    queryset = Dataset.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.DatasetOut

    @extend_schema(operation_id="datasets_retrieve", responses={200: s.DatasetOut, **READ_ERRORS})
    def get(self, request, key: str):
        return Response(s.DatasetOut(access.dataset(request, key)).data)


class DatasetVersionCollectionView(StreamedUploadMixin, RegistryView):
    """The versions of one dataset; POST registers the next one (JSON, or multipart with a file)."""

    queryset = DatasetVersion.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.DatasetVersionOut
    filterset_class = filters.DatasetVersionFilter
    pagination_class = OldestFirstCursorPagination
    parser_classes = [JSONParser, StrictMultiPartParser]
    upload_limit_setting = "DOCKET_MAX_DATASET_FILE_BYTES"

    @extend_schema(operation_id="dataset_versions_list", responses={200: s.DatasetVersionOut(many=True), **LIST_ERRORS})
    def get(self, request, key: str):
        found = access.dataset(request, key)
        return self.list_response(access.dataset_versions(request).filter(dataset=found))

    @extend_schema(
        operation_id="dataset_versions_register",
        request={"application/json": s.DatasetVersionRegisterIn, "multipart/form-data": s.DatasetVersionRegisterIn},
        responses={201: s.DatasetVersionOut, **UPLOAD_ERRORS, **WRITE_ERRORS},
    )
    def post(self, request, key: str):
        found = access.dataset(request, key)
        data = self.parse(s.DatasetVersionRegisterIn)
        file = data["file"]
        declared = data["content_sha256"]
        streamed = getattr(file, "streamed_sha256", None)
        if file is not None and declared and normalise_sha256(declared) not in (None, streamed):
            raise ChecksumMismatch(
                f"The declared SHA-256 of the dataset file ({normalise_sha256(declared)}) does not match the bytes "
                f"received ({streamed}); nothing was stored.",
                declared=normalise_sha256(declared), computed=streamed,
            )
        sources = _resolve_dataset_sources(request, data["derived_from"])
        version = services.dataset_version_register(
            actor=request.user,
            dataset=found,
            file=file,
            content_sha256=declared,
            row_count=data["row_count"],
            schema=data["schema"],
            contains_personal_data=data["contains_personal_data"],
            contains_special_category_data=data["contains_special_category_data"],
            special_category_justification=data["special_category_justification"],
            protected_attributes=data["protected_attributes"],
            legal_basis=data["legal_basis"],
            retention_until=data["retention_until"],
            datasheet=data["datasheet"],
            derived_from=sources,
        )
        version = access.dataset_version(request, key, version.number)
        return self.created(s.DatasetVersionOut(version).data, f"/api/v1/datasets/{key}/versions/{version.number}/")


class DatasetVersionDetailView(RegistryView):
    """One dataset version. Immutable apart from its lifecycle: PUT, PATCH and DELETE answer 409."""

    queryset = DatasetVersion.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.DatasetVersionOut

    @extend_schema(operation_id="dataset_versions_retrieve", responses={200: s.DatasetVersionOut, **READ_ERRORS})
    def get(self, request, key: str, number: int):
        return Response(s.DatasetVersionOut(access.dataset_version(request, key, number)).data)

    def _refuse(self, request, key: str, number: int):
        version = access.dataset_version(request, key, number)
        _refuse_change(f"Dataset version {version}",
                       "Register a new version for new data; change its lifecycle state through /lifecycle.")

    @extend_schema(operation_id="dataset_versions_update", request=None, responses={**problems(409), **READ_ERRORS})
    def put(self, request, key: str, number: int):
        self._refuse(request, key, number)

    @extend_schema(operation_id="dataset_versions_partial_update", request=None,
                   responses={**problems(409), **READ_ERRORS})
    def patch(self, request, key: str, number: int):
        self._refuse(request, key, number)

    @extend_schema(operation_id="dataset_versions_destroy", responses={**problems(409), **READ_ERRORS})
    def delete(self, request, key: str, number: int):
        self._refuse(request, key, number)


class DatasetVersionLifecycleView(RegistryView):
    queryset = DatasetVersion.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.DatasetVersionOut

    @extend_schema(operation_id="dataset_versions_lifecycle_change", request=s.LifecycleChangeIn,
                   responses={200: s.DatasetVersionOut, **WRITE_ERRORS})
    def post(self, request, key: str, number: int):
        version = access.dataset_version(request, key, number)
        data = self.parse(s.LifecycleChangeIn)
        services.dataset_version_change_lifecycle(actor=request.user, dataset_version=version, **data)
        return Response(s.DatasetVersionOut(access.dataset_version(request, key, number)).data)


# --- deployments ------------------------------------------------------------------------------------


class DeploymentListView(RegistryView):
    serializer_class = s.DeploymentOut
    filterset_class = filters.DeploymentFilter
    pagination_class = DocketCursorPagination
    required_scopes = READ_AND_DEPLOYMENTS_WRITE

    def get_queryset(self):
        return access.deployments(self.request)

    @extend_schema(operation_id="deployments_list", responses={200: s.DeploymentOut(many=True), **LIST_ERRORS})
    def get(self, request):
        return self.list_response(self.get_queryset())

    @extend_schema(operation_id="deployments_record", request=s.DeploymentRecordIn,
                   responses={201: s.DeploymentOut, **WRITE_ERRORS})
    def post(self, request):
        data = self.parse(s.DeploymentRecordIn)
        version = access.model_version(request, data["use_case"], data["model"], data["version"])
        # Through the gate: refused (409 no-allow-decision) unless the gate allowed this artifact into the
        # environment recently, or an approver granted an emergency override.
        deployment = gate_services.deployment_record(
            actor=request.user,
            model_version=version,
            environment=data["environment"],
            deployed_at=data["deployed_at"],
            pipeline_run=data["pipeline_run"],
        )
        deployment = access.deployment(request, deployment.pk)
        return self.created(s.DeploymentOut(deployment).data, f"/api/v1/deployments/{deployment.pk}/")


class DeploymentDetailView(RegistryView):
    queryset = Deployment.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.DeploymentOut
    required_scopes = READ_AND_DEPLOYMENTS_WRITE

    @extend_schema(operation_id="deployments_retrieve", responses={200: s.DeploymentOut, **READ_ERRORS})
    def get(self, request, pk: int):
        return Response(s.DeploymentOut(access.deployment(request, pk)).data)


class DeploymentStatusView(RegistryView):
    queryset = Deployment.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.DeploymentOut
    required_scopes = READ_AND_DEPLOYMENTS_WRITE

    @extend_schema(operation_id="deployments_status_change", request=s.DeploymentStatusIn,
                   responses={200: s.DeploymentOut, **WRITE_ERRORS})
    def post(self, request, pk: int):
        deployment = access.deployment(request, pk)
        data = self.parse(s.DeploymentStatusIn)
        services.deployment_change_status(actor=request.user, deployment=deployment, **data)
        return Response(s.DeploymentOut(access.deployment(request, pk)).data)

