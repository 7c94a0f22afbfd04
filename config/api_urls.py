"""/api/v1/: one include per app. The schema and interactive docs live at /api/schema/ and /api/docs/."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("audit/", include("apps.audit.api.urls")),
    path("gate/", include("apps.gate.api.urls")),
    path("reports/", include("apps.reports.api.urls")),
    path("", include("apps.lineage.api.urls")),
    path("", include("apps.registry.api.urls")),
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.reviews.api.urls")),
]
