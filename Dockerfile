# syntax=docker/dockerfile:1
# The MARQUE backend image: one image, four processes (the Procfile's web, asgi,
# worker and beat; compose.yaml runs each with its own command). Production
# settings; every secret comes from the environment at run time, never the image.

ARG PYTHON_VERSION=3.11

# --- build: the virtualenv, with wheels only (no compiler in the final image) ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --requirement /tmp/requirements.txt

# --- runtime: slim base, the venv, the code, static files; a non-root user ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=main.settings.production \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/app/media \
    PORT=8000 \
    ASGI_PORT=8001
RUN groupadd --system --gid 10001 marque \
    && useradd --system --uid 10001 --gid marque --home-dir /app --shell /usr/sbin/nologin marque
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code belongs to root: the runtime user can read it, not change it.
COPY . .
# Static files (admin, Swagger UI, ReDoc: no CDN) are collected into the image and
# served by WhiteNoise. Production settings refuse to load without their secrets,
# so this one command gets placeholders that exist only during the build.
RUN SECRET_KEY=collectstatic-only \
    DATABASE_URL=postgres://build@localhost:5432/none \
    REDIS_URL=redis://localhost:6379/0 \
    SMS_BACKEND=users.sms.TwilioBackend \
    PAYMENT_METHODS_US=cash_on_delivery \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/media \
    && chown marque:marque /app/media
USER marque
EXPOSE 8000 8001
# Liveness of the web process (compose.yaml gives asgi, worker and beat their own).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn_config.py"]
