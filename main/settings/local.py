"""Development: the zero-setup default (`make run`)."""

from main.env import env_bool, env_list, env_str
from main.settings.base import *  # noqa: F403
from main.settings.base import REST_FRAMEWORK

DEBUG = env_bool("DEBUG", default=True)
# A fixed, clearly fake key so a newcomer needs no .env; production refuses it.
SECRET_KEY = env_str("SECRET_KEY") or "django-insecure-local-development-key-do-not-use-anywhere"
ALLOWED_HOSTS = ["*"]

# The Next.js dev server (`next dev` on port 3000) may call the API out of the box
# (docs/FRONTEND.md). CORS_ALLOWED_ORIGINS, when set, replaces this list (empty: none).
CORS_ALLOWED_ORIGINS = env_list(
    "CORS_ALLOWED_ORIGINS", "http://localhost:3000,http://127.0.0.1:3000"
)

# The browsable API helps while developing; production speaks JSON only.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": (
        "main.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ),
}

EMAIL_BACKEND = env_str("EMAIL_BACKEND") or "django.core.mail.backends.console.EmailBackend"

DEMO_SEED_ALLOWED = True
