"""Benchmark settings: the test settings plus django-auditlog, the comparison baseline."""

from config.settings.test import *  # noqa: F403 - the test settings, extended below
from config.settings.test import INSTALLED_APPS, VAR_DIR

INSTALLED_APPS = [*INSTALLED_APPS, "auditlog"]
DOCKET_AUDIT_SIGNING_KEY_FILE = str(VAR_DIR / "bench-keys" / "audit-signing.key")
DOCKET_AUDIT_AUTOCREATE_KEY = True
CELERY_TASK_ALWAYS_EAGER = False
