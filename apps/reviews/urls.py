"""Web pages of reviews (the API lives in apps.reviews.api.urls)."""

from django.urls import path

from . import views

app_name = "reviews"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("<int:pk>/", views.case_detail, name="case"),
    path("<int:pk>/checks/", views.case_checks, name="case_checks"),
    path("<int:pk>/checks/<slug:kind>/plots/<slug:name>.png", views.check_plot, name="check_plot"),
    path("<int:pk>/checks/<slug:kind>/accept-risk/", views.risk_accept, name="risk_accept"),
    path("<int:pk>/findings/", views.finding_raise, name="finding_raise"),
    path("<int:pk>/findings/<int:finding_pk>/resolve/", views.finding_resolve, name="finding_resolve"),
    path("<int:pk>/findings/<int:finding_pk>/reassign/", views.finding_reassign, name="finding_reassign"),
    path("<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("<int:pk>/sign/<slug:meaning>/", views.sign, name="sign"),
]
