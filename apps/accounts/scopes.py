"""What an API key may be used for. Declared once; views require them, service accounts hold them."""

from django.db import models


class Scope(models.TextChoices):
    REGISTRY_WRITE = "registry:write", "Register datasets, models and model versions"
    REVIEWS_SUBMIT = "reviews:submit", "Submit model versions for review"
    GATE_CHECK = "gate:check", "Ask the promotion gate whether an artifact may be deployed"
    DEPLOYMENTS_WRITE = "deployments:write", "Record deployments and their status"
    LINEAGE_WRITE = "lineage:write", "Send OpenLineage events"
    READ = "read", "Read registry, review and lineage data"
