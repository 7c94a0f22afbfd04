"""Who may see and act on which use case, and what an API key may be used for.

Object permissions answer *which* use cases a principal may touch; roles answer *what kind* of
action they may take (submit, validate, approve). Services check both: e.g. the reviews service asks
`can_review_use_case` and also requires Role.VALIDATOR.

A principal reaches a use case through:
  1. the admin role (everything) or the auditor role (view only);
  2. a guardian object permission held directly or through a team's group:
     `view_usecase` (view), `submit_to_usecase` (view and submit), `review_usecase` (view and review).
     The registry's use_case_create grants the owner team's group `view_usecase` and
     `submit_to_usecase`, so team members see and submit to their team's use cases; revoking those
     grants takes that away again. Reviewing always needs an explicit grant.
Django superusers pass every object check, as guardian makes them.
Whatever the above allow, a request made with an API key whose service account is limited to named
use cases reaches only those (`principal_may_access_use_case`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.models import QuerySet
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import get_objects_for_user
from rest_framework.permissions import BasePermission

from .models import ApiKey
from .roles import Role
from .scopes import Scope


class UseCasePermission(models.TextChoices):
    """Object permissions on registry.UseCase that can be granted to a user or a team."""

    VIEW = "view_usecase", "View the use case and everything registered under it"
    SUBMIT = "submit_to_usecase", "Register model versions and submit them for review"
    REVIEW = "review_usecase", "Review submissions (validate or approve, as the role allows)"


# Each permission and the weaker ones it includes: whoever may submit or review may also view.
_PERMISSIONS_THAT_GRANT = {
    UseCasePermission.VIEW: (UseCasePermission.VIEW, UseCasePermission.SUBMIT, UseCasePermission.REVIEW),
    UseCasePermission.SUBMIT: (UseCasePermission.SUBMIT,),
    UseCasePermission.REVIEW: (UseCasePermission.REVIEW,),
}


# --- API keys: scopes and use-case restriction ------------------------------------------------------


def api_key_of(auth) -> ApiKey | None:
    """The ApiKey a DRF request authenticated with (request.auth), or None for sessions."""
    return auth if isinstance(auth, ApiKey) else None


def principal_may_access_use_case(user, auth, use_case) -> bool:
    """False when the request's API key belongs to a service account limited to other use cases.

    Sessions, and keys of unrestricted service accounts, pass; this check only ever narrows access
    and must be combined with `can_view_use_case` and friends (which call it).
    """
    api_key = api_key_of(auth)
    if api_key is None:
        return True
    service_account = api_key.service_account
    if service_account.user_id != getattr(user, "pk", None):
        return False
    restriction = service_account.allowed_use_cases.all()
    if not restriction.exists():
        return True
    return restriction.filter(pk=use_case.pk).exists()


def key_has_scope(auth, scope: Scope | str) -> bool:
    """True for session requests (scopes limit keys, not people) and for keys whose account holds `scope`."""
    api_key = api_key_of(auth)
    return api_key is None or api_key.service_account.has_scope(scope)


class HasScope(BasePermission):
    """DRF permission: a request made with an API key needs the scopes the view declares.

    The view sets `required_scopes` to a list of Scope values for every method, or to a dict from
    HTTP method to such a list ("*" for the rest). Requests signed in with a session are not limited
    by scopes; the services check their roles.
    """

    message = "This API key lacks the scope this endpoint requires."

    def has_permission(self, request, view) -> bool:
        if api_key_of(request.auth) is None:
            return True
        required = self._required_scopes(request, view)
        missing = [scope for scope in required if not key_has_scope(request.auth, scope)]
        if missing:
            self.message = f"This API key lacks the scope {', '.join(missing)} that this endpoint requires."
            return False
        return True

    def _required_scopes(self, request, view) -> list[str]:
        declared = getattr(view, "required_scopes", None)
        if declared is None:
            raise TypeError(f"{type(view).__name__} uses HasScope but declares no required_scopes.")
        if isinstance(declared, dict):
            declared = declared.get(request.method, declared.get("*", ()))
        return [str(Scope(scope)) for scope in declared]


def require_scope(*scopes: Scope | str) -> type[BasePermission]:
    """A DRF permission class requiring every one of `scopes` from API keys: `require_scope(Scope.GATE_CHECK)`."""
    required = [str(Scope(scope)) for scope in scopes]

    class RequiresScope(HasScope):
        def _required_scopes(self, request, view) -> list[str]:
            return required

    RequiresScope.__name__ = RequiresScope.__qualname__ = "RequiresScope_" + "_".join(
        scope.replace(":", "_") for scope in required
    )
    return RequiresScope


# --- Use cases ---------------------------------------------------------------------------------------


def _is_signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def _holds(user, use_case, permission: UseCasePermission) -> bool:
    granted = set(ObjectPermissionChecker(user).get_perms(use_case))
    return any(str(p) in granted for p in _PERMISSIONS_THAT_GRANT[permission])


def _may(user, use_case, permission: UseCasePermission, *, auth, role_grants: Iterable[Role]) -> bool:
    if not _is_signed_in(user):
        return False
    if not principal_may_access_use_case(user, auth, use_case):
        return False
    if not user.is_service_account and any(user.has_role(role) for role in role_grants):
        return True
    return _holds(user, use_case, permission)


def can_view_use_case(user, use_case, *, auth=None) -> bool:
    """Admins and auditors see every use case; others need one of the use-case permissions."""
    return _may(user, use_case, UseCasePermission.VIEW, auth=auth, role_grants=(Role.ADMIN, Role.AUDITOR))


def can_submit_to_use_case(user, use_case, *, auth=None) -> bool:
    """Admins and holders of `submit_to_usecase` (the owner team, by default) may register and submit."""
    return _may(user, use_case, UseCasePermission.SUBMIT, auth=auth, role_grants=(Role.ADMIN,))


def can_review_use_case(user, use_case, *, auth=None) -> bool:
    """Admins and holders of `review_usecase` may review its submissions (the reviews service checks roles)."""
    return _may(user, use_case, UseCasePermission.REVIEW, auth=auth, role_grants=(Role.ADMIN,))


def visible_use_cases(queryset: QuerySet, *, user, auth=None) -> QuerySet:
    """Narrows a UseCase queryset to the rows `can_view_use_case` would allow, in one query."""
    if not _is_signed_in(user):
        return queryset.none()
    api_key = api_key_of(auth)
    if api_key is not None:
        if api_key.service_account.user_id != user.pk:
            return queryset.none()
        restriction = api_key.service_account.allowed_use_cases.values("pk")
        if restriction.exists():
            queryset = queryset.filter(pk__in=restriction)
    if not user.is_service_account and (user.has_role(Role.ADMIN) or user.has_role(Role.AUDITOR)):
        return queryset
    granted = get_objects_for_user(
        user,
        [str(p) for p in UseCasePermission],
        klass=queryset.model,
        any_perm=True,
        accept_global_perms=False,
    ).values("pk")
    return queryset.filter(pk__in=granted)


def visible_use_case_condition(*, user, auth=None, use_case_id: str) -> tuple[str, list]:
    """A SQL boolean expression (and its parameters) that is true for exactly the use cases
    `visible_use_cases` would return for this principal, evaluated against the column `use_case_id`
    (e.g. ``"uc.id"``) of an enclosing hand-written query.

    For hot paths that fetch one row by key (the gate answers every pipeline call) and cannot afford
    compiling guardian's subqueries through the ORM on every request. tests/accounts pins it to
    `visible_use_cases` for every kind of principal."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import GroupObjectPermission, UserObjectPermission

    from apps.registry.models import UseCase

    from .models import ServiceAccount

    if not _is_signed_in(user):
        return "1 = 0", []

    conditions: list[str] = []
    params: list = []
    api_key = api_key_of(auth)
    if api_key is not None:
        if api_key.service_account.user_id != user.pk:
            return "1 = 0", []
        allowed = ServiceAccount.allowed_use_cases.through._meta.db_table
        conditions.append(
            f"(NOT EXISTS (SELECT 1 FROM {allowed} r WHERE r.serviceaccount_id = %s) OR EXISTS "
            f"(SELECT 1 FROM {allowed} r WHERE r.serviceaccount_id = %s AND r.usecase_id = {use_case_id}))"
        )
        params += [api_key.service_account_id, api_key.service_account_id]
    if user.is_superuser:
        return " AND ".join(conditions) or "1 = 1", params
    user_groups = type(user).groups.through._meta.db_table
    group_table = Group._meta.db_table
    # ContentType's cache is cleared whenever content types are (re)created, so the id is current.
    use_case_type = ContentType.objects.get_for_model(UseCase).pk
    codenames = [str(permission) for permission in UseCasePermission]
    placeholders = ", ".join(["%s"] * len(codenames))
    object_permission = (
        "EXISTS (SELECT 1 FROM {table} o {join} WHERE {who} AND o.content_type_id = %s "
        f"AND o.permission_id IN (SELECT p.id FROM {Permission._meta.db_table} p WHERE p.content_type_id = %s "
        f"AND p.codename IN ({placeholders})) AND o.object_pk = CAST({use_case_id} AS VARCHAR(255)))"
    )
    grants = [
        object_permission.format(table=UserObjectPermission._meta.db_table, join="", who="o.user_id = %s"),
        object_permission.format(table=GroupObjectPermission._meta.db_table,
                                 join=f"JOIN {user_groups} ug ON ug.group_id = o.group_id", who="ug.user_id = %s"),
    ]
    grant_params = [user.pk, use_case_type, use_case_type, *codenames] * 2
    if not user.is_service_account:
        grants.insert(0, f"EXISTS (SELECT 1 FROM {user_groups} ug JOIN {group_table} g ON g.id = ug.group_id "
                         "WHERE ug.user_id = %s AND g.name IN (%s, %s))")
        grant_params = [user.pk, str(Role.ADMIN), str(Role.AUDITOR), *grant_params]
    conditions.append("(" + " OR ".join(grants) + ")")
    return " AND ".join(conditions), params + grant_params
