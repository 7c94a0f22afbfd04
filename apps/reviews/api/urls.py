from django.urls import path

from . import views

app_name = "reviews"

urlpatterns = [
    path("reviews/", views.ReviewCaseListView.as_view(), name="case-list"),
    path("reviews/<int:pk>/", views.ReviewCaseDetailView.as_view(), name="case-detail"),
    path("reviews/<int:pk>/withdraw/", views.ReviewWithdrawView.as_view(), name="case-withdraw"),
    path("reviews/<int:pk>/checks/", views.CheckResultListView.as_view(), name="check-list"),
    path("reviews/<int:pk>/checks/<slug:kind>/", views.CheckResultDetailView.as_view(), name="check-detail"),
    path("reviews/<int:pk>/checks/<slug:kind>/plots/<slug:name>/", views.CheckPlotView.as_view(), name="check-plot"),
    path("reviews/<int:pk>/checks/<slug:kind>/risk-acceptance/", views.RiskAcceptView.as_view(),
         name="risk-acceptance"),
    path("reviews/<int:pk>/findings/", views.FindingListView.as_view(), name="finding-list"),
    path("reviews/<int:pk>/findings/<int:finding_pk>/", views.FindingDetailView.as_view(), name="finding-detail"),
    path("reviews/<int:pk>/findings/<int:finding_pk>/resolve/", views.FindingResolveView.as_view(),
         name="finding-resolve"),
    path("reviews/<int:pk>/findings/<int:finding_pk>/reassign/", views.FindingReassignView.as_view(),
         name="finding-reassign"),
    path("reviews/<int:pk>/decisions/", views.DecisionListView.as_view(), name="decision-list"),
    path("reviews/<int:pk>/decisions/<int:decision_pk>/", views.DecisionDetailView.as_view(), name="decision-detail"),
    path("reviews/<int:pk>/validate/", views.ValidateView.as_view(), name="validate"),
    path("reviews/<int:pk>/approve/", views.ApproveView.as_view(), name="approve"),
    path("reviews/<int:pk>/reject/", views.RejectView.as_view(), name="reject"),
    path("reviews/<int:pk>/request-changes/", views.RequestChangesView.as_view(), name="request-changes"),
]
