"""The embedded demo: SQLite, a filesystem Celery broker, no external services."""

from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR, filesystem_broker_options
from .environment import env_bool, env_str

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "local-demo-key-not-for-production-use-0123456789abcdef")

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock at BEGIN, so the worker and the web server
    # serialise cleanly instead of failing with "database is locked" on upgrade.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        Path(env_str("DOCKET_CELERY_FILESYSTEM_DIR", str(VAR_DIR / "celery")))
    )

DOCKET_AUDIT_AUTOCREATE_KEY = env_bool("DOCKET_AUDIT_AUTOCREATE_KEY", True)
