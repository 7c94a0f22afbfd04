from django.urls import path

from . import views

app_name = "lineage"

urlpatterns = [
    path("", views.explore, name="explore"),
]
