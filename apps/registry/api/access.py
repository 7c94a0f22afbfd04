"""What an API request may reach in the registry: the selectors' answer for the signed-in principal,
narrowed to the use cases its API key's service account is limited to (if any).

Everything a caller may not see is NotFound, worded the same whether or not the object exists.
"""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.permissions import api_key_of
from apps.common.errors import NotFound
from apps.registry import selectors
from apps.registry.models import Dataset, DatasetVersion, Deployment, Model, ModelVersion, UseCase

_CACHE_ATTRIBUTE = "_docket_key_use_case_ids"


def key_use_case_ids(request) -> list[int] | None:
    """Primary keys of the use cases the request's API key is limited to; None when it is not limited."""
    if not hasattr(request, _CACHE_ATTRIBUTE):
        api_key = api_key_of(request.auth)
        ids = None
        if api_key is not None:
            ids = list(api_key.service_account.allowed_use_cases.values_list("pk", flat=True)) or None
        setattr(request, _CACHE_ATTRIBUTE, ids)
    return getattr(request, _CACHE_ATTRIBUTE)


def narrow(queryset: QuerySet, request, *, use_case_path: str) -> QuerySet:
    """Applies the API key's use-case restriction to a queryset whose use case is at `use_case_path`."""
    ids = key_use_case_ids(request)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{use_case_path}__in": ids})


def use_cases(request) -> QuerySet[UseCase]:
    return narrow(selectors.use_case_list(fetched_by=request.user), request, use_case_path="pk")


def use_case(request, key: str) -> UseCase:
    found = use_cases(request).filter(key=key).first()
    if found is None:
        raise NotFound(f"No use case {key!r} that you may see.")
    return found


def models(request) -> QuerySet[Model]:
    return narrow(selectors.model_list(fetched_by=request.user), request, use_case_path="use_case")


def model(request, use_case_key: str, model_key: str) -> Model:
    found = models(request).filter(use_case__key=use_case_key, key=model_key).first()
    if found is None:
        raise NotFound(f"No model {use_case_key}/{model_key} that you may see.")
    return found


def model_versions(request) -> QuerySet[ModelVersion]:
    return narrow(selectors.model_version_list(fetched_by=request.user), request, use_case_path="model__use_case")


def model_version(request, use_case_key: str, model_key: str, number: int) -> ModelVersion:
    found = (
        model_versions(request)
        .filter(model__use_case__key=use_case_key, model__key=model_key, number=number)
        .first()
    )
    if found is None:
        raise NotFound(f"No version {number} of model {use_case_key}/{model_key} that you may see.")
    return found


def datasets(request) -> QuerySet[Dataset]:
    return selectors.dataset_list(fetched_by=request.user)


def dataset(request, key: str) -> Dataset:
    found = datasets(request).filter(key=key).first()
    if found is None:
        raise NotFound(f"No dataset {key!r} that you may see.")
    return found


def dataset_versions(request) -> QuerySet[DatasetVersion]:
    return selectors.dataset_version_list(fetched_by=request.user)


def dataset_version(request, dataset_key: str, number: int) -> DatasetVersion:
    found = dataset_versions(request).filter(dataset__key=dataset_key, number=number).first()
    if found is None:
        raise NotFound(f"No version {number} of dataset {dataset_key!r} that you may see.")
    return found


def deployments(request) -> QuerySet[Deployment]:
    return narrow(selectors.deployment_list(fetched_by=request.user), request, use_case_path="model__use_case")


def deployment(request, pk: int) -> Deployment:
    found = deployments(request).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No deployment {pk} that you may see.")
    return found
