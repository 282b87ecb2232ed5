"""Settings, all read from the environment (django-environ).

Embedded default: SQLite under ``DATA_DIR`` and Celery in eager mode (no broker), so one command runs the
back-office on a fresh machine. Production: ``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL`` (Redis),
``DJANGO_DEBUG=false`` and the secrets below, which are then required.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# The `.env` that bin/demo writes, for `manage.py` in this checkout. DJANGO_ENV_FILE names another file, or
# none when empty (the tests do that, so a developer's `.env` never changes what they run against).
ENV_FILE = env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).exists():
    environ.Env.read_env(ENV_FILE)

# Off unless asked for: a deploy that forgets a variable fails closed. bin/demo and bin/test turn it on.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))

_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false.")

# Fernet keys (url-safe base64, 32 bytes) for marketplace credentials; the first encrypts, all decrypt
# (key rotation). Generate one with:
#   python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
CREDENTIALS_ENCRYPTION_KEYS = env.list("CREDENTIALS_ENCRYPTION_KEYS", default=[])
if not CREDENTIALS_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured("CREDENTIALS_ENCRYPTION_KEYS must be set when DJANGO_DEBUG is false.")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "cancellations",
    "cancellations.sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'backoffice.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "backoffice.sqlite3"  # knows SQLite's real variable limit
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several threads (runserver, the sandbox, the sweeper) share the file: wait for locks, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    # Parameters sent apart from the SQL (psycopg quotes none of them in Python) and statements a connection runs
    # often prepared once: a fifth less CPU per cancel call. Behind PgBouncer in transaction mode (before 1.21,
    # or without max_prepared_statements) set it to false.
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = env.bool("DB_SERVER_SIDE_BINDING",
                                                                                    default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
FORMAT_MODULE_PATH = ["backoffice.formats"]  # one date format: 2026-11-29 21:28:43
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "admin:login"
# Error pages and reports never show a secret, DEBUG or not (see cancellations/error_reports.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "cancellations.error_reports.SecretSafeExceptionReporterFilter"

# --- Security (production) ---
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["cancellations.api.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Marketplace back-office API",
    "DESCRIPTION": "Marketplace accounts, orders and order-line cancellations (Walmart CA, Mirakl).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
EMBEDDED_MODE = not CELERY_BROKER_URL
if EMBEDDED_MODE:
    # Tasks run eagerly; Celery still prepares a producer, which needs some transport: kombu's in-memory one.
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = EMBEDDED_MODE
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# The outbox is I/O-bound (each task waits on one marketplace round trip) and every task is idempotent (a call is
# claimed under a row lock; a second run finds it claimed and skips), so: acknowledge after the task ran (a
# worker lost mid-send gets its message redelivered), and take one message at a time per worker slot so a long
# send never holds others back. Run workers with many threads: `celery -A backoffice worker --pool threads
# --concurrency 16` (see the Procfile); each thread keeps its own database connection (CONN_MAX_AGE).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Embedded default: background tasks run on this many threads of the web process (0: inline, in the caller).
EMBEDDED_POOL_THREADS = env.int("EMBEDDED_POOL_THREADS", default=4)
# At exit, a command waits at most this long for the work it enqueued (what is left, the sweeper completes).
EMBEDDED_POOL_EXIT_WAIT_SECONDS = env.float("EMBEDDED_POOL_EXIT_WAIT_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-cancellations": {
        "task": "cancellations.tasks.cancellations_sweep_task",
        "schedule": env.float("SWEEP_INTERVAL_SECONDS", default=30.0),
    },
    "sync-orders": {
        "task": "cancellations.tasks.orders_sync_all_task",
        "schedule": env.float("ORDER_SYNC_INTERVAL_SECONDS", default=900.0),
    },
    "blank-old-call-bodies": {
        "task": "cancellations.tasks.call_bodies_blank_task",
        "schedule": 24 * 3600.0,
    },
    "deliver-webhooks-and-alerts": {
        "task": "cancellations.tasks.outbound_sweep_task",
        "schedule": env.float("WEBHOOK_SWEEP_INTERVAL_SECONDS", default=30.0),
    },
}
# Webhook deliveries run on their own queue, so a slow endpoint never holds up a cancellation worker
# (run `celery -A backoffice worker -Q webhooks`, see the Procfile).
WEBHOOK_QUEUE = env.str("WEBHOOK_QUEUE", default="webhooks")
CELERY_TASK_ROUTES = {
    "cancellations.tasks.webhook_delivery_task": {"queue": WEBHOOK_QUEUE},
    "cancellations.tasks.outbound_sweep_task": {"queue": WEBHOOK_QUEUE},
}

# --- Marketplaces ---
# The one list of marketplaces: each entry is a package's declarative spec (cancellations/marketplaces/spec.py).
# Model choices, the admin and API account forms, the sandbox and the demo all read it.
MARKETPLACES = [
    "cancellations.marketplaces.walmart_ca.spec.SPEC",
    "cancellations.marketplaces.walmart_us.spec.SPEC",
    "cancellations.marketplaces.mirakl.spec.SPEC",
]
# Replace a marketplace's backend class (its key -> a dotted path), e.g. with an in-process test backend.
MARKETPLACE_BACKENDS: dict[str, str] = {}
# (connect, read) seconds for every marketplace HTTP call.
MARKETPLACE_HTTP_TIMEOUT = (
    env.float("MARKETPLACE_CONNECT_TIMEOUT", default=5.0),
    env.float("MARKETPLACE_READ_TIMEOUT", default=30.0),
)
# Pace of sends per account (cancellations/pacing.py), overridable on each account: at most this many in flight
# at once over all workers; the state is shared through Redis when the broker is Redis, else kept in process.
MARKETPLACE_MAX_CONCURRENT_SENDS = env.int("MARKETPLACE_MAX_CONCURRENT_SENDS", default=16)
MARKETPLACE_PACE_REDIS_URL = env.str(
    "MARKETPLACE_PACE_REDIS_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")
# Days marketplace call bodies (customer names, addresses, phones) are kept; then blanked, metadata kept.
CALL_BODY_RETENTION_DAYS = env.int("CALL_BODY_RETENTION_DAYS", default=90)
# Before a cancel, an order last read from the marketplace longer ago than this is read again, so a read-back
# compares with a fresh baseline (a sync or a read just before counts; fresh data costs no extra read).
CANCELLATION_BASELINE_MAX_AGE_SECONDS = env.float("CANCELLATION_BASELINE_MAX_AGE_SECONDS", default=120.0)
CANCELLATION_MAX_ATTEMPTS = env.int("CANCELLATION_MAX_ATTEMPTS", default=5)
CANCELLATION_RETRY_BASE_SECONDS = env.float("CANCELLATION_RETRY_BASE_SECONDS", default=30.0)
CANCELLATION_RETRY_MAX_SECONDS = env.float("CANCELLATION_RETRY_MAX_SECONDS", default=3600.0)
# After a timeout or 5xx, wait this long before reading the order back (the marketplace may still be working).
CANCELLATION_VERIFY_DELAY_SECONDS = env.float("CANCELLATION_VERIFY_DELAY_SECONDS", default=15.0)
# A call claimed longer ago than this without an answer is treated as an unknown outcome and verified.
CANCELLATION_STALE_SENDING_SECONDS = env.int("CANCELLATION_STALE_SENDING_SECONDS", default=300)
# A dispatch message published for a queued call and still not run this long after it was due is taken as lost
# (the sweep publishes it again); shorter would publish a long queue's messages again and again.
CALL_REDISPATCH_AFTER_SECONDS = env.int("CALL_REDISPATCH_AFTER_SECONDS", default=300)

# --- Events, webhooks, alerts ---
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=30)
# First retry of a failed webhook delivery after this, doubling, for up to WEBHOOK_RETRY_WINDOW_SECONDS.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=60.0)
WEBHOOK_RETRY_WINDOW_SECONDS = env.int("WEBHOOK_RETRY_WINDOW_SECONDS", default=3 * 24 * 3600)
WEBHOOK_HTTP_TIMEOUT = (
    env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0),
    env.float("WEBHOOK_READ_TIMEOUT", default=10.0),
)
# Endpoints delivered to side by side in one sweep (each endpoint's deliveries in order, on one connection).
WEBHOOK_SWEEP_THREADS = env.int("WEBHOOK_SWEEP_THREADS", default=4)
# Alert digests: one email per ALERT_DIGEST_SECONDS at most, to ALERT_EMAILS (none: no alerts recorded).
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
ALERT_DIGEST_SECONDS = env.int("ALERT_DIGEST_SECONDS", default=300)
# EMAIL_URL: e.g. smtp+tls://user:password@smtp.example.com:587; the console in development.
vars().update(env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="backoffice@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Hosts marketplace calls may go to (fnmatch patterns; "*" allows any public host). Default: the hosts the
# marketplaces document. Add your Mirakl operator's own domain (README: Where marketplace calls may go).
MARKETPLACE_ALLOWED_HOSTS = env.list("MARKETPLACE_ALLOWED_HOSTS", default=[
    "marketplace.walmartapis.com", "sandbox.walmartapis.com", "*.mirakl.net", "marketplace.bestbuy.ca",
    "marketplace.catch.com.au",
])

# The built-in marketplace emulator. On by default only in DEBUG; never mounted otherwise unless asked.
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
# Sandbox knobs (cancellations/sandbox/endpoint.py; a sandbox seller's options override them): hold every answer
# back this many ms (a network round trip), and answer 429 + Retry-After above this many calls/s per seller.
SANDBOX_LATENCY_MS = env.float("SANDBOX_LATENCY_MS", default=0)
SANDBOX_RATE_LIMIT_PER_SECOND = env.float("SANDBOX_RATE_LIMIT_PER_SECOND", default=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"sandbox_answers": {"()": "backoffice.logfilters.SandboxAnswers"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"level": "INFO"},  # no handler of its own: each line once, through the root's handler
        "django.db.backends": {"level": "WARNING"},
        # A sandbox fault is a deliberate answer, not a server error (see the filter).
        "django.request": {"filters": ["sandbox_answers"]},
        # Not one "Task ... succeeded" line per call in the CLI and demo output; failures still log.
        "celery.app.trace": {"level": "WARNING"},
    },
}
