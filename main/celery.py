"""The Celery app. Tasks live in each app's `tasks.py` and are autodiscovered.

With no `REDIS_URL` the settings make every task run eagerly in-process.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings.local")

app = Celery("marque")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
