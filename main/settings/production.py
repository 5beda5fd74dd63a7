"""Production: refuses to start without its secrets and its real services."""

from django.core.exceptions import ImproperlyConfigured

from main.env import BASE_DIR, env_bool, env_int, env_required, env_str
from main.logs import log_format, with_log_format
from main.settings.base import *  # noqa: F403
from main.settings.base import LOGGING

DEBUG = False
SECRET_KEY = env_required("SECRET_KEY")
env_required("DATABASE_URL")  # read in base; here only its presence is enforced
env_required("REDIS_URL")

# Login codes must go to phones, never to the logs. The one exception is an explicit
# local run of the production topology on this machine (`make up`, `make smoke`):
# LOCAL_RUN=true lets the console or file backend through, and only while
# ALLOWED_HOSTS names this machine alone, so a server never serves with it.
LOCAL_RUN = env_bool("LOCAL_RUN", default=False)
SMS_BACKEND = env_required("SMS_BACKEND")
_LOCAL_SMS_BACKENDS = ("users.sms.ConsoleBackend", "users.sms.FileBackend")
if SMS_BACKEND == "users.sms.LocMemBackend" or (
    SMS_BACKEND in _LOCAL_SMS_BACKENDS and not LOCAL_RUN
):
    raise ImproperlyConfigured(
        f"SMS_BACKEND={SMS_BACKEND} is for development and tests only "
        "(the console and file backends also for LOCAL_RUN=true, never on a server)."
    )
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}
if LOCAL_RUN and not set(ALLOWED_HOSTS) <= _LOOPBACK_HOSTS:
    raise ImproperlyConfigured(
        "LOCAL_RUN=true is for this machine only: ALLOWED_HOSTS must name nothing but "
        f"{', '.join(sorted(_LOOPBACK_HOSTS))} (got {', '.join(ALLOWED_HOSTS)})."
    )
# …and the processes must listen on loopback only (a Host header is the client's to choose).
if LOCAL_RUN and env_str("BIND_HOST", "0.0.0.0") not in ("127.0.0.1", "::1", "localhost"):  # noqa: S104
    raise ImproperlyConfigured("LOCAL_RUN=true needs BIND_HOST=127.0.0.1: loopback only.")

# Card payments need every Stripe secret; a market offering `card` without them is a mistake.
if any("card" in methods for methods in PAYMENT_METHODS.values()):
    _missing = [
        name
        for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
        if not env_str(name)
    ]
    if _missing:
        raise ImproperlyConfigured(
            f"PAYMENT_METHODS offers card but {', '.join(_missing)} is not set "
            "(or remove card from PAYMENT_METHODS_KG / PAYMENT_METHODS_US)."
        )

# Card data never crosses plain HTTP: the fake Stripe of development is refused here.
if not env_str("STRIPE_API_BASE", "https://api.stripe.com").startswith("https://"):
    raise ImproperlyConfigured("STRIPE_API_BASE must be an https:// address in production.")

# TLS ends at the proxy, which tells us the original scheme.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

STATIC_ROOT = env_str("STATIC_ROOT") or str(BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# One JSON object per log line, for the log collector (docs/OBSERVABILITY.md);
# LOG_FORMAT=plain to read a server's logs by eye.
LOG_FORMAT = log_format(env_str("LOG_FORMAT", "json"))
LOGGING = with_log_format(LOGGING, LOG_FORMAT)
