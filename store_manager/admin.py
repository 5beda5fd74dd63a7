from django.contrib import admin

from main.admin_mixins import MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, market_time_column
from store_manager.models import (
    DailyReport,
    ManagerActivityLog,
    ManagerNotification,
    ManagerSettings,
    RevenueSnapshot,
    StoreManager,
)


class ManagerSettingsInline(admin.StackedInline):
    model = ManagerSettings
    can_delete = False


@admin.register(StoreManager)
class StoreManagerAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "role",
        "active_market",
        "can_manage_kg",
        "can_manage_us",
        "can_edit_orders",
        "can_cancel_orders",
        "can_view_revenue",
        "is_active",
    )
    list_filter = ("role", "active_market", "can_manage_kg", "can_manage_us", "is_active")
    search_fields = ("user__phone", "user__first_name", "user__last_name", "user__email")
    autocomplete_fields = ("user",)
    fieldsets = (
        (None, {"fields": ("user", "role", "is_active")}),
        ("Markets", {"fields": ("can_manage_kg", "can_manage_us", "active_market")}),
        (
            "Permissions",
            {
                "fields": (
                    "can_view_orders",
                    "can_edit_orders",
                    "can_cancel_orders",
                    "can_view_revenue",
                    "can_export_data",
                    "can_refund",
                )
            },
        ),
    )
    inlines = (ManagerSettingsInline,)

    def get_readonly_fields(self, request, obj=None):
        # A manager row belongs to one person for good: handing it to another user would
        # leave the first one's open sockets (and audit trail) with the old access.
        # Deactivate it and add a row for the new person instead.
        return ("user",) if obj is not None else ()

    def get_queryset(self, request):
        # __str__ names the user: join it for the changelist and autocomplete alike.
        return super().get_queryset(request).select_related("user")


@admin.register(ManagerSettings)
class ManagerSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "manager",
        "email_reports",
        "report_email",
        "notify_new_orders",
        "notify_cancellations",
        "language",
        "default_dashboard_range",
    )
    list_select_related = ("manager__user",)
    list_filter = ("manager__active_market", "email_reports", "language")
    search_fields = ("manager__user__phone", "report_email")
    autocomplete_fields = ("manager",)


@admin.register(ManagerNotification)
class ManagerNotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "manager", "type", "priority", "is_read", "created_at")
    list_select_related = ("manager__user",)
    list_filter = ("manager__active_market", "type", "priority", "is_read")
    search_fields = ("title", "message", "manager__user__phone")
    date_hierarchy = "created_at"
    autocomplete_fields = ("manager",)


# --- Written only by code: audit trail and the reporting jobs ---------------


@admin.register(ManagerActivityLog)
class ManagerActivityLogAdmin(MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_local",
        "manager",
        "action",
        "object_type",
        "object_id",
        "market",
        "ip_address",
    )
    list_select_related = ("manager__user",)
    list_filter = ("market", "action", "object_type")
    search_fields = ("action", "object_id", "description", "manager__user__phone")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at",)
    created_local = market_time_column("created_at", "when (market time)")


@admin.register(RevenueSnapshot)
class RevenueSnapshotAdmin(MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "period_local",
        "market",
        "period",
        "revenue",
        "currency",
        "orders_count",
        "items_sold",
        "average_order_value",
        "cancelled_count",
        "new_customers",
        "change_percent",
    )
    list_filter = ("market", "period")
    date_hierarchy = "period_start"
    readonly_fields = ("created_at", "updated_at")
    period_local = market_time_column("period_start", "starts (market time)")


@admin.register(DailyReport)
class DailyReportAdmin(MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "report_date",
        "market",
        "revenue",
        "currency",
        "orders_count",
        "items_sold",
        "average_order_value",
        "cancelled_count",
        "new_customers",
        "generated_local",
        "emailed_local",
    )
    list_filter = ("market", ("emailed_at", admin.EmptyFieldListFilter))
    date_hierarchy = "report_date"
    readonly_fields = ("generated_at",)
    generated_local = market_time_column("generated_at", "generated (market time)")
    emailed_local = market_time_column("emailed_at", "e-mailed (market time)")
