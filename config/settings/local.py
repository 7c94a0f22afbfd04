"""The embedded demo: SQLite, a filesystem Celery broker, no external services."""

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR
from .environment import env_bool, env_str

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "local-demo-key-not-for-production-use-0123456789abcdef")

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock at BEGIN, so the worker and the web server
    # serialise cleanly instead of failing with "database is locked" on upgrade.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

_BROKER_DIR = VAR_DIR / "celery" / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(_BROKER_DIR),
    "data_folder_out": str(_BROKER_DIR),
    "processed_folder": str(VAR_DIR / "celery" / "processed"),
    "store_processed": False,
}
