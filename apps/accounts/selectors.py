"""Reads for people, teams, service accounts and API keys."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.common.errors import NotFound, PermissionDenied

from .models import ApiKey, ServiceAccount, Team, User
from .roles import Role


def _require_admin_or_auditor(fetched_by, reading: str) -> None:
    if fetched_by.is_service_account or not (fetched_by.has_role(Role.ADMIN) or fetched_by.has_role(Role.AUDITOR)):
        raise PermissionDenied(f"Only administrators and auditors may list {reading}.")


def user_roles(user: User) -> list[Role]:
    """The roles the user holds, in the order Role declares them."""
    held = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    return [role for role in Role if role.value in held]


def user_teams(user: User) -> QuerySet[Team]:
    """The teams the user (or service account user) is a member of."""
    return Team.objects.filter(group__user=user)


def team_get(*, key: str) -> Team:
    team = Team.objects.select_related("group").filter(key=key).first()
    if team is None:
        raise NotFound(f"There is no team with the key {key!r}.")
    return team


def team_list(*, fetched_by: User) -> QuerySet[Team]:
    """Every team for administrators and auditors; otherwise the teams the user belongs to."""
    teams = Team.objects.select_related("group")
    if not fetched_by.is_service_account and (fetched_by.has_role(Role.ADMIN) or fetched_by.has_role(Role.AUDITOR)):
        return teams
    return teams.filter(group__user=fetched_by)


def service_account_get(*, name: str) -> ServiceAccount:
    service_account = ServiceAccount.objects.select_related("user", "team").filter(name=name).first()
    if service_account is None:
        raise NotFound(f"There is no service account named {name!r}.")
    return service_account


def service_account_list(*, fetched_by: User) -> QuerySet[ServiceAccount]:
    """Every service account, with its team and use-case restriction; for administrators and auditors."""
    _require_admin_or_auditor(fetched_by, "service accounts")
    return ServiceAccount.objects.select_related("user", "team").prefetch_related("allowed_use_cases")


def api_key_list(*, fetched_by: User, service_account: ServiceAccount | None = None) -> QuerySet[ApiKey]:
    """API keys (never their secrets), newest first; for administrators and auditors."""
    _require_admin_or_auditor(fetched_by, "API keys")
    api_keys = ApiKey.objects.select_related("service_account")
    if service_account is not None:
        api_keys = api_keys.filter(service_account=service_account)
    return api_keys
