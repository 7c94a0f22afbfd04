from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("service-accounts/", views.ServiceAccountListView.as_view(), name="service-account-list"),
    path("service-accounts/<slug:name>/", views.ServiceAccountDetailView.as_view(), name="service-account-detail"),
    path("service-accounts/<slug:name>/deactivate/", views.ServiceAccountDeactivateView.as_view(),
         name="service-account-deactivate"),
    path("service-accounts/<slug:name>/keys/", views.ApiKeyListView.as_view(), name="api-key-list"),
    path("service-accounts/<slug:name>/keys/<str:prefix>/revoke/", views.ApiKeyRevokeView.as_view(),
         name="api-key-revoke"),
]
