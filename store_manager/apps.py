from django.apps import AppConfig


class StoreManagerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "store_manager"
    verbose_name = "Store manager"

    def ready(self) -> None:
        # In ready(), not at module level: tasks import models (the app registry must be ready).
        from orders.events import (
            ORDER_CREATED,
            ORDER_STATUS_CHANGED,
            PAYMENT_REFUNDED,
            RETURN_STATUS_CHANGED,
        )
        from store_manager import tasks

        # Managers and the revenue snapshots react to order events (docs/EVENTS.md).
        ORDER_CREATED.subscribe(tasks.notify_managers_of_new_order)
        ORDER_CREATED.subscribe(tasks.recompute_order_periods)
        ORDER_STATUS_CHANGED.subscribe(tasks.notify_managers_of_cancellation)
        ORDER_STATUS_CHANGED.subscribe(tasks.recompute_order_periods)
        # A refund changes `refunded_amount` of the periods its order was created in
        # (captures happen inside status changes, which recompute already).
        PAYMENT_REFUNDED.subscribe(tasks.recompute_order_periods)
        # A return requested, approved, rejected, cancelled, received, refunded or exchanged
        # changes `returns_count` of the periods its order was created in.
        RETURN_STATUS_CHANGED.subscribe(tasks.recompute_order_periods)
