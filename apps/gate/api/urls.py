from django.urls import path

from . import views

app_name = "gate"

urlpatterns = [
    path("check", views.GateCheckView.as_view(), name="check"),
    path("keys", views.AttestationKeyView.as_view(), name="keys"),
    path("expiring-approvals", views.ExpiringApprovalListView.as_view(), name="expiring-approvals"),
    path("approvals/<int:pk>/revoke", views.ApprovalRevokeView.as_view(), name="approval-revoke"),
    path("overrides", views.OverrideGrantView.as_view(), name="override-grant"),
]
