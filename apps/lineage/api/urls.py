from django.urls import path

from . import views

app_name = "lineage"

urlpatterns = [
    # The OpenLineage HTTP transport posts to <url>/api/v1/lineage (no trailing slash).
    path("lineage", views.OpenLineageIngestView.as_view(), name="ingest"),
    path("lineage/upstream", views.UpstreamView.as_view(), name="upstream"),
    path("lineage/downstream", views.DownstreamView.as_view(), name="downstream"),
    path("lineage/window", views.WindowView.as_view(), name="window"),
    path("lineage/behind", views.BehindView.as_view(), name="behind"),
    path("lineage/nodes", views.NodeListView.as_view(), name="nodes"),
    path("lineage/inquiries", views.InquiryListView.as_view(), name="inquiry-list"),
    path("lineage/inquiries/<int:pk>", views.InquiryDetailView.as_view(), name="inquiry-detail"),
    path("lineage/inquiries/<int:pk>/pdf", views.InquiryPdfView.as_view(), name="inquiry-pdf"),
    path("lineage/mappings", views.MappingListView.as_view(), name="mapping-list"),
    path("lineage/mappings/<int:pk>/deactivate", views.MappingDeactivateView.as_view(), name="mapping-deactivate"),
]
