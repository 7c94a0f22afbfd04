"""Read-only admin page for generated documents: every change goes through apps.reports.services."""

from django.contrib import admin

from .models import GeneratedDocument


@admin.register(GeneratedDocument)
class GeneratedDocumentAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "subject_label", "status", "requested_by", "requested_at", "sha256"]
    list_filter = ["kind", "status"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
