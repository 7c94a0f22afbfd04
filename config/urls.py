from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.common import views as common_views

urlpatterns = [
    path("", common_views.home, name="home"),
    path("healthz", common_views.healthz, name="healthz"),
    path("reviews/", include("apps.reviews.urls")),
    path("registry/", include("apps.registry.urls")),
    path("audit/", include("apps.audit.urls")),
    path("gate/", include("apps.gate.urls")),
    path("lineage/", include("apps.lineage.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls", namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

# Under /api/ these answer application/problem+json, never an HTML page.
handler404 = "apps.common.api.handlers.page_not_found"
handler500 = "apps.common.api.handlers.server_error"
