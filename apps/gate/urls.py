from django.urls import path

from . import views

app_name = "gate"

urlpatterns = [
    path("decisions/", views.decision_list, name="decision_list"),
    path("approvals/", views.approval_list, name="approval_list"),
    path("approvals/<int:pk>/revoke/", views.approval_revoke, name="approval_revoke"),
]
