from django.apps import AppConfig


class StoreManagerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "store_manager"
    verbose_name = "Store manager"
