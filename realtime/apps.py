from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "realtime"
    verbose_name = "Real-time events"

    def ready(self) -> None:
        # In ready(), not at module level: tasks import models (the app registry must be ready).
        from django.db.models.signals import post_delete, post_save

        from orders.events import ORDER_CREATED, ORDER_STATUS_CHANGED, RETURN_STATUS_CHANGED
        from products.events import STOCK_LOW
        from realtime import tasks
        from realtime.services import on_access_saved
        from store_manager.events import MANAGER_NOTIFICATION_CREATED, REPORT_READY
        from store_manager.models import StoreManager
        from users.events import NOTIFICATION_CREATED
        from users.models import User

        # Every socket event comes from a domain event, after its commit (docs/REALTIME.md);
        # first in line, since a screen waits for it and the other reactions can wait.
        ORDER_CREATED.subscribe(tasks.push_order_created, first=True)
        ORDER_STATUS_CHANGED.subscribe(tasks.push_order_status_changed, first=True)
        RETURN_STATUS_CHANGED.subscribe(tasks.push_return_status_changed, first=True)
        NOTIFICATION_CREATED.subscribe(tasks.push_notification_created, first=True)
        MANAGER_NOTIFICATION_CREATED.subscribe(tasks.push_manager_notifications, first=True)
        STOCK_LOW.subscribe(tasks.push_stock_low, first=True)
        REPORT_READY.subscribe(tasks.push_report_ready, first=True)

        # What a socket may receive follows its account and manager row, however they are
        # saved (API, admin, shell): a save makes its open sockets check their access again.
        for model in (User, StoreManager):
            post_save.connect(on_access_saved, sender=model, dispatch_uid=f"realtime-{model}")
        post_delete.connect(on_access_saved, sender=StoreManager, dispatch_uid="realtime-delete")
