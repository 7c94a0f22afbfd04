"""Production: PostgreSQL, Redis, gunicorn behind TLS. Everything sensitive comes from the environment."""

from .base import *  # noqa: F403
from .environment import env_bool, env_int, env_list, env_str

DEBUG = False
SECRET_KEY = env_str("DJANGO_SECRET_KEY", required=True)

# The container health check calls /healthz over plain HTTP on loopback, inside the container.
ALLOWED_HOSTS = [*env_list("DJANGO_ALLOWED_HOSTS", []), "127.0.0.1", "localhost"]
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
