"""Settings for Recovery Console.

Every value comes from the environment, with defaults that are safe for a
developer's laptop: SQLite and a file-system Celery broker under ``var/``,
so the whole console runs without any server. ``recovery_console.production``
tightens these for a real deployment.

One section per concern, read top to bottom: reading the environment, the
site, the database, Redis (cache and broker, decided once), staff sign-in
and sessions, browser security, audit and monitoring, messages, Celery,
logging, the recovery workflow, operations.
"""

import hashlib
import os
from pathlib import Path

import dj_database_url
import phonenumbers
from django.core.exceptions import ImproperlyConfigured

# --- Reading the environment -------------------------------------------------

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- The site ----------------------------------------------------------------

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get(
    "SECRET_KEY", "django-insecure-development-only-key-never-use-in-production"
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# The only base for links put in messages (recovery links, attestation links):
# never built from the request's Host header.
# Directory sources (recovery_console.directory): a run changing or deactivating
# more than this share of a source's identities waits for a security admin;
# one touching fewer than the minimum never waits.
DIRECTORY_MASS_CHANGE_SHARE = float(os.environ.get("DIRECTORY_MASS_CHANGE_SHARE", "0.10"))
DIRECTORY_MASS_CHANGE_MINIMUM = int(os.environ.get("DIRECTORY_MASS_CHANGE_MINIMUM", "5"))
# Leaving the directory revokes the person's passkeys too (not only channels).
DIRECTORY_DEPROVISION_REVOKES_PASSKEYS = True
# The largest CSV a security admin may upload (bytes).
DIRECTORY_CSV_MAX_BYTES = 5 * 1024 * 1024
# SCIM (/scim/v2/): the largest request body (bytes, else 413), the page size
# of a list without ``count`` and the largest a client may ask for, and each
# client's requests per window (accounts.ratelimit; per address as well).
SCIM_MAX_BODY_BYTES = int(os.environ.get("SCIM_MAX_BODY_BYTES", str(256 * 1024)))
SCIM_PAGE_SIZE = 100
SCIM_MAX_PAGE_SIZE = 500
RATE_LIMIT_SCIM_REQUESTS_PER_CLIENT = int(os.environ.get("RATE_LIMIT_SCIM_REQUESTS_PER_CLIENT",
                                                         "1200"))
RATE_LIMIT_SCIM_REQUESTS_PER_ADDRESS = int(os.environ.get(
    "RATE_LIMIT_SCIM_REQUESTS_PER_ADDRESS", "2400"))
RATE_LIMIT_SCIM_WINDOW_SECONDS = 60
# Identity verification providers (recovery_console.idv; the provider and its
# credentials come from IDV_* variables, docs/identity-verification.md): the
# timeout of each call to the provider, how long a started verification may be
# answered, how old a signed callback may be, and the largest callback body.
IDV_HTTP_TIMEOUT = float(os.environ.get("IDV_HTTP_TIMEOUT", "10"))
IDV_VERIFICATION_MINUTES = int(os.environ.get("IDV_VERIFICATION_MINUTES", "60"))
IDV_CALLBACK_MAX_AGE_SECONDS = int(os.environ.get("IDV_CALLBACK_MAX_AGE_SECONDS", "300"))
IDV_CALLBACK_MAX_BYTES = int(os.environ.get("IDV_CALLBACK_MAX_BYTES", str(64 * 1024)))
# LDAP sources: minutes between incremental passes, hours between full ones.
DIRECTORY_LDAP_SYNC_MINUTES = int(os.environ.get("DIRECTORY_LDAP_SYNC_MINUTES", "15"))
DIRECTORY_LDAP_FULL_SYNC_HOURS = int(os.environ.get("DIRECTORY_LDAP_FULL_SYNC_HOURS", "24"))

SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "guardian",
    "auditlog",
    "accounts",
    "audit",
    "recovery_console.apps.RecoveryConfig",
    "recovery_console.directory.apps.DirectoryConfig",
    "recovery_console.rollout.apps.RolloutConfig",
    "recovery_console.restore.apps.RestoreConfig",
    "recovery_console.idv.apps.IdvConfig",
    "recovery_console.signin_events.apps.SignInEventsConfig",
    "oauth2_provider",
    "recovery_console.oidc.apps.OIDCConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "recovery_console.ops.metrics.RequestMetricsMiddleware",
    "recovery_console.ops.logs.RequestIdMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "accounts.middleware.SessionRefreshMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.backends.StaffOTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.timezones.ViewerTimeZoneMiddleware",
    "audit.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "recovery_console.urls"
WSGI_APPLICATION = "recovery_console.wsgi.application"
ASGI_APPLICATION = "recovery_console.asgi.application"

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
                "accounts.roles.roles_context",
                "recovery_console.context_processors.navigation",
            ],
            # ``when`` and ``ago``: every time on a page, in the viewer's zone, labelled.
            "builtins": ["recovery_console.templatetags.times"],
        },
    },
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
# The console is in English only and ships no translations. With translation
# on, every label, choice and date on a page went through gettext's
# per-request language lookup: 7-20 % of the queue and case pages' time.
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))

DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- Database ----------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
# Django's backends, with the audit chain extended just before each commit.
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "audit.backends.")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The laptop setup has web, worker and beat writing at once: write-ahead
    # logging, write locks taken up front, and patience instead of "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: the cache and the Celery broker ----------------------------------
# With REDIS_URL, Redis is both. Without it, nothing needs a server: a file
# cache, shared by every process on the machine (so sign-in throttling holds
# across runserver, worker and beat), and kombu's file-system transport
# under var/, which works across processes.

REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "recovery_console.ops.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "rc",
            # A Redis that hangs must not hang every request that touches the cache.
            "OPTIONS": {
                "socket_connect_timeout": env_int("REDIS_TIMEOUT_SECONDS", 5),
                "socket_timeout": env_int("REDIS_TIMEOUT_SECONDS", 5),
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    # A task not acknowledged within this time (its worker died) is delivered
    # again; countdowns are kept well under it (recovery_console.schedule).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600),
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    for sub in ("queue", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    # kombu's own, with each message written whole before a worker sees it.
    CELERY_BROKER_TRANSPORT = "recovery_console.file_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }

# --- Staff: sign-in, sessions, step-up ---------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "accounts.backends.StaffBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:sign_in"
LOGIN_REDIRECT_URL = "recovery:queue"

# WebAuthn refuses IP addresses as relying party ids, hence localhost.
WEBAUTHN_RP_ID = os.environ.get("WEBAUTHN_RP_ID", "localhost")
WEBAUTHN_RP_NAME = os.environ.get("WEBAUTHN_RP_NAME", "Recovery Console")
WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS", "http://localhost:8000")
OTP_TOTP_ISSUER = "Recovery Console"

# Staff sessions: short idle timeout (restarted by activity, saved at most
# once a SESSION_REFRESH_SECONDS) and cookies that scripts cannot read.
# Read from the cache (Redis in production), written through to the database:
# a staff page reads its session without a query, and a flushed cache loses none.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = env_int("STAFF_IDLE_TIMEOUT_SECONDS", 15 * 60)
SESSION_REFRESH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Staff sessions also end this long after sign-in, however active.
STAFF_SESSION_MAX_AGE_SECONDS = env_int("STAFF_SESSION_MAX_AGE_SECONDS", 10 * 60 * 60)
# Sensitive actions need a passkey or TOTP check at most this old.
STEP_UP_MAX_AGE_SECONDS = env_int("STEP_UP_MAX_AGE_SECONDS", 5 * 60)

# Failed sign-ins are counted per account and per client address over a
# sliding window; past the limit, sign-in is refused until the window ends.
SIGN_IN_FAILURE_WINDOW_SECONDS = env_int("SIGN_IN_FAILURE_WINDOW_SECONDS", 15 * 60)
SIGN_IN_MAX_FAILURES_PER_ACCOUNT = env_int("SIGN_IN_MAX_FAILURES_PER_ACCOUNT", 5)
SIGN_IN_MAX_FAILURES_PER_ADDRESS = env_int("SIGN_IN_MAX_FAILURES_PER_ADDRESS", 20)

# --- Browser security --------------------------------------------------------

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# --- Audit and security monitoring -------------------------------------------

# Client address for the audit trail: REMOTE_ADDR unless a number of trusted
# reverse proxies in front of the app is declared; X-Forwarded-For is never
# believed by default.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Signs exported audit-chain checkpoints; keep a copy of the key offline.
AUDIT_CHECKPOINT_KEY = os.environ.get("AUDIT_CHECKPOINT_KEY") or f"audit-checkpoint:{SECRET_KEY}"

# Security monitoring sink: jsonl (default), webhook (HMAC-signed) or syslog.
MONITORING_SINK = os.environ.get("MONITORING_SINK", "jsonl")
MONITORING_JSONL_PATH = os.environ.get("MONITORING_JSONL_PATH", str(VAR_DIR / "monitoring.jsonl"))
MONITORING_WEBHOOK_URL = os.environ.get("MONITORING_WEBHOOK_URL", "")
MONITORING_WEBHOOK_SECRET = os.environ.get("MONITORING_WEBHOOK_SECRET", "")
MONITORING_SYSLOG_ADDRESS = os.environ.get("MONITORING_SYSLOG_ADDRESS", "/dev/log")

# --- Messages: email, SMS and voice ------------------------------------------

# Email: files under var/mail in development, SMTP when EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Recovery Console <no-reply@localhost>")
EMAIL_MESSAGE_ID_DOMAIN = os.environ.get("EMAIL_MESSAGE_ID_DOMAIN", "recovery-console.local")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
# A delivered notice that held a code or link keeps no copy of it, except on a
# development machine whose outbox page is the only phone there is.
REDACT_DELIVERED_SECRETS = env_bool("REDACT_DELIVERED_SECRETS", not DEBUG)
# SMS and voice: the development backend keeps messages on the outbox page.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "recovery_console.messaging.DevOutboxSMSBackend")
# The development outbox page shows every notice's body (codes included):
# only with DEBUG, or when a demo explicitly turns it on.
DEV_OUTBOX_ENABLED = env_bool("DEV_OUTBOX_ENABLED", False)

# --- Celery ------------------------------------------------------------------
# The broker is chosen with the cache, above. Tasks always run in a worker,
# never eagerly, in the running console.

CELERY_TASK_ALWAYS_EAGER = False
# Every task is idempotent (it re-reads the database and acts only on what is
# still due), so a task is acknowledged after it ran, and a task whose worker
# died is handed to another worker rather than lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 120)
# A decision must not wait long on a broker that is down: the outbox sweep
# dispatches whatever could not be queued at commit time.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Imported by every worker and beat: JSON logging, task failure counts, the
# audit verdict for /metrics, beat's first heartbeat.
CELERY_IMPORTS = ["recovery_console.ops.celery_signals"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "beat-heartbeat": {
        "task": "recovery_console.tasks.record_beat_heartbeat",
        "schedule": 60.0,
    },
    "dispatch-due-notices": {
        "task": "recovery_console.tasks.dispatch_due_notices",
        "schedule": 60.0,
    },
    "resolve-overdue-self-service-requests": {
        "task": "recovery_console.tasks.resolve_overdue_self_service_requests",
        "schedule": 60.0,
    },
    "expire-overdue-recovery-cases": {
        "task": "recovery_console.tasks.expire_overdue_recovery_cases",
        "schedule": 60.0,
    },
    "expire-rollout-exceptions": {
        "task": "recovery_console.rollout.tasks.expire_rollout_exceptions",
        "schedule": 5 * 60.0,
    },
    "mark-stale-channels": {
        "task": "recovery_console.tasks.mark_stale_channels",
        "schedule": 24 * 60 * 60.0,
    },
    # LDAP / Active Directory sources: an incremental pass every few minutes,
    # and a full pass (the only one that sees deletions) daily.
    "sync-ldap-sources": {
        "task": "recovery_console.tasks.sync_ldap_sources",
        "schedule": DIRECTORY_LDAP_SYNC_MINUTES * 60.0,
    },
    "full-sync-ldap-sources": {
        "task": "recovery_console.tasks.sync_ldap_sources",
        "schedule": DIRECTORY_LDAP_FULL_SYNC_HOURS * 3600.0,
        "kwargs": {"full": True},
    },
    "take-readiness-snapshots": {
        "task": "recovery_console.rollout.tasks.take_readiness_snapshots",
        "schedule": 24 * 60 * 60.0,
    },
    "verify-audit-chain": {
        "task": "audit.tasks.verify_audit_chain",
        "schedule": 24 * 60 * 60.0,
    },
    # Passkey rollout: reminders fall due per member (the plan's interval);
    # an hourly pass sends each within the hour.
    "send-enrolment-reminders": {
        "task": "recovery_console.rollout.tasks.send_enrolment_reminders",
        "schedule": 60 * 60.0,
    },
    # A rollout wave whose members flood the help desk pauses itself.
    "pause-overloaded-rollout-waves": {
        "task": "recovery_console.rollout.tasks.pause_overloaded_waves",
        "schedule": 60 * 60.0,
    },
}

# --- Logging -----------------------------------------------------------------
# One JSON object per line on stderr (LOG_FORMAT=plain for a human at a
# terminal), with request and case correlation ids; secret-bearing link paths
# are redacted by the formatter. Django's own loggers go through the same
# handler, so nothing prints a path unredacted.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "recovery_console.ops.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "recovery_console.ops.logs.JsonFormatter"},
        "plain": {"()": "recovery_console.ops.logs.PlainFormatter",
                  "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"],
                             "formatter": os.environ.get("LOG_FORMAT", "json")}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        # SQL with its parameters (handles, digests) even when LOG_LEVEL=DEBUG: never.
        "django.db.backends": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# --- Error reporting (recovery_console.ops.errors) ---------------------------
# Off unless SENTRY_DSN is set (any Sentry-compatible service); reports are
# scrubbed of codes, tokens, links and addresses before they leave.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", "")
SENTRY_RELEASE = os.environ.get("SENTRY_RELEASE", "")
SENTRY_TRACES_SAMPLE_RATE = os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")

# --- Recovery workflow -------------------------------------------------------

# Recovery credentials, channel codes and link tokens are stored only as
# HMAC-SHA256 under this key (derived from SECRET_KEY unless set on its own,
# so rotating it voids every outstanding credential).
RECOVERY_CREDENTIAL_HMAC_KEY = os.environ.get("RECOVERY_CREDENTIAL_HMAC_KEY") or hashlib.sha256(
    f"recovery-credential-hmac:{SECRET_KEY}".encode()
).hexdigest()
# A case not completed by then expires (credentials and sessions die with it).
RECOVERY_CASE_MAX_AGE_SECONDS = env_int("RECOVERY_CASE_MAX_AGE_SECONDS", 3 * 24 * 60 * 60)
RECOVERY_CHANNEL_CODE_SECONDS = env_int("RECOVERY_CHANNEL_CODE_SECONDS", 10 * 60)
RECOVERY_ATTESTATION_SECONDS = env_int("RECOVERY_ATTESTATION_SECONDS", 4 * 60 * 60)
RECOVERY_SESSION_SECONDS = env_int("RECOVERY_SESSION_SECONDS", 15 * 60)
# Threads (each with its own database connection) the minute sweep expires with.
SWEEP_WORKERS = env_int("SWEEP_WORKERS", 2)
RECOVERY_QUEUE_PAGE_SIZE = env_int("RECOVERY_QUEUE_PAGE_SIZE", 25)
# The queue marks an open case "due soon" this many minutes before its deadline.
RECOVERY_QUEUE_DUE_SOON_MINUTES = env_int("RECOVERY_QUEUE_DUE_SOON_MINUTES", 60)
# The region whose national phone numbers the queue search understands (a region
# code: GB, US, DE): "07700 900123" then finds a channel kept as +44 7700 900123.
# Empty: a number is compared as written, or in its international form.
PHONE_REGION = os.environ.get("PHONE_REGION", "").strip().upper()
if PHONE_REGION and PHONE_REGION not in phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(
        f"PHONE_REGION must be a region code such as GB, US or DE, got {PHONE_REGION!r}")
# The console's own desk (agents in no team) has no Team row: its spike alert
# fires when this many privileged people's cases open for it within an hour
# (0: off). Teams keep their own number (Team.privileged_per_hour).
RECOVERY_DESK_PRIVILEGED_PER_HOUR = env_int("RECOVERY_DESK_PRIVILEGED_PER_HOUR", 3)
# Self-service requests per client address and window: beyond, the same
# page is shown and nothing is opened (the refusal is audited).
RECOVERY_SELF_SERVICE_MAX_PER_ADDRESS = env_int("RECOVERY_SELF_SERVICE_MAX_PER_ADDRESS", 10)
RECOVERY_SELF_SERVICE_WINDOW_SECONDS = env_int("RECOVERY_SELF_SERVICE_WINDOW_SECONDS", 60 * 60)

# --- The built-in OpenID Connect provider (recovery_console.oidc) -------------
# Applications registered in the admin sign people in through the portal's
# passkey sign-in: authorization code with PKCE (S256) only, exact redirect
# URIs, ID tokens signed RS256. The signing key comes from the environment
# (production refuses to start without it); keys rotated away from stay
# published in the JWKS (OIDC_RSA_PRIVATE_KEYS_INACTIVE: PEM blocks). On a
# developer's machine a key is made under var/ the first time. See
# docs/restore-targets.md.

from recovery_console.oidc.keys import development_key, pem_blocks  # noqa: E402

OIDC_RSA_PRIVATE_KEY = os.environ.get("OIDC_RSA_PRIVATE_KEY", "").replace("\\n", "\n").strip()
if not OIDC_RSA_PRIVATE_KEY and DEBUG:
    OIDC_RSA_PRIVATE_KEY = development_key(VAR_DIR / "oidc-signing-key.pem")
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": f"{SITE_URL}/oidc",
    "OIDC_RSA_PRIVATE_KEY": OIDC_RSA_PRIVATE_KEY,
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": pem_blocks(
        os.environ.get("OIDC_RSA_PRIVATE_KEYS_INACTIVE", "")),
    "OAUTH2_VALIDATOR_CLASS": "recovery_console.oidc.validators.ProviderValidator",
    "SCOPES": {"openid": "Sign you in", "profile": "Your name",
               "email": "Your email address"},
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    # (The "nosec B105" below: flags named after tokens and passwords, not secrets.)
    # RFC 9700: implicit and password grants and "plain" PKCE are refused even for an
    # application registered for them; the authorization response names its issuer.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,  # nosec B105
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # nosec B105
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,  # nosec B105
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,  # nosec B105
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # nosec B105
    # A code lives a minute; an access token (for userinfo) and an ID token an hour.
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OIDC_ACCESS_TOKEN_SECONDS", 3600),
    "ID_TOKEN_EXPIRE_SECONDS": env_int("OIDC_ID_TOKEN_SECONDS", 3600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("OIDC_REFRESH_TOKEN_SECONDS", 8 * 3600),
}
# Named so that recovery_console.oidc's models may point at django-oauth-toolkit's grants.
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
# The demo relying party (manage.py demo_relying_party, `make run` only).
DEMO_RELYING_PARTY_PORT = env_int("DEMO_RELYING_PARTY_PORT", 8001)

# --- Operations --------------------------------------------------------------

# Bearer token a Prometheus scraper sends for /metrics; empty: /metrics is 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# /readyz: how long each probe of the broker may take, and how old beat's
# heartbeat (written every minute) may be before the console is not ready.
READYZ_TIMEOUT_SECONDS = env_int("READYZ_TIMEOUT_SECONDS", 2)
BEAT_HEARTBEAT_MAX_AGE_SECONDS = env_int("BEAT_HEARTBEAT_MAX_AGE_SECONDS", 180)
METRICS_TIME_TO_VERIFY_WINDOW_SECONDS = env_int(
    "METRICS_TIME_TO_VERIFY_WINDOW_SECONDS", 7 * 24 * 60 * 60)
# A host running Celery workers but no gunicorn: the worker serves its
# processes' metrics itself on this port (0: not served; see docs/operations.md).
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0)
WORKER_METRICS_ADDRESS = os.environ.get("WORKER_METRICS_ADDRESS", "127.0.0.1")
# Probes and scrapers talk plain HTTP to each instance, behind the TLS proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Restore targets (recovery_console.restore) ----------------------------------

# Each call to an identity provider gives up after this many seconds.
RESTORE_HTTP_TIMEOUT = env_int("RESTORE_HTTP_TIMEOUT", 10)
# A hand-off tries this many times (throttled, provider error, timeout) before
# the case goes back to the agent with the reason; waits double from the base,
# or follow the provider's Retry-After when it is longer.
RESTORE_MAX_TRIES = env_int("RESTORE_MAX_TRIES", 5)
RESTORE_BACKOFF_SECONDS = env_int("RESTORE_BACKOFF_SECONDS", 30)
# A worker calling a provider holds the attempt this long; past it, another
# may take over (and checks the provider before creating anything).
RESTORE_LEASE_SECONDS = env_int("RESTORE_LEASE_SECONDS", 120)
CELERY_BEAT_SCHEDULE["requeue-stalled-restores"] = {
    "task": "recovery_console.tasks.requeue_stalled_restores",
    "schedule": 60.0,
}

# Sign-in events in (recovery_console.signin_events, docs/sign-in-events.md):
# a signed request older or newer than the tolerance is refused, its nonce is
# kept twice as long (a future timestamp inside the window stays replayable
# until it has passed), and a body above the limit is refused unread.
SIGNIN_EVENTS_TOLERANCE_SECONDS = 5 * 60
SIGNIN_EVENTS_MAX_BODY_BYTES = 64 * 1024
CELERY_BEAT_SCHEDULE["prune-signin-event-nonces"] = {
    "task": "recovery_console.signin_events.tasks.prune_nonces",
    "schedule": 10 * 60.0,
}
