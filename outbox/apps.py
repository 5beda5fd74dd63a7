from django.apps import AppConfig


class OutboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "outbox"
    verbose_name = "Outbox"

    def ready(self) -> None:
        from celery.signals import task_prerun, task_success

        from outbox.services import on_task_prerun, on_task_success

        # A worker began a message's task (it was not lost), and finished it (done).
        task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="outbox-started")
        task_success.connect(on_task_success, weak=False, dispatch_uid="outbox-completed")
