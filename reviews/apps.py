from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        # In ready(), not at module level: tasks import models (the app registry must be ready).
        from orders.events import RETURN_STATUS_CHANGED
        from reviews import tasks

        # A size return feeds the product's fit summary with the reviews (docs/EVENTS.md).
        RETURN_STATUS_CHANGED.subscribe(tasks.refresh_fit_from_returns)
