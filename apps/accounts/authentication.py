"""Bearer API-key authentication for service accounts: `Authorization: Bearer dkt_<prefix>_<secret>`.

What a failed attempt is told: anyone who does not present the whole, correct key learns only
"Invalid or expired API key." — a wrong secret, an unknown prefix and a malformed key read the same.
Whoever presents the correct key of a revoked key, an expired key or a deactivated service account is
told which of these it is, since they already hold the secret.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from apps.common import rawsql

from . import keys
from .models import ApiKey, ServiceAccount, User

INVALID_KEY_MESSAGE = "Invalid or expired API key."
MALFORMED_HEADER_MESSAGE = "Malformed Authorization header; send 'Authorization: Bearer <api key>'."
# last_used_at is written at most this often per key, so authentication is not a write per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Compared against when the prefix is unknown, so that path costs the same hash and comparison.
_UNKNOWN_KEY_HASH = "0" * 64


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a service account's API key; `request.user` is its user, `request.auth` the ApiKey."""

    keyword = "Bearer"
    realm = "docket"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed(MALFORMED_HEADER_MESSAGE)
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(MALFORMED_HEADER_MESSAGE) from None
        api_key = authenticate_api_key(plaintext, at=timezone.now())
        return api_key.service_account.user, api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="{self.realm}"'


def authenticate_api_key(plaintext: str, *, at: dt.datetime) -> ApiKey:
    """Returns the usable ApiKey for `plaintext` or raises AuthenticationFailed; notes when it was used."""
    prefix = keys.parse_prefix(plaintext)
    api_key = _api_key_with_account(prefix) if prefix is not None else None
    matches = keys.key_matches(plaintext, api_key.secret_hash if api_key is not None else _UNKNOWN_KEY_HASH)
    if api_key is None or not matches:
        raise AuthenticationFailed(INVALID_KEY_MESSAGE)
    if api_key.is_revoked:
        raise AuthenticationFailed(f"This API key ({api_key.display_prefix}) has been revoked.")
    if api_key.is_expired(at):
        raise AuthenticationFailed(
            f"This API key ({api_key.display_prefix}) expired at {api_key.expires_at.isoformat()}."
        )
    service_account = api_key.service_account
    if not service_account.is_active or not service_account.user.is_active:
        raise AuthenticationFailed(f"The service account {service_account.name} is deactivated.")
    _note_use(api_key, at)
    return api_key


_KEY_WITH_ACCOUNT_SQL: str | None = None


def _api_key_with_account(prefix: str) -> ApiKey | None:
    """The key with `prefix`, its service account and that account's user, in one hand-written query
    (what `select_related("service_account__user")` would fetch, without compiling it on every request)."""
    global _KEY_WITH_ACCOUNT_SQL
    if _KEY_WITH_ACCOUNT_SQL is None:
        _KEY_WITH_ACCOUNT_SQL = (
            f"SELECT {rawsql.columns(ApiKey, 'k')}, {rawsql.columns(ServiceAccount, 'sa')}, {rawsql.columns(User, 'u')} "
            f"FROM {ApiKey._meta.db_table} k "
            f"JOIN {ServiceAccount._meta.db_table} sa ON sa.id = k.service_account_id "
            f"JOIN {User._meta.db_table} u ON u.id = sa.user_id WHERE k.prefix = %s"
        )
    with connection.cursor() as cursor:
        cursor.execute(_KEY_WITH_ACCOUNT_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key, service_account, user = rawsql.instances(row, [ApiKey, ServiceAccount, User])
    service_account.user = user
    api_key.service_account = service_account
    return api_key


def _note_use(api_key: ApiKey, at: dt.datetime) -> None:
    """Records the time of use, at most once per LAST_USED_RESOLUTION.

    Bookkeeping, not a governance action, so it writes no audit entry; a conditional UPDATE keeps
    concurrent requests from writing more than once.
    """
    if api_key.last_used_at is not None and at - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    updated = (
        ApiKey.objects.filter(pk=api_key.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=at - LAST_USED_RESOLUTION))
        .update(last_used_at=at)
    )
    if updated:
        api_key.last_used_at = at
