"""Production settings: everything from ``settings`` plus what a real
deployment must have. Refuses to start without a real secret key."""

import os

from django.core.exceptions import ImproperlyConfigured

from .settings import *  # noqa: F403
from .settings import VAR_DIR, env_bool, env_int

# Prometheus multi-process mode: every gunicorn and Celery worker process on
# this host writes its counters and histograms to files in one folder, and a
# scrape of any web worker adds them up. Set before any metric exists (the
# client reads it once); gunicorn's config removes dead processes' files.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

DEBUG = False

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of 50+ characters")

# The OpenID provider's signing key is the organisation's: never one made on disk.
if not os.environ.get("OIDC_RSA_PRIVATE_KEY", "").strip():
    raise ImproperlyConfigured(
        "OIDC_RSA_PRIVATE_KEY must hold the OpenID provider's RSA private key (PEM); "
        "make one with: python -m recovery_console.oidc.keys")

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-rc-session"
CSRF_COOKIE_NAME = "__Host-rc-csrf"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# gunicorn serves the collected static files itself.
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]  # noqa: F405

# Applications receive sign-ins at https addresses only (RFC 9700 2.1): deploy checks
# fail on anything else.
OAUTH2_PROVIDER = {**OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],  # noqa: F405
                   "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True}
