"""Admin pages for people, teams, service accounts and API keys.

Rows are read-only here. Creating, deactivating, issuing and revoking go through the services, as the
signed-in user, so the same checks apply and the audit log records them: that user must hold the
admin role, whatever their Django staff or superuser flags say.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone

from apps.common.errors import ApplicationError

from . import services
from .models import ApiKey, ServiceAccount, Team, User
from .roles import Role
from .scopes import Scope
from .selectors import user_roles


class ServiceBackedAdmin(admin.ModelAdmin):
    """Read-only rows; the add form, if any, creates through `create_through_service`."""

    add_fields: tuple[str, ...] = ()

    def has_add_permission(self, request) -> bool:
        return bool(self.add_fields) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.add_fields
        return super().get_fields(request, obj)

    def create_through_service(self, request, data: dict):
        raise NotImplementedError

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError as exc:
            # The service refused after the form validated (e.g. not an admin): nothing was saved.
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        created = self.create_through_service(request, form.cleaned_data)
        # The admin goes on to log and redirect to `obj`; make it the row the service created.
        obj.pk = created.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """The service has already saved everything."""


def _run_each(modeladmin, request, queryset, action, done: str) -> None:
    changed = 0
    for obj in queryset:
        try:
            action(obj)
            changed += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
    if changed:
        modeladmin.message_user(request, f"{done}: {changed}.", messages.SUCCESS)


# --- users -------------------------------------------------------------------------------------------


class UserAddForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput, required=False, strip=False,
        help_text="Leave empty for an account that cannot sign in with a password.",
    )
    roles = forms.MultipleChoiceField(choices=Role.choices, required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email"]


@admin.register(User)
class UserAdmin(ServiceBackedAdmin):
    form = UserAddForm
    add_fields = ("username", "first_name", "last_name", "email", "password", "roles")
    list_display = ("username", "display_name", "kind", "role_names", "is_active", "last_login")
    list_filter = ("kind", "is_active", "groups")
    search_fields = ("username", "first_name", "last_name", "email")
    exclude = ("password", "user_permissions")
    actions = ["deactivate_users"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["fields"] = ["username", "first_name", "last_name", "email"]
            return super().get_form(request, obj, change=change, **kwargs)
        return super().get_form(request, obj, change=change, form=forms.ModelForm, **kwargs)

    @admin.display(description="roles")
    def role_names(self, user: User) -> str:
        return ", ".join(role.value for role in user_roles(user))

    def create_through_service(self, request, data):
        return services.user_create(
            actor=request.user,
            username=data["username"],
            password=data.get("password") or None,
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            email=data.get("email", ""),
            roles=data.get("roles", []),
        )

    @admin.action(description="Deactivate selected people")
    def deactivate_users(self, request, queryset):
        _run_each(
            self, request, queryset,
            lambda user: services.user_deactivate(actor=request.user, user=user, reason="Deactivated in the admin"),
            "Deactivated",
        )


# --- teams -------------------------------------------------------------------------------------------


@admin.register(Team)
class TeamAdmin(ServiceBackedAdmin):
    add_fields = ("key", "name")
    list_display = ("key", "name", "member_count")
    search_fields = ("key", "name")
    readonly_fields = ("member_list",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.add_fields
        return ("key", "name", "group", "member_list", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group")

    @admin.display(description="members")
    def member_count(self, team: Team) -> int:
        return team.members.count()

    @admin.display(description="members")
    def member_list(self, team: Team) -> str:
        return ", ".join(user.username for user in team.members.order_by("username"))

    def create_through_service(self, request, data):
        return services.team_create(actor=request.user, key=data["key"], name=data["name"])


# --- service accounts and keys -----------------------------------------------------------------------


class ServiceAccountAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ServiceAccount
        fields = ["name", "description", "team", "scopes", "allowed_use_cases"]


class IssueKeyForm(forms.Form):
    label = forms.CharField(max_length=100, required=False)
    expires_in_days = forms.IntegerField(min_value=1, required=False, help_text="Empty: the key does not expire.")


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("display_prefix", "label", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ServiceBackedAdmin):
    form = ServiceAccountAddForm
    add_fields = ("name", "description", "team", "scopes", "allowed_use_cases")
    list_display = ("name", "team", "scope_list", "is_active", "created_at")
    list_filter = ("is_active", "team")
    search_fields = ("name", "description")
    inlines = [ApiKeyInline]
    actions = ["issue_api_key", "deactivate_service_accounts"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.add_fields
        return ("name", "description", "team", "user", "scopes", "allowed_use_cases", "is_active",
                "deactivated_at", "created_by", "created_at")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("team", "user")

    @admin.display(description="scopes")
    def scope_list(self, service_account: ServiceAccount) -> str:
        return ", ".join(service_account.scopes)

    def create_through_service(self, request, data):
        return services.service_account_create(
            actor=request.user,
            name=data["name"],
            description=data.get("description", ""),
            team=data.get("team"),
            scopes=data["scopes"],
            allowed_use_cases=data.get("allowed_use_cases") or [],
        )

    @admin.action(description="Deactivate selected service accounts")
    def deactivate_service_accounts(self, request, queryset):
        _run_each(
            self, request, queryset,
            lambda account: services.service_account_deactivate(
                actor=request.user, service_account=account, reason="Deactivated in the admin"
            ),
            "Deactivated",
        )

    @admin.action(description="Issue an API key (shown once)")
    def issue_api_key(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one service account to issue a key for.", messages.ERROR)
            return None
        service_account = queryset.get()
        form = IssueKeyForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            days = form.cleaned_data["expires_in_days"]
            try:
                api_key, plaintext = services.api_key_issue(
                    actor=request.user,
                    service_account=service_account,
                    label=form.cleaned_data["label"],
                    expires_at=timezone.now() + dt.timedelta(days=days) if days else None,
                )
            except ApplicationError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            # Rendered directly, never put in a message or the session: this page is the only copy.
            return TemplateResponse(
                request,
                "admin/accounts/api_key_issued.html",
                {**self.admin_site.each_context(request), "title": "API key issued", "api_key": api_key,
                 "plaintext": plaintext, "opts": self.model._meta},
            )
        return TemplateResponse(
            request,
            "admin/accounts/action_form.html",
            {**self.admin_site.each_context(request), "title": f"Issue an API key for {service_account.name}",
             "form": form, "objects": [service_account], "action": "issue_api_key",
             "submit_label": "Issue key", "opts": self.model._meta},
        )


class RevokeKeyForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept in the audit log.")


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceBackedAdmin):
    list_display = ("display_prefix", "service_account", "label", "created_at", "expires_at", "revoked_at",
                    "last_used_at")
    list_filter = ("service_account",)
    search_fields = ("prefix", "label", "service_account__name")
    fields = ("service_account", "display_prefix", "secret_hash", "label", "created_by", "created_at",
              "expires_at", "revoked_at", "revoked_by", "revocation_reason", "last_used_at")
    readonly_fields = fields
    actions = ["revoke_api_keys"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("service_account")

    @admin.display(description="key")
    def display_prefix(self, api_key: ApiKey) -> str:
        return f"{api_key.display_prefix}…"

    @admin.action(description="Revoke selected API keys")
    def revoke_api_keys(self, request, queryset):
        form = RevokeKeyForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            _run_each(
                self, request, queryset,
                lambda api_key: services.api_key_revoke(
                    actor=request.user, api_key=api_key, reason=form.cleaned_data["reason"]
                ),
                "Revoked",
            )
            return None
        return TemplateResponse(
            request,
            "admin/accounts/action_form.html",
            {**self.admin_site.each_context(request), "title": "Revoke API keys", "form": form,
             "objects": list(queryset), "action": "revoke_api_keys", "submit_label": "Revoke",
             "opts": self.model._meta},
        )
