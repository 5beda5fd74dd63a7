from django.contrib import admin

from main.admin_mixins import ViewOnlyAdminMixin
from outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: what is waiting for the broker, and why (last_error)."""

    list_display = ("id", "task", "kwargs", "created_at", "sent_at", "completed_at", "deliveries")
    list_filter = (("completed_at", admin.EmptyFieldListFilter), "task")
    search_fields = ("task",)
    date_hierarchy = "created_at"
