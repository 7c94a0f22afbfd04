"""The test suite: a real PostgreSQL given by DATABASE_URL (the README's test command starts one)."""

from pathlib import Path

from .base import *  # noqa: F403
from .base import VAR_DIR
from .environment import database_from_url, env_int, env_str

SECRET_KEY = "test-key-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["*"]

# Connections are not kept between requests in tests (default 0); benchmarks that serve these settings
# with gunicorn set DATABASE_CONN_MAX_AGE=60 to match production.
DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", required=True),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(VAR_DIR / "test-media")))
# A real worker in tests/integration/ overrides this with a filesystem broker shared with the test.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "memory://")
CELERY_TASK_ALWAYS_EAGER = False
DOCKET_AUDIT_SIGNING_KEY_FILE = str(VAR_DIR / "test-keys" / "audit-signing.key")
DOCKET_AUDIT_AUTOCREATE_KEY = True
LOGGING = {"version": 1, "disable_existing_loggers": False}
