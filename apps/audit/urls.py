from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.entry_list, name="entry_list"),
    path("entries/<int:index>/", views.entry_detail, name="entry_detail"),
    path("entries/<int:index>/proof/", views.entry_proof, name="entry_proof"),
    path("export/", views.export, name="export"),
]
