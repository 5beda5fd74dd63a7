"""Settings shared by every environment. Values come from `main.env` only."""

from __future__ import annotations

from datetime import timedelta

import dj_database_url
import orjson
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from main.env import BASE_DIR, env_bool, env_decimal, env_int, env_list, env_str
from main.logs import log_format
from main.sentry import init_sentry

# --- Core -------------------------------------------------------------------

SECRET_KEY = env_str("SECRET_KEY")
DEBUG = env_bool("DEBUG", default=False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # First: its `runserver` serves ASGI (HTTP and WebSocket) for `make run`.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    # Third party
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "corsheaders",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    # Celery tasks log with the request id of the request that queued them (main/logs.py).
    "django_structlog",
    # MARQUE
    "outbox",
    "users",
    "products",
    "orders",
    "reviews",
    "banners",
    "store_manager",
    "realtime",
    "demo",
]

MIDDLEWARE = [
    # Outermost: every response carries X-Request-ID, errors of the middleware below
    # included, and every request gets one access log line (main/request_id.py).
    "main.request_id.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Early: counts every request by route and status, its latency and database time.
    "main.metrics.MetricsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Before anything reads a body (sessions, CSRF, DRF parsers), after CORS so a
    # browser can read the 413: oversized bodies are refused by Content-Length.
    "main.body_limits.BodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After a signed-in user's write, their reads skip the replica for a while (docs/REPLICA.md).
    "main.db_router.ReplicaPinMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A plain Django view (admin, health) that cannot reach the database answers 503.
    "main.exceptions.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: locks out repeated failed admin logins.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "main.urls"
WSGI_APPLICATION = "main.wsgi.application"
ASGI_APPLICATION = "main.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project templates first: they override third-party ones (offline ReDoc).
        "DIRS": [BASE_DIR / "main" / "templates"],
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

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Database ---------------------------------------------------------------
# DATABASE_URL unset → a SQLite file next to manage.py (the zero-setup default).

DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent PostgreSQL connections, checked before reuse.
        conn_max_age=env_int("CONN_MAX_AGE", 60) if DATABASE_URL else 0,
        conn_health_checks=bool(DATABASE_URL),
    )
}
# A streaming replica of it (docs/REPLICA.md). Only the views that declare it read there
# (catalogue, manager analytics and export), and not right after a write; never migrated.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    if DATABASES["replica"]["ENGINE"] == "django.db.backends.postgresql":
        # A replica that is down costs seconds once per RETRY_AFTER_SECONDS, then reads
        # go to the primary (main/db_router.py); `?connect_timeout=` in the URL overrides.
        DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
DATABASE_ROUTERS = ["main.db_router.ReplicaRouter"]
# False: nothing is routed to the replica (the test settings, until a routing test says so).
DATABASE_REPLICA_READS = True
# After a non-safe request, the user's reads stay on the primary this long (read-your-writes).
DATABASE_REPLICA_PIN_SECONDS = env_int("DATABASE_REPLICA_PIN_SECONDS", 10)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker --------------------------------------------
# REDIS_URL unset → local-memory cache and eager Celery (development only).

REDIS_URL = env_str("REDIS_URL")
# A Redis that hangs must not hang requests: the cache is an accelerator, and every
# caller falls back (catalogue from the database) or answers 503 (OTP) when it fails.
REDIS_CACHE_OPTIONS = {
    "socket_connect_timeout": env_int("REDIS_CONNECT_TIMEOUT_MS", 500) / 1000,
    "socket_timeout": env_int("REDIS_SOCKET_TIMEOUT_MS", 1000) / 1000,
}
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, with one client per pool (main/cache.py).
            "BACKEND": "main.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "marque",
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Real-time (SPEC §9, docs/REALTIME.md) ----------------------------------------
# With Redis, events reach sockets held by any ASGI process; without it (make run,
# SQLite tests), the in-memory layer serves the one process that holds them all.
# Redis holds at most REALTIME_LAYER_CAPACITY undelivered messages per ASGI process
# (one group send is one message, however many of its sockets it reaches) for
# REALTIME_FRAME_TTL seconds; each socket buffers as many. Beyond that frames are
# dropped: delivery is at most once, and a slow client never holds back another.
REALTIME_LAYER_CAPACITY = 1000
REALTIME_FRAME_TTL = 30
# Every open socket reads its access again this often, even if no change reached it
# (a lost recheck, a logout), and closes (4401: take a new ticket) after this long.
REALTIME_RECHECK_SECONDS = env_int("REALTIME_RECHECK_SECONDS", 300)
REALTIME_SOCKET_MAX_SECONDS = env_int("REALTIME_SOCKET_MAX_SECONDS", 3600)
# A client sends pings only: more than this many frames in 10 seconds closes it (1008).
REALTIME_CLIENT_FRAMES_PER_10S = 20
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A connect timeout only: a socket's receive blocks in Redis for 5 s by design.
                "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 1}],
                "prefix": "marque:rt",
                "capacity": REALTIME_LAYER_CAPACITY,
                "expiry": REALTIME_FRAME_TTL,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": REALTIME_LAYER_CAPACITY, "expiry": REALTIME_FRAME_TTL},
        }
    }

# The broker may be a Redis of its own (CELERY_BROKER_URL), so the queue and the
# cache fail, fill and scale apart; by default it is REDIS_URL.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Long jobs (snapshot rebuilds, reports) are acknowledged only once done, so a worker
# killed mid-task hands it to another worker; every task is idempotent, so a rerun is safe.
CELERY_TASK_ACKS_LATE = True
# …and with acks_late a worker reserves one task at a time, not a batch it may never run.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task past the soft limit gets SoftTimeLimitExceeded (its transaction rolls back);
# the hard limit kills the child process.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
# With acks_late a task survives its worker only if Redis redelivers it: after this
# long unacknowledged. It follows the hard limit (no task still running is redelivered)
# plus a minute, so a task on a killed worker comes back in minutes, not in an hour.
# No countdown/ETA may exceed it either, or Redis hands the waiting task out twice.
CELERY_VISIBILITY_TIMEOUT = CELERY_TASK_TIME_LIMIT + 60
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Publishing with the broker down fails after one quick retry instead of blocking
    # the request for seconds; the outbox relay sends the message later.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
    # …and a broker that accepts the connection but never answers (paused, overloaded,
    # cut off) fails after seconds too, instead of holding the request forever. Above
    # the worker's 1 s poll, so an idle worker is not disconnected.
    "socket_connect_timeout": env_int("CELERY_BROKER_SOCKET_TIMEOUT", 3),
    "socket_timeout": env_int("CELERY_BROKER_SOCKET_TIMEOUT", 3),
}
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_CONNECTION_TIMEOUT", 2)
# Queues (docs/OPERATIONS.md): work a person waits for never queues behind analytics.
# Every project task is routed by name below (a test checks none is left out, and
# that the Procfile's worker consumes every queue); the outbox relay sends by name,
# so its messages take the same routes. One worker may consume them all (Procfile),
# or a worker per queue scales them apart: `celery -A main worker -Q analytics`.
CELERY_TASK_DEFAULT_QUEUE = "default"
WORKER_QUEUES = ("realtime", "notifications", "payments", "analytics", "default")
CELERY_TASK_ROUTES = {
    # Frames for open sockets: latency is the point (docs/REALTIME.md).
    **{
        f"realtime.tasks.{name}": {"queue": "realtime"}
        for name in (
            "push_order_created",
            "push_order_status_changed",
            "push_return_status_changed",
            "push_notification_created",
            "push_manager_notifications",
            "push_stock_low",
            "push_report_ready",
            "recheck_sockets",
        )
    },
    # Messages to people: sign-in codes, order, payment and return notifications.
    "users.tasks.send_sms_task": {"queue": "notifications"},
    "orders.tasks.notify_order_created": {"queue": "notifications"},
    "orders.tasks.notify_order_status_changed": {"queue": "notifications"},
    "orders.tasks.notify_payment_refunded": {"queue": "notifications"},
    "orders.tasks.notify_return_status_changed": {"queue": "notifications"},
    "store_manager.tasks.notify_managers_of_new_order": {"queue": "notifications"},
    "store_manager.tasks.notify_managers_of_cancellation": {"queue": "notifications"},
    # Money: unpaid holds expire, overdue webhooks are read from the provider.
    "orders.tasks.expire_unpaid_card_orders": {"queue": "payments"},
    "orders.tasks.reconcile_payments": {"queue": "payments"},
    # Analytics: snapshots and reports, the heavy and patient work.
    "store_manager.tasks.recompute_order_periods": {"queue": "analytics"},
    "store_manager.tasks.snapshot_last_hour": {"queue": "analytics"},
    "store_manager.tasks.snapshot_after_midnight": {"queue": "analytics"},
    "store_manager.tasks.send_daily_report": {"queue": "analytics"},
    # The product's fit summary counts size returns (patient, like the figures above).
    "reviews.tasks.refresh_fit_from_returns": {"queue": "analytics"},
    # Housekeeping: the outbox relay and the nightly clean-ups.
    "outbox.tasks.relay_outbox": {"queue": "default"},
    "outbox.tasks.delete_completed_outbox_messages": {"queue": "default"},
    "users.tasks.flush_expired_tokens": {"queue": "default"},
    "users.tasks.delete_expired_verification_codes": {"queue": "default"},
    "orders.tasks.delete_expired_idempotency_keys": {"queue": "default"},
    # Catalogue image renditions after an upload (docs/IMAGES.md).
    "products.tasks.render_product_image": {"queue": "default"},
    "products.tasks.render_gallery_image": {"queue": "default"},
}
# The transactional outbox (outbox app): beat's relay sends every minute what the
# broker could not take at commit time (older than the grace period) and what it
# took but never ran (a Redis restarted empty: not completed after the redelivery
# delay), batch by batch for at most OUTBOX_RELAY_SECONDS per run.
OUTBOX_RELAY_GRACE_SECONDS = env_int("OUTBOX_RELAY_GRACE_SECONDS", 10)
OUTBOX_REDELIVER_AFTER_SECONDS = env_int("OUTBOX_REDELIVER_AFTER_SECONDS", 300)
OUTBOX_MAX_DELIVERIES = env_int("OUTBOX_MAX_DELIVERIES", 5)
OUTBOX_RELAY_BATCH = env_int("OUTBOX_RELAY_BATCH", 500)
OUTBOX_RELAY_SECONDS = env_int("OUTBOX_RELAY_SECONDS", 45)
OUTBOX_KEEP_DAYS = env_int("OUTBOX_KEEP_DAYS", 7)
# Days of daily snapshots (and the weeks and months overlapping them) that each
# market's after-midnight run recomputes, so a lost order recompute heals overnight.
SNAPSHOT_RECONCILE_DAYS = env_int("SNAPSHOT_RECONCILE_DAYS", 35)
# Scheduled jobs are added here by the issues that bring them, one comment each.
CELERY_BEAT_SCHEDULE: dict = {
    # Every minute: relay outbox messages the broker could not take at commit time.
    "relay-outbox": {
        "task": "outbox.tasks.relay_outbox",
        "schedule": 60.0,
    },
    # Daily: forget outbox messages completed more than OUTBOX_KEEP_DAYS ago.
    "delete-completed-outbox-messages": {
        "task": "outbox.tasks.delete_completed_outbox_messages",
        "schedule": crontab(hour=3, minute=40),
    },
    # Daily: drop expired JWT outstanding/blacklist rows (simplejwt's flushexpiredtokens).
    "flush-expired-jwt": {
        "task": "users.tasks.flush_expired_tokens",
        "schedule": crontab(hour=3, minute=10),
    },
    # Daily: delete one-time SMS codes older than the 24 h failure window.
    "delete-expired-verification-codes": {
        "task": "users.tasks.delete_expired_verification_codes",
        "schedule": crontab(hour=3, minute=20),
    },
    # Daily: delete checkout Idempotency-Key rows older than IDEMPOTENCY_KEY_TTL_HOURS.
    "delete-expired-idempotency-keys": {
        "task": "orders.tasks.delete_expired_idempotency_keys",
        "schedule": crontab(hour=3, minute=30),
    },
    # Every minute: unpaid card orders past their hold are cancelled (stock returns).
    "expire-unpaid-card-orders": {
        "task": "orders.tasks.expire_unpaid_card_orders",
        "schedule": 60.0,
    },
    # Every 10 minutes: payments whose webhook is overdue are fetched from the provider.
    "reconcile-payments": {
        "task": "orders.tasks.reconcile_payments",
        "schedule": crontab(minute="*/10"),
    },
    # Hourly, 5 past: the last closed hour of both markets (their UTC offsets are
    # whole hours, so a UTC hour is a local hour everywhere).
    "revenue-snapshot-last-hour": {
        "task": "store_manager.tasks.snapshot_last_hour",
        "schedule": crontab(minute=5),
    },
    # 18:15 UTC = 00:15 in Bishkek (UTC+6, no DST): close KG's day/week/month and
    # recompute the last SNAPSHOT_RECONCILE_DAYS days, then build and queue its report
    # (and any report of the last 7 days never delivered).
    "revenue-close-day-kg": {
        "task": "store_manager.tasks.snapshot_after_midnight",
        "schedule": crontab(hour=18, minute=15),
        "args": ("KG",),
    },
    # 05:15 UTC = 00:15 EST / 01:15 EDT in New York: after midnight in winter and in
    # summer. The same for US.
    "revenue-close-day-us": {
        "task": "store_manager.tasks.snapshot_after_midnight",
        "schedule": crontab(hour=5, minute=15),
        "args": ("US",),
    },
}

# --- Internationalisation -----------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский"), ("ky", "Кыргызча")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------

STATIC_URL = "static/"
# collectstatic target; development and tests serve straight from the apps (finders).
STATIC_ROOT = env_str("STATIC_ROOT") or None
MEDIA_URL = "media/"
MEDIA_ROOT = env_str("MEDIA_ROOT") or str(BASE_DIR / "media")
# Uploaded media (product, banner and review images and their renditions, docs/IMAGES.md):
# local files under MEDIA_ROOT, or S3-compatible object storage (django-storages) with
# STORAGE_BACKEND=s3. An S3 endpoint other than AWS (MinIO, R2, …) is AWS_S3_ENDPOINT_URL;
# AWS_S3_CUSTOM_DOMAIN (a CDN in front of the bucket) serves public URLs without signing.
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local").lower()
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID") or None
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
AWS_S3_CUSTOM_DOMAIN = env_str("AWS_S3_CUSTOM_DOMAIN") or None
# Signed, expiring URLs for a private bucket; off for a public bucket or a custom domain.
AWS_QUERYSTRING_AUTH = env_bool("AWS_QUERYSTRING_AUTH", default=not AWS_S3_CUSTOM_DOMAIN)
if STORAGE_BACKEND not in ("local", "s3"):
    raise ImproperlyConfigured("STORAGE_BACKEND must be local or s3.")
if STORAGE_BACKEND == "s3" and not AWS_STORAGE_BUCKET_NAME:
    raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME.")
MEDIA_STORAGE = (
    {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "region_name": AWS_S3_REGION_NAME,
            "custom_domain": AWS_S3_CUSTOM_DOMAIN,
            "querystring_auth": AWS_QUERYSTRING_AUTH,
            "file_overwrite": False,  # uploads never replace each other; renditions delete first
            "object_parameters": {"CacheControl": "public, max-age=31536000"},
        },
    }
    if STORAGE_BACKEND == "s3"
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
)
STORAGES = {
    "default": MEDIA_STORAGE,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Security -------------------------------------------------------------------

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
# Load balancers probe these, and Prometheus scrapes /metrics, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
X_FRAME_OPTIONS = "DENY"
# A JSON 403 `csrf_failed` instead of Django's HTML page (admin forms only: the API is JWT).
CSRF_FAILURE_VIEW = "main.exceptions.csrf_failure"

# --- Request bodies (main/body_limits.py) ------------------------------------------
# Refused with 413 `payload_too_large` from Content-Length, before anything reads them.
# JSON, forms and any other body:
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
# multipart/form-data (a review: up to 5 images of 5 MB, plus its text fields):
API_MAX_UPLOAD_BYTES = env_int("API_MAX_UPLOAD_BYTES", 30 * 1024 * 1024)
# Django's own checks (request.body, form and multipart text fields) use the same limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_HEADERS = (
    "accept",
    "accept-language",
    "authorization",
    "content-type",
    "idempotency-key",
    "origin",
    "user-agent",
    "x-market",
    "x-requested-with",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = ("retry-after", "etag", "x-request-id")

# --- Admin sign-in lockout (django-axes) -------------------------------------------

AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True

# --- SMS and one-time codes ---------------------------------------------------------
# SMS_BACKEND is a dotted path, like EMAIL_BACKEND: users.sms.ConsoleBackend
# (development default), users.sms.LocMemBackend (tests), users.sms.TwilioBackend.

SMS_BACKEND = env_str("SMS_BACKEND", "users.sms.ConsoleBackend")
# users.sms.FileBackend appends each message here as a JSON line (`make up`, `make smoke`).
SMS_FILE_PATH = env_str("SMS_FILE_PATH")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
# Sender per market: a KG alphanumeric sender id / number, a US number.
TWILIO_FROM_KG = env_str("TWILIO_FROM_KG")
TWILIO_FROM_US = env_str("TWILIO_FROM_US")

OTP_TTL_SECONDS = env_int("OTP_TTL_SECONDS", 300)
OTP_MAX_ATTEMPTS = 5  # wrong tries before a code is dead (otp_locked)
OTP_RESEND_COOLDOWN_SECONDS = 60  # one code per phone per minute
OTP_WINDOW_SECONDS = 600  # …and at most OTP_MAX_PER_WINDOW per 10 minutes
OTP_MAX_PER_WINDOW = 3
OTP_PHONE_FAILURE_LIMIT = 10  # failed verifications in 24 h before the phone is locked
OTP_PHONE_LOCK_SECONDS = env_int("OTP_PHONE_LOCK_SECONDS", 3600)

# --- Markets ---------------------------------------------------------------------

DEFAULT_MARKET = env_str("DEFAULT_MARKET", "KG").upper()
# A SKU with 0 < stock <= this shows `low_stock` to customers (never the number).
LOW_STOCK_THRESHOLD = env_int("LOW_STOCK_THRESHOLD", 5)
# Catalogue caching: server-side body cache lifetime and public Cache-Control max-age.
CATALOGUE_CACHE_SECONDS = env_int("CATALOGUE_CACHE_SECONDS", 60)
CATALOGUE_HTTP_MAX_AGE = env_int("CATALOGUE_HTTP_MAX_AGE", 60)
# Product-list totals, memoised per market and filter (every page and ordering shares one);
# keyed by the catalogue version like the bodies, so a change is seen at once.
CATALOGUE_COUNT_CACHE_SECONDS = env_int("CATALOGUE_COUNT_CACHE_SECONDS", 300)
# Most units of one SKU in a cart line (the database allows at most 99).
MAX_LINE_QTY = env_int("MAX_LINE_QTY", 10)

# --- E-mail (daily reports to managers) ------------------------------------------

# SMTP by default; local settings print e-mails to the console, tests keep them in memory.
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = 20  # seconds: a hung SMTP server must not hold a worker
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "MARQUE <reports@marque.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Orders ------------------------------------------------------------------------

# Shipping per market, in its currency: `cost`, or nothing once the subtotal reaches `free_from`.
SHIPPING = {
    "KG": {
        "cost": env_decimal("SHIPPING_COST_KG", "200.00"),
        "free_from": env_decimal("SHIPPING_FREE_FROM_KG", "5000.00"),
    },
    "US": {
        "cost": env_decimal("SHIPPING_COST_US", "9.99"),
        "free_from": env_decimal("SHIPPING_FREE_FROM_US", "100.00"),
    },
}
# How long an Idempotency-Key on checkout is remembered.
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24)
# Days after delivery a customer may ask for a return (SPEC §10, docs/RETURNS.md).
RETURN_WINDOW_DAYS = {
    "KG": env_int("RETURN_WINDOW_DAYS_KG", 14),
    "US": env_int("RETURN_WINDOW_DAYS_US", 30),
}

# --- Payments (SPEC §8, docs/PAYMENTS.md) ------------------------------------
# Methods each market offers; `card` is offered only while its provider has keys.
PAYMENT_METHODS = {
    "KG": env_list("PAYMENT_METHODS_KG", "cash_on_delivery"),
    "US": env_list("PAYMENT_METHODS_US", "card,cash_on_delivery"),
}
# Providers by name, and which one takes `card` in each market: a KG acquirer is one
# more entry here, checkout does not change.
PAYMENT_PROVIDERS = {
    "cash_on_delivery": "orders.payments.providers.CashOnDelivery",
    "stripe": "orders.payments.stripe_provider.StripeProvider",
}
PAYMENT_CARD_PROVIDER = {
    "KG": env_str("PAYMENT_CARD_PROVIDER_KG") or "stripe",
    "US": env_str("PAYMENT_CARD_PROVIDER_US") or "stripe",
}
# An unpaid card order holds its stock this long, then the beat task cancels it.
PAYMENT_HOLD_MINUTES = env_int("PAYMENT_HOLD_MINUTES", 30)
# A payment still waiting for the provider's webhook after this is fetched by reconciliation.
PAYMENT_RECONCILE_AFTER_MINUTES = env_int("PAYMENT_RECONCILE_AFTER_MINUTES", 10)
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 10)
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 2)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's own default: older signatures are replays
# New reviews wait for a moderator when on; otherwise they are published at once.
REVIEWS_REQUIRE_APPROVAL = env_bool("REVIEWS_REQUIRE_APPROVAL", default=False)
# Review images above this many pixels are refused from the header (a 12 MP phone photo passes).
REVIEW_IMAGE_MAX_PIXELS = env_int("REVIEW_IMAGE_MAX_PIXELS", 16_000_000)
# Stored review images are downscaled to at most this many pixels on the long side.
REVIEW_IMAGE_MAX_SIDE = env_int("REVIEW_IMAGE_MAX_SIDE", 2048)

# --- REST framework ---------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": (
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ),
    "DEFAULT_PERMISSION_CLASSES": ("rest_framework.permissions.IsAuthenticated",),
    # orjson, writing the bytes DRF's JSONRenderer wrote (main/renderers.py).
    "DEFAULT_RENDERER_CLASSES": ("main.renderers.JSONRenderer",),
    "ORJSON_RENDERER_OPTIONS": (orjson.OPT_UTC_Z,),
    # JSON only: an endpoint that takes uploads (reviews) names its own parsers, so a
    # client cannot send multipart to any other endpoint.
    "DEFAULT_PARSER_CLASSES": (
        "main.parsers.JSONParser",  # deep nesting is a 400 parse_error, not a 500
    ),
    "DEFAULT_PAGINATION_CLASS": "main.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ("django_filters.rest_framework.DjangoFilterBackend",),
    # Documents every error status and the headers each view reads (main/schema.py).
    "DEFAULT_SCHEMA_CLASS": "main.schema.AutoSchema",
    "EXCEPTION_HANDLER": "main.exceptions.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # How many proxies in front of the app append to X-Forwarded-For. 0: the
    # header is ignored and REMOTE_ADDR is the client (a client can't spoof it).
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    # Rates for the named throttles; counters live in the shared cache (Redis).
    "DEFAULT_THROTTLE_RATES": {
        "otp_ip": env_str("THROTTLE_OTP_IP", "20/hour"),
        "auth": env_str("THROTTLE_AUTH", "60/min"),
        # WebSocket tickets per user: a reconnecting client needs one per attempt.
        "realtime_ticket": "30/min",
    },
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MARQUE API",
    "DESCRIPTION": (
        "Backend of the MARQUE fashion store (markets KG and US). "
        'Every error has the shape {"code", "detail"} (+ "errors" for validation).'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Served from the sidecar package: the docs work with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No call to validator.swagger.io from the docs page, whatever host serves it.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "deepLinking": True},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two different "market" choice sets: customer markets and catalogue markets.
    "ENUM_NAME_OVERRIDES": {
        "MarketEnum": "main.markets.Market",
        "CatalogMarketEnum": "main.markets.CatalogMarket",
        "CurrencyEnum": "main.markets.Currency",
        "OrderStatusEnum": "orders.models.OrderStatus",
        "PaymentProviderEnum": "orders.models.PaymentProvider",
        "PaymentStateEnum": "orders.models.PaymentState",
        "RefundStatusEnum": "orders.models.RefundStatus",
        "RefundMethodEnum": "orders.models.RefundMethod",
        "ReturnStatusEnum": "orders.models.ReturnStatus",
        "SavedCardProviderEnum": "users.models.PaymentMethod.Provider",
    },
}

# --- Logging ---------------------------------------------------------------------------

# Every record, ours, Django's and Celery's, goes to stderr through structlog with the
# request id and user bound (main/logs.py, docs/OBSERVABILITY.md): one JSON object per
# line with LOG_FORMAT=json (production's default), readable lines with `plain`.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = log_format(env_str("LOG_FORMAT", "plain"))
LOGGING_CONFIG = "main.logs.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "main.logs.plain_formatter"},
        "json": {"()": "main.logs.json_formatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Through the root handler only (Django's default adds a console of its own).
        "django": {"handlers": [], "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
# The publishing side of django-structlog's Celery support: a task message carries the
# request id, user and market (the worker side is a boot step in main/celery.py).
DJANGO_STRUCTLOG_CELERY_ENABLED = True

# seed_demo creates a superuser with a documented password: never by accident in production.
DEMO_SEED_ALLOWED = False

# --- Metrics and error reports (docs/OBSERVABILITY.md) --------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404.
# Several processes share their metrics through PROMETHEUS_MULTIPROC_DIR, which
# prometheus_client reads from the environment itself (main/metrics.py).
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Sentry is on only with a DSN; phone numbers are scrubbed from every event (main/sentry.py).
SENTRY_DSN = env_str("SENTRY_DSN")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "production")
# Share of requests and tasks traced (0..1); 0 sends errors only.
SENTRY_TRACES_SAMPLE_RATE = float(env_decimal("SENTRY_TRACES_SAMPLE_RATE", "0"))
if SENTRY_DSN:
    init_sentry(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
