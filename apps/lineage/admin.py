"""Admin: read-only views of the graph and events; dataset mappings are created and deactivated through
the services (audited), never edited in place."""

from __future__ import annotations

from django.contrib import admin, messages

from . import services
from .models import DatasetMapping, Edge, Inquiry, Node, OpenLineageEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "label", "use_case", "environment"]
    list_filter = ["kind"]
    search_fields = ["label", "key"]


@admin.register(Edge)
class EdgeAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "source_node", "target_node", "valid_from", "valid_to"]
    list_filter = ["kind"]
    list_select_related = ["source_node", "target_node"]


@admin.register(OpenLineageEvent)
class OpenLineageEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "job_namespace", "job_name", "run_id", "event_time", "received_at"]
    search_fields = ["run_id", "job_name"]


@admin.register(Inquiry)
class InquiryAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "asked_by", "requester", "created_at", "checkpoint_tree_size"]


@admin.register(DatasetMapping)
class DatasetMappingAdmin(admin.ModelAdmin):
    """Adding goes through `mapping_create`; the "deactivate" action through `mapping_deactivate`."""

    list_display = ["id", "namespace_pattern", "name_pattern", "dataset", "priority", "active"]
    fields = ["namespace_pattern", "name_pattern", "dataset", "priority"]
    actions = ["deactivate"]

    def has_change_permission(self, request, obj=None):
        return obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        mapping = services.mapping_create(actor=request.user, namespace_pattern=obj.namespace_pattern,
                                          name_pattern=obj.name_pattern, dataset=obj.dataset, priority=obj.priority)
        obj.pk = mapping.pk

    @admin.action(description="Deactivate the selected mappings")
    def deactivate(self, request, queryset):
        for mapping in queryset.filter(active=True):
            services.mapping_deactivate(actor=request.user, mapping=mapping)
        messages.success(request, "Deactivated; events received from now on no longer use them.")
