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
