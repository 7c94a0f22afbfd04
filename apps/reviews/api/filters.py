"""Query filters for the reviews list (django-filter)."""

import django_filters

from apps.registry.api.filters import StrictFilterSet
from apps.reviews.models import ReviewCase, ReviewStatus


class ReviewCaseFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=ReviewStatus.choices)
    environment = django_filters.CharFilter(field_name="environment")
    use_case = django_filters.CharFilter(field_name="model_version__model__use_case__key")
    model = django_filters.CharFilter(field_name="model_version__model__key")
    version = django_filters.NumberFilter(field_name="model_version__number")

    class Meta:
        model = ReviewCase
        fields = ["status", "environment", "use_case", "model", "version"]
