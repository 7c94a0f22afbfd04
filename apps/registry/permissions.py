"""Who may do what in the registry. Services and selectors ask these questions; nothing else decides.

Rules: SYSTEM (Docket itself: management commands and Celery tasks, never a request) and
administrators may do everything; auditors read everything and change nothing; everyone else acts
through team membership with the submitter role (use cases, datasets) or through django-guardian
object permissions on a use case (`submit_to_usecase` for models, versions and deployments,
`review_usecase` for classification and model-risk tiering). Service accounts are users and follow
the same rules.
"""

from __future__ import annotations

from apps.accounts.roles import Role
from apps.audit.services import SYSTEM
from apps.common.errors import PermissionDenied


def is_system(actor) -> bool:
    return actor is SYSTEM


def is_active_user(actor) -> bool:
    return actor is not None and getattr(actor, "pk", None) is not None and getattr(actor, "is_active", False)


def is_admin(actor) -> bool:
    """SYSTEM and people holding the admin role (Django's superuser flag alone does not make an admin,
    as in the accounts services: roles are the one source of who administers Docket)."""
    if is_system(actor):
        return True
    return is_active_user(actor) and not actor.is_service_account and actor.has_role(Role.ADMIN)


def is_auditor(actor) -> bool:
    return is_active_user(actor) and actor.has_role(Role.AUDITOR)


def reads_everything(actor) -> bool:
    """Administrators and auditors see every use case, dataset and deployment."""
    return is_admin(actor) or is_auditor(actor)


def _may_write(actor) -> bool:
    return is_active_user(actor) and not is_auditor(actor)


def is_team_submitter(actor, team) -> bool:
    """Members of `team` who hold the submitter role, and the team's own service accounts.

    A service account holds no roles; what its API key may do is bounded by the key's scopes
    (`registry:write`), which the API checks before any service runs.
    """
    acts_as_submitter = actor.has_role(Role.SUBMITTER) or actor.is_service_account
    return _may_write(actor) and acts_as_submitter and team.has_member(actor)


def has_use_case_permission(actor, use_case, codename: str) -> bool:
    return _may_write(actor) and actor.has_perm(f"registry.{codename}", use_case)


def _deny(actor, message: str) -> PermissionDenied:
    if not is_active_user(actor) and not is_system(actor):
        return PermissionDenied("Only an active, signed-in user or service account can change the registry.")
    if is_auditor(actor) and not is_admin(actor):
        return PermissionDenied("Auditors read the registry; they cannot change it.")
    return PermissionDenied(message)


def require_team_submitter(actor, team, *, doing: str) -> None:
    """Admins, or submitters who are members of `team`."""
    if is_admin(actor) or is_team_submitter(actor, team):
        return
    raise _deny(actor, f"Only administrators and submitters in team '{team.key}' may {doing}.")


def require_submit_to(actor, use_case, *, doing: str) -> None:
    """Admins, or holders of `submit_to_usecase` on the use case (people and service accounts)."""
    if is_admin(actor) or has_use_case_permission(actor, use_case, "submit_to_usecase"):
        return
    raise _deny(actor, f"You may not {doing}: it needs permission to submit to use case '{use_case.key}'.")


def require_review(actor, use_case, *, doing: str) -> None:
    """Admins, or holders of `review_usecase` on the use case."""
    if is_admin(actor) or has_use_case_permission(actor, use_case, "review_usecase"):
        return
    raise _deny(actor, f"You may not {doing}: it needs permission to review use case '{use_case.key}'.")


def can_view_use_case(actor, use_case) -> bool:
    """SYSTEM, admins and auditors see every use case; others need a use-case permission on it."""
    from apps.accounts.permissions import can_view_use_case as holds_a_use_case_permission

    return reads_everything(actor) or holds_a_use_case_permission(actor, use_case)
