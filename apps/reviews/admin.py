"""Read-only admin pages for reviews: every change goes through apps.reviews.services."""

from django.contrib import admin

from .models import Approval, CheckResult, Decision, Finding, ReviewCase, ReviewPolicy, RiskAcceptance


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(ReadOnlyAdmin):
    list_display = ["key", "version", "risk_class", "model_risk_tier", "created_at"]
    list_filter = ["risk_class", "model_risk_tier"]


@admin.register(ReviewCase)
class ReviewCaseAdmin(ReadOnlyAdmin):
    list_display = ["pk", "model_version", "environment", "status", "opened_at"]
    list_filter = ["status", "environment"]


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ["case", "kind", "status", "progress", "finished_at"]
    list_filter = ["kind", "status"]


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ["case", "severity", "title", "status", "due_date"]


@admin.register(RiskAcceptance)
class RiskAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ["check_result", "accepted_by", "accepted_at"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["case", "meaning", "signer_printed_name", "signed_at", "manifest_sha256"]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ["artifact_sha256", "environment", "approved_at", "expires_at", "revoked_at"]
