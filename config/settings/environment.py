"""Reading settings from the environment: the one place Docket looks at os.environ."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"The environment variable {name} must be set.")
        return default
    return value


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}.")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


POSTGRESQL_ENGINE = "apps.common.postgresql_backend"


def database_from_url(url: str, *, conn_max_age: int) -> dict:
    """The Django database settings for `url`, with health checks on persistent connections.

    PostgreSQL URLs use Docket's backend (POSTGRESQL_ENGINE): Django's, with a health check that costs
    no round trip while the connection is idle (apps/common/postgresql_backend).

    On PostgreSQL, statements are bound on the server and prepared once they have run
    `DATABASE_PREPARE_THRESHOLD` times on a connection (default 2; psycopg's named prepared
    statements), so PostgreSQL plans the hot queries — authentication, the gate's reads, the audit
    append — once per connection instead of on every request. Set DATABASE_PREPARED_STATEMENTS=false
    behind a pooler in transaction mode that cannot carry prepared statements (PgBouncer before 1.21,
    or without `max_prepared_statements`).
    """
    import dj_database_url

    database = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    if database["ENGINE"] != "django.db.backends.postgresql":
        return database
    database["ENGINE"] = POSTGRESQL_ENGINE
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        threshold = env_int("DATABASE_PREPARE_THRESHOLD", 2)
        if threshold < 0:
            raise ImproperlyConfigured(f"DATABASE_PREPARE_THRESHOLD must be 0 or more, got {threshold}.")
        database.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=threshold)
    return database
