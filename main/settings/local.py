"""Development: the zero-setup default (`make run`)."""

from main.env import env_bool, env_str
from main.settings.base import *  # noqa: F403
from main.settings.base import REST_FRAMEWORK

DEBUG = env_bool("DEBUG", default=True)
# A fixed, clearly fake key so a newcomer needs no .env; production refuses it.
SECRET_KEY = env_str("SECRET_KEY") or "django-insecure-local-development-key-do-not-use-anywhere"
ALLOWED_HOSTS = ["*"]

# The browsable API helps while developing; production speaks JSON only.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": (
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ),
}

EMAIL_BACKEND = env_str("EMAIL_BACKEND") or "django.core.mail.backends.console.EmailBackend"

DEMO_SEED_ALLOWED = True
