"""Settings shared by every deployment shape. Environment-specific modules extend this one."""

from pathlib import Path

from .environment import database_from_url, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("DOCKET_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-development-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "django_htmx",
    "apps.common",
    "apps.accounts",
    "apps.audit",
    "apps.registry",
    "apps.reviews",
    "apps.gate",
    "apps.reports",
    "apps.lineage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.common.middleware.RequestIdMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.common.navigation.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'docket.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Web sessions end this many seconds after sign-in (default 8 hours, one working day).
SESSION_COOKIE_AGE = env_int("DOCKET_SESSION_TIMEOUT_SECONDS", 8 * 3600)

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads above this size are streamed to a temporary file rather than held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# django-guardian: no anonymous user row; object permissions only for signed-in principals.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.common.api.exceptions.problem_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Docket API",
    "DESCRIPTION": "Governance and compliance registry for machine-learning models.",
    "VERSION": "1.0.0",
    # Error responses are documented as application/problem+json (apps.common.api.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.common.api.schema.problem_media_type_hook",
    ],
    # Two choice sets share the field name "kind"; name them after what they are.
    "ENUM_NAME_OVERRIDES": {
        "DocumentKindEnum": "apps.reports.models.DocumentKind",
        "InquiryKindEnum": "apps.lineage.models.InquiryKind",
    },
}


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's filesystem transport: one folder both ways, so any process sharing it is a peer."""
    return {
        "data_folder_in": str(folder / "broker"),
        "data_folder_out": str(folder / "broker"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


# Celery: the broker is Redis in production and kombu's filesystem transport in the embedded demo.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = (
    filesystem_broker_options(Path(env_str("DOCKET_CELERY_FILESYSTEM_DIR")))
    if env_str("DOCKET_CELERY_FILESYSTEM_DIR")
    else {}
)
# Redis: a task a worker took but never acknowledged (the worker died) is delivered again after this
# many seconds. Keep it above the longest task (a review check: DOCKET_REVIEW_CHECK_WALL_SECONDS + 120).
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = env_int("DOCKET_CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", None)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DOCKET_LOG_LEVEL", "INFO")},
}

# --- Docket -------------------------------------------------------------------------------------

# Deployment environments a model version can be promoted to, in order of increasing exposure.
DOCKET_ENVIRONMENTS = env_list("DOCKET_ENVIRONMENTS", ["development", "staging", "production"])
DOCKET_MAX_ARTIFACT_BYTES = env_int("DOCKET_MAX_ARTIFACT_BYTES", 512 * 1024 * 1024)
DOCKET_MAX_DATASET_FILE_BYTES = env_int("DOCKET_MAX_DATASET_FILE_BYTES", 256 * 1024 * 1024)
# Types a skops artifact may contain beyond skops' own defaults. Docket's list, never the uploader's.
DOCKET_SKOPS_TRUSTED_TYPES = env_list(
    "DOCKET_SKOPS_TRUSTED_TYPES",
    [
        "numpy.dtype",
        "numpy.ndarray",
        "builtins.slice",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.tree._tree.Tree",
    ],
)

# Review checks run models in a child process with these limits (memory in MiB, CPU and wall seconds).
DOCKET_REVIEW_CHECK_MEMORY_MB = env_int("DOCKET_REVIEW_CHECK_MEMORY_MB", 4096)
DOCKET_REVIEW_CHECK_CPU_SECONDS = env_int("DOCKET_REVIEW_CHECK_CPU_SECONDS", 600)
DOCKET_REVIEW_CHECK_WALL_SECONDS = env_int("DOCKET_REVIEW_CHECK_WALL_SECONDS", 900)

# Audit log: origin line of checkpoints, signing key, and how many entries may await a checkpoint.
DOCKET_AUDIT_ORIGIN = env_str("DOCKET_AUDIT_ORIGIN", "docket.localhost/audit")
DOCKET_AUDIT_SIGNING_KEY = env_str("DOCKET_AUDIT_SIGNING_KEY", None)
DOCKET_AUDIT_SIGNING_KEY_FILE = env_str("DOCKET_AUDIT_SIGNING_KEY_FILE", str(VAR_DIR / "keys" / "audit-signing.key"))
DOCKET_AUDIT_MAX_UNCHECKPOINTED = env_int("DOCKET_AUDIT_MAX_UNCHECKPOINTED", 1000)
DOCKET_AUDIT_CHECKPOINT_INTERVAL_SECONDS = env_int("DOCKET_AUDIT_CHECKPOINT_INTERVAL_SECONDS", 60)
# Witnesses (C2SP tlog-witness): where checkpoints are submitted, and the witnesses' cosignature/v1
# verifier keys (<name>+<hex key id>+<base64(0x04 || public key)>); only cosignatures that verify
# against one of these keys are stored.
DOCKET_AUDIT_WITNESS_URLS = env_list("DOCKET_AUDIT_WITNESS_URLS", [])
DOCKET_AUDIT_WITNESS_KEYS = env_list("DOCKET_AUDIT_WITNESS_KEYS", [])
# Generate a signing key into DOCKET_AUDIT_SIGNING_KEY_FILE on first use (local demo and tests only;
# in production a missing key is an error: create one with `manage.py audit init-key`).
DOCKET_AUDIT_AUTOCREATE_KEY = env_bool("DOCKET_AUDIT_AUTOCREATE_KEY", False)
# Largest evidence pack (in entries) the web UI exports; larger ones: `manage.py audit export` (docs/ui.md).
DOCKET_AUDIT_UI_EXPORT_MAX_ENTRIES = env_int("DOCKET_AUDIT_UI_EXPORT_MAX_ENTRIES", 50_000)
# Promotion gate (docs/gate.md): what each environment requires, the attestation key, time windows.
# "approval" = a valid Approval for the environment; "checks" = passing automated review checks (or an
# approval). Environments not listed need an approval.
DOCKET_GATE_REQUIREMENTS = dict(
    item.split("=", 1)
    for item in env_list("DOCKET_GATE_REQUIREMENTS", ["development=checks", "staging=checks", "production=approval"])
)
DOCKET_GATE_SIGNING_KEY = env_str("DOCKET_GATE_SIGNING_KEY", None)
DOCKET_GATE_SIGNING_KEY_FILE = env_str("DOCKET_GATE_SIGNING_KEY_FILE", str(VAR_DIR / "keys" / "gate-attestation.key"))
DOCKET_GATE_KEY_NAME = env_str("DOCKET_GATE_KEY_NAME", "docket.localhost/gate")
DOCKET_GATE_STATEMENT_TIMEOUT_MS = env_int("DOCKET_GATE_STATEMENT_TIMEOUT_MS", 2000)
DOCKET_GATE_DECISION_VALID_SECONDS = env_int("DOCKET_GATE_DECISION_VALID_SECONDS", 24 * 3600)
DOCKET_GATE_OVERRIDE_VALID_MINUTES = env_int("DOCKET_GATE_OVERRIDE_VALID_MINUTES", 240)
DOCKET_GATE_EXPIRY_WARNING_DAYS = env_int("DOCKET_GATE_EXPIRY_WARNING_DAYS", 30)
DOCKET_GATE_MAX_REQUEST_BYTES = env_int("DOCKET_GATE_MAX_REQUEST_BYTES", 64 * 1024)
# Lineage (docs/lineage.md): largest OpenLineage event accepted (after gzip decompression), and
# OpenLineage dataset names mapped to Docket datasets, as "namespace-glob|name-glob=dataset-key" items
# consulted after the mappings kept in the database.
DOCKET_LINEAGE_MAX_EVENT_BYTES = env_int("DOCKET_LINEAGE_MAX_EVENT_BYTES", 1024 * 1024)
DOCKET_LINEAGE_DATASET_MAPPINGS = env_list("DOCKET_LINEAGE_DATASET_MAPPINGS", [])
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "apps.audit.tasks.checkpoint_sign_task",
    "schedule": float(DOCKET_AUDIT_CHECKPOINT_INTERVAL_SECONDS),
}
