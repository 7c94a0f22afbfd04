"""Reads of the registry, each limited to what the user asking may see.

Administrators and auditors see everything. Everyone else sees the use cases they hold a use-case
permission on (`view_usecase`, `submit_to_usecase` or `review_usecase`, directly or through their
team's group), the models, versions and deployments of
those use cases, and the datasets their teams own or that those use cases' model versions used.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.accounts.permissions import visible_use_cases
from apps.common.errors import NotFound

from . import permissions
from .models import (
    ClaimedMetric,
    ClassificationDecision,
    Dataset,
    DatasetVersion,
    DatasetVersionSource,
    Deployment,
    Model,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionDeveloper,
    UseCase,
)


def use_case_list(*, fetched_by) -> QuerySet[UseCase]:
    """The use cases `fetched_by` may see, with owner team, business owner and current classification."""
    queryset = UseCase.objects.select_related(
        "owner_team", "business_owner", "current_classification__annex_iii_point"
    ).order_by("key")
    if permissions.reads_everything(fetched_by):
        return queryset
    # Any of view_usecase, submit_to_usecase and review_usecase (held directly or through a team's
    # group, via guardian) makes a use case visible; accounts.permissions keeps that rule in one place.
    return visible_use_cases(queryset, user=fetched_by)


def use_case_get(*, fetched_by, key: str) -> UseCase:
    """The use case with `key`; NotFound if it does not exist or `fetched_by` may not see it."""
    use_case = use_case_list(fetched_by=fetched_by).filter(key=key).first()
    if use_case is None:
        raise NotFound(f"No use case {key!r} that you may see.")
    return use_case


def classification_history(*, fetched_by, use_case: UseCase) -> QuerySet[ClassificationDecision]:
    """Every classification decision of the use case, newest first."""
    _require_visible(fetched_by, use_case)
    return (
        ClassificationDecision.objects.filter(use_case=use_case)
        .select_related("annex_iii_point", "decided_by")
        .order_by("-decided_at", "-pk")
    )


def _require_visible(fetched_by, use_case: UseCase) -> None:
    if not permissions.can_view_use_case(fetched_by, use_case):
        raise NotFound(f"No use case {use_case.key!r} that you may see.")


def model_list(*, fetched_by, use_case: UseCase | None = None) -> QuerySet[Model]:
    """The models of the use cases `fetched_by` may see (of one use case if given)."""
    queryset = Model.objects.select_related("use_case").filter(use_case__in=use_case_list(fetched_by=fetched_by))
    if use_case is not None:
        queryset = queryset.filter(use_case=use_case)
    return queryset.order_by("use_case__key", "key")


# What a version's dataset links and metric claims show of a dataset version (its datasheet text is not
# loaded for them).
_LINKED_DATASET_VERSION_FIELDS = (
    "dataset_version__number", "dataset_version__content_sha256", "dataset_version__dataset__key",
)


def model_version_list(
    *, fetched_by, model: Model | None = None, use_case: UseCase | None = None
) -> QuerySet[ModelVersion]:
    """The model versions `fetched_by` may see, with their dataset links, developers and claimed metrics
    prefetched as the lists `dataset_link_list`, `developer_link_list` (each link's `user`, in the order
    the registration named them) and `claimed_metric_list` (in their models' order)."""
    # Lists (to_attr) rather than the related managers' caches: Django then builds no queryset per row,
    # which cost more than the queries on a page of 50 versions; the explicit orderings keep the
    # prefetch queries from joining the model versions only to sort by the models' default ordering;
    # only the columns shown are loaded for the linked dataset versions.
    queryset = (
        ModelVersion.objects.select_related("model__use_case", "parent", "registered_by")
        .filter(model__use_case__in=use_case_list(fetched_by=fetched_by))
        .prefetch_related(
            Prefetch(
                "dataset_links",
                queryset=ModelVersionDataset.objects.select_related("dataset_version__dataset")
                .only(*_LINKED_DATASET_VERSION_FIELDS, "model_version", "role")
                .order_by("model_version_id", "role", "pk"),
                to_attr="dataset_link_list",
            ),
            Prefetch(
                "developer_links",
                queryset=ModelVersionDeveloper.objects.select_related("user")
                .only("model_version", "user__username", "user__first_name", "user__last_name")
                .order_by("model_version_id", "pk"),
                to_attr="developer_link_list",
            ),
            Prefetch(
                "claimed_metrics",
                queryset=ClaimedMetric.objects.select_related("dataset_version__dataset")
                .only(*_LINKED_DATASET_VERSION_FIELDS, "model_version", "name", "value", "higher_is_better",
                      "threshold_note")
                .order_by("model_version_id", "name", "pk"),
                to_attr="claimed_metric_list",
            ),
        )
    )
    if model is not None:
        queryset = queryset.filter(model=model)
    if use_case is not None:
        queryset = queryset.filter(model__use_case=use_case)
    return queryset.order_by("model__use_case__key", "model__key", "number")


def model_version_get(*, fetched_by, use_case_key: str, model_key: str, number: int) -> ModelVersion:
    """One model version by its use case, model and number; NotFound if absent or not visible."""
    version = (
        model_version_list(fetched_by=fetched_by)
        .filter(model__use_case__key=use_case_key, model__key=model_key, number=number)
        .first()
    )
    if version is None:
        raise NotFound(f"No version {number} of model {use_case_key}/{model_key} that you may see.")
    return version


def model_versions_with_artifact(*, fetched_by, sha256: str) -> QuerySet[ModelVersion]:
    """The visible model versions whose artifact has this SHA-256."""
    return model_version_list(fetched_by=fetched_by).filter(artifact_sha256=sha256.lower())


def dataset_list(*, fetched_by) -> QuerySet[Dataset]:
    """The datasets owned by `fetched_by`'s teams or used by model versions of use cases they may see."""
    queryset = Dataset.objects.select_related("owner_team").order_by("key")
    if permissions.reads_everything(fetched_by):
        return queryset
    if not permissions.is_active_user(fetched_by):
        return queryset.none()
    own_teams = fetched_by.groups.filter(team__isnull=False).values("team")
    used = ModelVersionDataset.objects.filter(
        model_version__model__use_case__in=use_case_list(fetched_by=fetched_by)
    ).values("dataset_version__dataset")
    return queryset.filter(pk__in=Dataset.objects.filter(owner_team__in=own_teams).values("pk")) | queryset.filter(
        pk__in=used
    )


def dataset_get(*, fetched_by, key: str) -> Dataset:
    dataset = dataset_list(fetched_by=fetched_by).filter(key=key).first()
    if dataset is None:
        raise NotFound(f"No dataset {key!r} that you may see.")
    return dataset


def dataset_version_list(*, fetched_by, dataset: Dataset | None = None) -> QuerySet[DatasetVersion]:
    """The versions of the datasets `fetched_by` may see, with the sources each was derived from that
    `fetched_by` may also see prefetched as `source_link_list` (each link's `source` and its dataset, in
    the order the registration named them). A source of a dataset the caller may not see is left out."""
    visible = dataset_list(fetched_by=fetched_by)
    queryset = (
        DatasetVersion.objects.select_related("dataset__owner_team", "registered_by")
        .filter(dataset__in=visible)
        .prefetch_related(
            Prefetch(
                "source_links",
                queryset=DatasetVersionSource.objects.filter(source__dataset__in=visible)
                .select_related("source__dataset")
                .only("dataset_version", "source__number", "source__content_sha256", "source__dataset__key")
                .order_by("dataset_version_id", "pk"),
                to_attr="source_link_list",
            )
        )
    )
    if dataset is not None:
        queryset = queryset.filter(dataset=dataset)
    return queryset.order_by("dataset__key", "number")


def deployment_list(
    *, fetched_by, environment: str | None = None, active_only: bool = False
) -> QuerySet[Deployment]:
    """Deployments of the use cases `fetched_by` may see, newest first."""
    queryset = Deployment.objects.select_related("model_version__model__use_case", "deployed_by").filter(
        model__use_case__in=use_case_list(fetched_by=fetched_by)
    )
    if environment is not None:
        queryset = queryset.filter(environment=environment)
    if active_only:
        queryset = queryset.filter(status="active")
    return queryset.order_by("-deployed_at", "-pk")


def dataset_version_usage(*, fetched_by, dataset_version: DatasetVersion) -> QuerySet[ModelVersionDataset]:
    """The links from model versions `fetched_by` may see to `dataset_version`, with their model and use case."""
    return (
        ModelVersionDataset.objects.filter(
            dataset_version=dataset_version,
            model_version__model__use_case__in=use_case_list(fetched_by=fetched_by),
        )
        .select_related("model_version__model__use_case")
        .order_by("model_version__model__use_case__key", "model_version__model__key", "model_version__number", "role")
    )


def linked_dataset_versions(*, model_version: ModelVersion) -> QuerySet[DatasetVersion]:
    """The dataset versions `model_version` links to, with their full datasheets (for its page); the links
    themselves come from `model_version_list`, which already limits them to what the caller may see."""
    return (
        DatasetVersion.objects.filter(model_links__model_version=model_version)
        .select_related("dataset")
        .distinct()
        .order_by("dataset__key", "number")
    )
