"""Writes for people, teams, service accounts, API keys and use-case permissions.

Every function here is an administrator's action: the actor must hold Role.ADMIN or be
`apps.audit.services.SYSTEM`. Each validates before changing anything, changes state and writes its
audit entry in one transaction, and refuses a request that would change nothing with Conflict.
Audit data never contains a password, a password hash or an API key's secret.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm
from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

from apps.audit.actions import Action
from apps.audit.services import SYSTEM, record
from apps.common.errors import Conflict, DuplicateKey, PermissionDenied, ValidationFailed, validation_error

from . import keys
from .models import ApiKey, ServiceAccount, Team, User
from .permissions import UseCasePermission
from .roles import Role
from .scopes import Scope

SERVICE_ACCOUNT_USERNAME_PREFIX = "svc."
TEAM_GROUP_PREFIX = "team:"
_MAX_PREFIX_ATTEMPTS = 5


# --- shared checks -----------------------------------------------------------------------------------


def _require_admin(actor, doing: str) -> None:
    if actor is SYSTEM:
        return
    if isinstance(actor, User) and not actor.is_service_account and actor.has_role(Role.ADMIN):
        return
    raise PermissionDenied(f"Only administrators may {doing}.")


def _recorded_by(actor) -> User | None:
    """The user to store in created_by/revoked_by columns; None when Docket itself acted."""
    return None if actor is SYSTEM else actor


def _failed(exc: DjangoValidationError, detail: str) -> ValidationFailed:
    if hasattr(exc, "error_dict"):
        return ValidationFailed(detail, field_errors={field: list(msgs) for field, msgs in exc.message_dict.items()})
    return ValidationFailed(detail, field_errors={"__all__": list(exc.messages)})


def _parse_roles(roles: Iterable[Role | str]) -> list[Role]:
    if isinstance(roles, str):
        roles = [roles]
    parsed: list[Role] = []
    for role in roles:
        try:
            parsed.append(Role(role))
        except ValueError:
            choices = ", ".join(Role.values)
            raise validation_error("roles", f"Unknown role {role!r}; a role is one of: {choices}.") from None
    return sorted(set(parsed), key=Role.values.index)


def _parse_scopes(scopes: Iterable[Scope | str]) -> list[str]:
    if isinstance(scopes, str):
        scopes = [scopes]
    parsed: set[str] = set()
    for scope in scopes:
        try:
            parsed.add(Scope(scope).value)
        except ValueError:
            choices = ", ".join(Scope.values)
            raise validation_error("scopes", f"Unknown scope {scope!r}; a scope is one of: {choices}.") from None
    if not parsed:
        raise validation_error("scopes", "A service account needs at least one scope.")
    return sorted(parsed, key=Scope.values.index)


def _role_names(user: User) -> list[str]:
    held = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    return [role for role in Role.values if role in held]


def _ensure_an_admin_remains(user: User, doing: str) -> None:
    others = User.objects.filter(is_active=True, groups__name=Role.ADMIN).exclude(pk=user.pk)
    if user.is_active and user.has_role(Role.ADMIN) and not others.exists():
        raise Conflict(f"Refused to {doing}: Docket would be left without an active administrator.")


def _require_person(user: User, field: str, hint: str) -> None:
    if user.is_service_account:
        raise validation_error(field, f"{user.username} is a service account; {hint}")


# --- people ------------------------------------------------------------------------------------------


def user_create(
    *,
    actor,
    username: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    roles: Iterable[Role | str] = (),
) -> User:
    """Creates a person's account with the given roles. Without a password it cannot sign in with one."""
    _require_admin(actor, "create users")
    role_list = _parse_roles(roles)
    user = User(
        username=(username or "").strip(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip(),
        kind=User.Kind.HUMAN,
    )
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except DjangoValidationError as exc:
        raise _failed(exc, "The user's details are not valid.") from None
    if user.username.lower().startswith(SERVICE_ACCOUNT_USERNAME_PREFIX):
        raise validation_error(
            "username", f"Usernames starting with {SERVICE_ACCOUNT_USERNAME_PREFIX!r} are reserved for service accounts."
        )
    if password is None:
        user.set_unusable_password()
    else:
        try:
            validate_password(password, user)
        except DjangoValidationError as exc:
            raise ValidationFailed(
                "The password is not acceptable.", field_errors={"password": list(exc.messages)}
            ) from None
        user.set_password(password)
    if User.objects.filter(username__iexact=user.username).exists():
        raise DuplicateKey(f"A user named {user.username!r} already exists.")

    try:
        with transaction.atomic():
            user.save()
            user.groups.add(*Group.objects.filter(name__in=[role.value for role in role_list]))
            record(
                actor=actor,
                action=Action.ACCOUNTS_USER_CREATED,
                subject=user,
                data={
                    "username": user.username,
                    "name": user.get_full_name(),
                    "email": user.email,
                    "kind": user.kind,
                    "roles": [role.value for role in role_list],
                    "password_set": password is not None,
                },
            )
    except IntegrityError:
        raise DuplicateKey(f"A user named {user.username!r} already exists.") from None
    return user


def user_set_roles(*, actor, user: User, roles: Iterable[Role | str]) -> User:
    """Replaces the person's roles with exactly `roles`; the audit entry records before and after."""
    _require_admin(actor, "change roles")
    _require_person(user, "user", "service accounts act through scopes, not roles.")
    after = [role.value for role in _parse_roles(roles)]
    before = _role_names(user)
    if before == after:
        raise Conflict(f"{user.username} already holds exactly these roles.")
    if Role.ADMIN in before and Role.ADMIN not in after:
        _ensure_an_admin_remains(user, f"remove the admin role from {user.username}")

    with transaction.atomic():
        role_groups = {group.name: group for group in Group.objects.filter(name__in=Role.values)}
        user.groups.remove(*[role_groups[name] for name in before if name not in after])
        user.groups.add(*[role_groups[name] for name in after if name not in before])
        record(
            actor=actor,
            action=Action.ACCOUNTS_USER_ROLES_CHANGED,
            subject=user,
            data={"username": user.username, "before": before, "after": after},
        )
    return user


def user_deactivate(*, actor, user: User, reason: str = "") -> User:
    """Stops the person signing in. Their history stays; nothing is deleted."""
    _require_admin(actor, "deactivate users")
    _require_person(user, "user", "deactivate it with service_account_deactivate.")
    if not user.is_active:
        raise Conflict(f"{user.username} is already deactivated.")
    if actor is not SYSTEM and actor.pk == user.pk:
        raise Conflict("You cannot deactivate your own account; ask another administrator.")
    _ensure_an_admin_remains(user, f"deactivate {user.username}")

    with transaction.atomic():
        roles = _role_names(user)
        user.is_active = False
        user.save(update_fields=["is_active"])
        record(
            actor=actor,
            action=Action.ACCOUNTS_USER_DEACTIVATED,
            subject=user,
            data={"username": user.username, "roles": roles, "reason": reason.strip()},
        )
    return user


# --- teams -------------------------------------------------------------------------------------------


def team_create(*, actor, key: str, name: str) -> Team:
    """Creates a team and the group `team:<key>` whose members are the team's members."""
    _require_admin(actor, "create teams")
    key = (key or "").strip()
    name = (name or "").strip()
    team = Team(key=key, name=name)
    try:
        team.full_clean(exclude=["group"], validate_unique=False)
    except DjangoValidationError as exc:
        raise _failed(exc, "The team's details are not valid.") from None
    group_name = f"{TEAM_GROUP_PREFIX}{key}"
    if Team.objects.filter(key=key).exists() or Group.objects.filter(name=group_name).exists():
        raise DuplicateKey(f"A team with the key {key!r} already exists.")

    try:
        with transaction.atomic():
            team.group = Group.objects.create(name=group_name)
            team.save()
            record(
                actor=actor,
                action=Action.ACCOUNTS_TEAM_CREATED,
                subject=team,
                data={"key": team.key, "name": team.name, "group": group_name},
            )
    except IntegrityError:
        raise DuplicateKey(f"A team with the key {key!r} already exists.") from None
    return team


def team_member_add(*, actor, team: Team, user: User) -> Team:
    """Makes the person a member of the team, so they reach what the team owns and is granted."""
    _require_admin(actor, "change team membership")
    _require_person(user, "user", "its team is set when the service account is created.")
    if not user.is_active:
        raise validation_error("user", f"{user.username} is deactivated and cannot join a team.")
    if team.has_member(user):
        raise Conflict(f"{user.username} is already a member of {team.key}.")

    with transaction.atomic():
        team.group.user_set.add(user)
        record(
            actor=actor,
            action=Action.ACCOUNTS_TEAM_MEMBER_ADDED,
            subject=team,
            data={"team": team.key, "user_id": user.pk, "username": user.username},
        )
    return team


def team_member_remove(*, actor, team: Team, user: User) -> Team:
    """Ends the person's membership of the team."""
    _require_admin(actor, "change team membership")
    _require_person(user, "user", "its team is set when the service account is created.")
    if not team.has_member(user):
        raise Conflict(f"{user.username} is not a member of {team.key}.")

    with transaction.atomic():
        team.group.user_set.remove(user)
        record(
            actor=actor,
            action=Action.ACCOUNTS_TEAM_MEMBER_REMOVED,
            subject=team,
            data={"team": team.key, "user_id": user.pk, "username": user.username},
        )
    return team


# --- service accounts and API keys -------------------------------------------------------------------


def _use_case_keys(use_cases) -> list[str]:
    return sorted(str(getattr(use_case, "key", use_case.pk)) for use_case in use_cases)


def service_account_create(
    *,
    actor,
    name: str,
    team: Team | None = None,
    description: str = "",
    scopes: Iterable[Scope | str],
    allowed_use_cases: Iterable = (),
) -> ServiceAccount:
    """Creates a service account and the service-kind user it acts as (no usable password).

    With `allowed_use_cases`, its keys reach only those use cases; without, every use case its
    permissions allow. With a team, it joins the team's group and so reaches what the team does.
    """
    _require_admin(actor, "create service accounts")
    name = (name or "").strip()
    try:
        validate_slug(name)
    except DjangoValidationError:
        raise validation_error(
            "name", "A service account name uses only letters, digits, hyphens and underscores."
        ) from None
    if len(name) > ServiceAccount._meta.get_field("name").max_length:
        raise validation_error("name", "A service account name has at most 64 characters.")
    scope_list = _parse_scopes(scopes)
    use_cases = list(allowed_use_cases)
    for use_case in use_cases:
        try:
            _require_use_case(use_case)
        except ValidationFailed:
            raise validation_error("allowed_use_cases", f"{use_case!r} is not a registered use case.") from None
    username = f"{SERVICE_ACCOUNT_USERNAME_PREFIX}{name}"
    if (
        ServiceAccount.objects.filter(name=name).exists()
        or User.objects.filter(username__iexact=username).exists()
    ):
        raise DuplicateKey(f"A service account named {name!r} already exists.")

    try:
        with transaction.atomic():
            user = User(username=username, kind=User.Kind.SERVICE)
            user.set_unusable_password()
            user.save()
            service_account = ServiceAccount.objects.create(
                name=name,
                description=description.strip(),
                team=team,
                user=user,
                scopes=scope_list,
                created_by=_recorded_by(actor),
            )
            if team is not None:
                team.group.user_set.add(user)
            service_account.allowed_use_cases.set(use_cases)
            record(
                actor=actor,
                action=Action.ACCOUNTS_SERVICE_ACCOUNT_CREATED,
                subject=service_account,
                data={
                    "name": name,
                    "user_id": user.pk,
                    "team": team.key if team is not None else None,
                    "scopes": scope_list,
                    "allowed_use_cases": _use_case_keys(use_cases),
                    "description": service_account.description,
                },
            )
    except IntegrityError:
        raise DuplicateKey(f"A service account named {name!r} already exists.") from None
    return service_account


def service_account_deactivate(*, actor, service_account: ServiceAccount, reason: str = "") -> ServiceAccount:
    """Stops every key of the account from authenticating. Keys stay listed; nothing is deleted."""
    _require_admin(actor, "deactivate service accounts")
    if not service_account.is_active:
        raise Conflict(f"The service account {service_account.name} is already deactivated.")

    with transaction.atomic():
        now = timezone.now()
        service_account.is_active = False
        service_account.deactivated_at = now
        service_account.save(update_fields=["is_active", "deactivated_at", "updated_at"])
        user = service_account.user
        user.is_active = False
        user.save(update_fields=["is_active"])
        unrevoked = service_account.api_keys.filter(revoked_at__isnull=True)
        record(
            actor=actor,
            action=Action.ACCOUNTS_SERVICE_ACCOUNT_DEACTIVATED,
            subject=service_account,
            data={
                "name": service_account.name,
                "reason": reason.strip(),
                "unrevoked_keys": [f"{keys.KEY_TAG}_{prefix}" for prefix in unrevoked.values_list("prefix", flat=True)],
            },
        )
    return service_account


def api_key_issue(
    *, actor, service_account: ServiceAccount, expires_at: dt.datetime | None = None, label: str = ""
) -> tuple[ApiKey, str]:
    """Issues a new key and returns it with its plaintext, which is never available again."""
    _require_admin(actor, "issue API keys")
    if not service_account.is_active:
        raise Conflict(f"The service account {service_account.name} is deactivated; it cannot get new keys.")
    label = (label or "").strip()
    if len(label) > ApiKey._meta.get_field("label").max_length:
        raise validation_error("label", "A key label has at most 100 characters.")
    now = timezone.now()
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise validation_error("expires_at", "The expiry needs a time zone.")
        if expires_at <= now:
            raise validation_error(
                "expires_at", f"The expiry {expires_at.isoformat()} is not in the future; a key must expire later."
            )

    for _ in range(_MAX_PREFIX_ATTEMPTS):
        generated = keys.generate_key()
        if not ApiKey.objects.filter(prefix=generated.prefix).exists():
            break
    else:  # 36**8 prefixes: reaching this means the random source is broken, not bad luck.
        raise Conflict("Could not find an unused key prefix; try again.")

    with transaction.atomic():
        api_key = ApiKey.objects.create(
            service_account=service_account,
            prefix=generated.prefix,
            secret_hash=generated.secret_hash,
            label=label,
            created_by=_recorded_by(actor),
            expires_at=expires_at,
        )
        record(
            actor=actor,
            action=Action.ACCOUNTS_API_KEY_ISSUED,
            subject=api_key,
            data={
                "service_account": service_account.name,
                "prefix": api_key.display_prefix,
                "label": label,
                "expires_at": expires_at,
            },
        )
    return api_key, generated.plaintext


def api_key_revoke(*, actor, api_key: ApiKey, reason: str) -> ApiKey:
    """Revokes the key for good: from the next request on it no longer authenticates."""
    _require_admin(actor, "revoke API keys")
    reason = (reason or "").strip()
    if not reason:
        raise validation_error("reason", "Say why the key is revoked; the reason is kept in the audit log.")
    if api_key.is_revoked:
        raise Conflict(f"The key {api_key.display_prefix} was already revoked at {api_key.revoked_at.isoformat()}.")

    with transaction.atomic():
        api_key.revoked_at = timezone.now()
        api_key.revoked_by = _recorded_by(actor)
        api_key.revocation_reason = reason
        api_key.save(update_fields=["revoked_at", "revoked_by", "revocation_reason"])
        record(
            actor=actor,
            action=Action.ACCOUNTS_API_KEY_REVOKED,
            subject=api_key,
            data={
                "service_account": api_key.service_account.name,
                "prefix": api_key.display_prefix,
                "reason": reason,
            },
        )
    return api_key


# --- use-case permissions ----------------------------------------------------------------------------


def _grantee(*, user: User | None, team: Team | None, require_active: bool):
    """Returns (guardian user-or-group, audit description) for exactly one of user and team."""
    if (user is None) == (team is None):
        raise ValidationFailed(
            "Name exactly one grantee: a user or a team.",
            field_errors={"user": ["Give a user or a team, not both or neither."]},
        )
    if user is not None:
        if require_active and not user.is_active:
            raise validation_error("user", f"{user.username} is deactivated.")
        if user.is_service_account:
            return user, {"type": "service_account", "id": user.pk, "name": user.service_account.name}
        return user, {"type": "user", "id": user.pk, "name": user.username}
    return team.group, {"type": "team", "id": team.pk, "name": team.key}


def _held_directly(grantee, use_case, codename: str) -> bool:
    """Whether this user or group row itself holds the permission (not through another group)."""
    if isinstance(grantee, Group):
        rows = get_group_obj_perms_model(use_case).objects.filter(group=grantee)
    else:
        rows = get_user_obj_perms_model(use_case).objects.filter(user=grantee)
    return rows.filter(
        permission__codename=codename,
        permission__content_type=ContentType.objects.get_for_model(use_case),
        object_pk=str(use_case.pk),
    ).exists()


def _require_use_case(use_case) -> None:
    use_case_model = django_apps.get_model("registry", "UseCase")
    if not isinstance(use_case, use_case_model) or use_case.pk is None:
        raise validation_error("use_case", f"{use_case!r} is not a registered use case.")


def _use_case_permission(permission: UseCasePermission | str) -> UseCasePermission:
    try:
        return UseCasePermission(permission)
    except ValueError:
        choices = ", ".join(UseCasePermission.values)
        raise validation_error("permission", f"Unknown permission {permission!r}; one of: {choices}.") from None


def use_case_permission_grant(
    *, actor, use_case, permission: UseCasePermission | str, user: User | None = None, team: Team | None = None
):
    """Grants one object permission on the use case to a user (or service account user) or a team."""
    _require_admin(actor, "grant use-case permissions")
    _require_use_case(use_case)
    permission = _use_case_permission(permission)
    grantee, described = _grantee(user=user, team=team, require_active=True)
    if _held_directly(grantee, use_case, permission.value):
        raise Conflict(f"{described['name']} already holds {permission.value} on {use_case}.")

    with transaction.atomic():
        assign_perm(permission.value, grantee, use_case)
        record(
            actor=actor,
            action=Action.ACCOUNTS_USE_CASE_PERMISSION_GRANTED,
            subject=use_case,
            data={"permission": permission.value, "grantee": described},
        )
    return use_case


def use_case_permission_revoke(
    *, actor, use_case, permission: UseCasePermission | str, user: User | None = None, team: Team | None = None
):
    """Takes back a permission granted directly to the user or to the team (not one held another way)."""
    _require_admin(actor, "revoke use-case permissions")
    _require_use_case(use_case)
    permission = _use_case_permission(permission)
    # Deactivated users may still have permissions taken away, to tidy up.
    grantee, described = _grantee(user=user, team=team, require_active=False)
    if not _held_directly(grantee, use_case, permission.value):
        raise Conflict(f"{described['name']} does not hold {permission.value} on {use_case} directly.")

    with transaction.atomic():
        remove_perm(permission.value, grantee, use_case)
        record(
            actor=actor,
            action=Action.ACCOUNTS_USE_CASE_PERMISSION_REVOKED,
            subject=use_case,
            data={"permission": permission.value, "grantee": described},
        )
    return use_case
