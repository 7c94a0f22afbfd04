from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("entries", views.EntryListView.as_view(), name="entry-list"),
    path("entries/<int:index>", views.EntryDetailView.as_view(), name="entry-detail"),
    path("checkpoints", views.CheckpointListView.as_view(), name="checkpoint-list"),
    path("checkpoints/latest", views.LatestCheckpointView.as_view(), name="checkpoint-latest"),
    path("checkpoints/latest/note", views.LatestCheckpointNoteView.as_view(), name="checkpoint-latest-note"),
    path("proofs/consistency", views.ConsistencyProofView.as_view(), name="consistency-proof"),
    path("keys", views.SigningKeyListView.as_view(), name="key-list"),
]
