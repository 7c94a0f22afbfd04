from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("use-cases/", views.use_case_list, name="use_case_list"),
    path("use-cases/<str:key>/", views.use_case_detail, name="use_case_detail"),
    path("use-cases/<str:key>/classify/", views.classify, name="classify"),
    path("use-cases/<str:key>/classify/preview/", views.classify_preview, name="classify_preview"),
    path("model-versions/<int:pk>/", views.model_version_detail, name="model_version_detail"),
    path("dataset-versions/<int:pk>/", views.dataset_version_detail, name="dataset_version_detail"),
]
