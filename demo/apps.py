from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `manage.py seed_demo`; sits above every other app and none imports it."""

    name = "demo"
    verbose_name = "Demo data"
