from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("use-cases/", views.UseCaseListView.as_view(), name="use-case-list"),
    path("use-cases/<slug:key>/", views.UseCaseDetailView.as_view(), name="use-case-detail"),
    path("use-cases/<slug:key>/classifications/", views.ClassificationListView.as_view(), name="classification-list"),
    path("use-cases/<slug:key>/risk-tier/", views.RiskTierView.as_view(), name="risk-tier"),
    path("use-cases/<slug:use_case>/models/", views.UseCaseModelListView.as_view(), name="use-case-model-list"),
    path("use-cases/<slug:use_case>/models/<slug:model>/", views.ModelDetailView.as_view(), name="model-detail"),
    path("use-cases/<slug:use_case>/models/<slug:model>/versions/", views.ModelVersionCollectionView.as_view(),
         name="model-version-collection"),
    path("use-cases/<slug:use_case>/models/<slug:model>/versions/<int:number>/",
         views.ModelVersionDetailView.as_view(), name="model-version-detail"),
    path("use-cases/<slug:use_case>/models/<slug:model>/versions/<int:number>/artifact/",
         views.ModelVersionArtifactView.as_view(), name="model-version-artifact"),
    path("models/", views.ModelListView.as_view(), name="model-list"),
    path("model-versions/", views.ModelVersionListView.as_view(), name="model-version-list"),
    path("datasets/", views.DatasetListView.as_view(), name="dataset-list"),
    path("datasets/<slug:key>/", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<slug:key>/versions/", views.DatasetVersionCollectionView.as_view(),
         name="dataset-version-collection"),
    path("datasets/<slug:key>/versions/<int:number>/", views.DatasetVersionDetailView.as_view(),
         name="dataset-version-detail"),
    path("datasets/<slug:key>/versions/<int:number>/lifecycle/", views.DatasetVersionLifecycleView.as_view(),
         name="dataset-version-lifecycle"),
    path("deployments/", views.DeploymentListView.as_view(), name="deployment-list"),
    path("deployments/<int:pk>/", views.DeploymentDetailView.as_view(), name="deployment-detail"),
    path("deployments/<int:pk>/status/", views.DeploymentStatusView.as_view(), name="deployment-status"),
]
