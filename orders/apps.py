from django.apps import AppConfig


class OrdersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        # In ready(), not at module level: tasks import models (the app registry must be ready).
        from orders import tasks
        from orders.events import (
            ORDER_CREATED,
            ORDER_STATUS_CHANGED,
            PAYMENT_REFUNDED,
            RETURN_STATUS_CHANGED,
        )

        # The customer hears of every order and return event (docs/EVENTS.md).
        ORDER_CREATED.subscribe(tasks.notify_order_created)
        ORDER_STATUS_CHANGED.subscribe(tasks.notify_order_status_changed)
        PAYMENT_REFUNDED.subscribe(tasks.notify_payment_refunded)
        RETURN_STATUS_CHANGED.subscribe(tasks.notify_return_status_changed)
