from django.contrib import admin

from main.admin_mixins import SuperuserOnlyAdminMixin, ViewOnlyAdminMixin
from outbox.models import OutboxMessage
from outbox.services import outbox_send_again


@admin.register(OutboxMessage)
class OutboxMessageAdmin(SuperuserOnlyAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: what is waiting, and why (last_error); superusers can send a message again."""

    list_display = ("id", "task", "kwargs", "created_at", "sent_at", "completed_at", "deliveries")
    list_filter = (("completed_at", admin.EmptyFieldListFilter), "task")
    search_fields = ("task",)
    date_hierarchy = "created_at"
    actions = ("send_again",)
    list_display_links = None

    @admin.action(
        description="Send again (after fixing what made the task fail)",
        permissions=["send_again"],
    )
    def send_again(self, request, queryset):
        count = outbox_send_again(ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} message(s) will be sent by the next relay run.")

    def has_send_again_permission(self, request) -> bool:
        return request.user.is_superuser
