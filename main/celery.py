"""The Celery app. Tasks live in each app's `tasks.py` and are autodiscovered.

With no `REDIS_URL` the settings make every task run eagerly in-process.
"""

import os

from celery import Celery
from celery.signals import setup_logging
from django.conf import settings
from django_structlog.celery.steps import DjangoStructLogInitStep

from main.logs import configure_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings.local")

app = Celery("marque")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# django-structlog's worker side (docs/OBSERVABILITY.md): before a task runs, bind the
# request id, user and market its message carries, with task_id and task_name; log
# task_started / task_succeeded / task_failed.
app.steps["worker"].add(DjangoStructLogInitStep)


@setup_logging.connect
def _log_through_settings(**kwargs) -> None:
    """Worker and beat log like the web processes (settings.LOGGING), not in Celery's format.

    LOG_LEVEL sets the level; the `--loglevel` option no longer does.
    """
    configure_logging(settings.LOGGING)


import main.metrics  # noqa: E402,F401  (connects the Celery task metrics)
