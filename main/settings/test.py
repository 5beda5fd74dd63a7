"""Tests: real PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, else SQLite + local memory.

Celery always runs eagerly here; a test that needs a real worker says so itself.
"""

import os

from main.logs import with_log_format
from main.settings.base import *  # noqa: F403
from main.settings.base import CHANNEL_LAYERS, LOGGING, REDIS_CACHE_OPTIONS, REDIS_URL

DEBUG = False
# Readable, cheap log lines in test output, whatever LOG_FORMAT a .env sets.
LOG_FORMAT = "plain"
LOGGING = with_log_format(LOGGING, LOG_FORMAT)
SECRET_KEY = "test-only-secret-key-that-is-long-enough-for-hmac-signing-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

if REDIS_URL:
    # Parallel test processes each get their own Redis database, so that one
    # process clearing its cache never wipes another's throttle counters.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    db_number = 1 + (int(worker) if worker.isdigit() else 0) % 15
    base_url = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL
    CACHES = {
        "default": {
            "BACKEND": "main.cache.RedisCache",
            "LOCATION": f"{base_url}/{db_number}",
            "KEY_PREFIX": "marque-test",
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
    # …and its own channel-layer prefix: one process's groups never reach another's sockets.
    CHANNEL_LAYERS = {
        "default": {
            **CHANNEL_LAYERS["default"],
            "CONFIG": {
                **CHANNEL_LAYERS["default"]["CONFIG"],
                "hosts": [{"address": f"{base_url}/{db_number}", "socket_connect_timeout": 1}],
                "prefix": f"marque-test:rt:{worker}",
            },
        }
    }

# One database for the suite, even when DATABASE_REPLICA_URL is set: `replica` is Django's
# test mirror of the test database and nothing reads it until a routing test turns
# DATABASE_REPLICA_READS on and declares databases=["default", "replica"]
# (main/tests/test_db_router.py; test_replica_live.py points it at a real standby).
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DATABASE_REPLICA_READS = False

SMS_BACKEND = "users.sms.LocMemBackend"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Card payments only where a test starts the fake Stripe server (the `fake_stripe` fixture).
STRIPE_SECRET_KEY = ""
STRIPE_PUBLISHABLE_KEY = ""
STRIPE_WEBHOOK_SECRET = ""
STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: nothing reaches the internet
STRIPE_TIMEOUT_SECONDS = 2
STRIPE_MAX_NETWORK_RETRIES = 0

DEMO_SEED_ALLOWED = True
