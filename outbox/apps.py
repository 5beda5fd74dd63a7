from django.apps import AppConfig


class OutboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "outbox"
    verbose_name = "Outbox"

    def ready(self) -> None:
        from celery.signals import task_success

        from outbox.services import on_task_success

        # A message is done when its task succeeded (in the worker, or eagerly).
        task_success.connect(on_task_success, weak=False, dispatch_uid="outbox-completed")
