from django.contrib import admin
from django.utils.html import format_html, format_html_join

from main.admin_mixins import (
    MarketTimeZoneAdminMixin,
    ViewOnlyAdminMixin,
    market_time_column,
    short_column,
)
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


class _FigureColumns:
    """Short headers: a report or snapshot list fits a 1400 px screen."""

    cur = short_column("currency", "Cur.", stored=True)
    orders = short_column("orders_count", "Orders")
    items = short_column("items_sold", "Items")
    aov = short_column("average_order_value", "AOV")
    cancelled = short_column("cancelled_count", "Canc.")
    new = short_column("new_customers", "New cust.")
    returns = short_column("returns_count", "Ret.")
    net = short_column("net_revenue", "Net")


# Rows of the report's comparison table: (label, key in the JSON and field of the report).
COMPARED = (
    ("Revenue", "revenue"),
    ("Orders", "orders_count"),
    ("Items sold", "items_sold"),
    ("Average order value", "average_order_value"),
    ("Cancelled", "cancelled_count"),
    ("New customers", "new_customers"),
    ("Paid", "paid_amount"),
    ("Refunded", "refunded_amount"),
    ("Returns", "returns_count"),
    ("Net revenue", "net_revenue"),
    ("Revenue change, %", "revenue_change_percent"),
    ("Orders change, %", "orders_change_percent"),
)
TABLE = '<table style="min-width: 24em"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'


def _cell(value) -> str:
    return "-" if value is None or value == "" else str(value)


def _head(*labels: str) -> str:
    return format_html_join("", "<th>{}</th>", ((label,) for label in labels))


def _top_products_html(top) -> str:
    """The report's best sellers (by revenue, by units) as tables; data escaped."""
    if isinstance(top, list):  # an early report: one list
        top = {"by_revenue": top}
    sections = []
    for key, title in (("by_revenue", "By revenue"), ("by_units", "By units")):
        rows = (top or {}).get(key) or []
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (n, _cell(row.get("name")), _cell(row.get("units")), _cell(row.get("revenue")))
                for n, row in enumerate(rows, 1)
                if isinstance(row, dict)
            ),
        )
        if not body:
            body = format_html('<tr><td colspan="4">{}</td></tr>', "No sales")
        head = _head("#", "Product", "Units", "Revenue")
        sections.append((title, format_html(TABLE, head, body)))
    return format_html_join("", "<p><strong>{}</strong></p>{}", sections)


def _comparison_html(report) -> str:
    """This day's figures next to the previous day and the same weekday a week before."""
    comparison = report.comparison if isinstance(report.comparison, dict) else {}
    previous = comparison.get("previous_day") or {}
    last_week = comparison.get("same_weekday_last_week") or {}
    body = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (label, _cell(getattr(report, key, None)), _cell(previous.get(key)),
             _cell(last_week.get(key)))
            for label, key in COMPARED
        ),
    )  # fmt: skip
    head = _head(
        "",
        str(report.report_date),
        f"Previous day ({_cell(previous.get('date'))})",
        f"Week before ({_cell(last_week.get('date'))})",
    )
    return format_html(TABLE, head, body)


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
class RevenueSnapshotAdmin(
    MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, _FigureColumns, admin.ModelAdmin
):
    list_display = (
        "period_local",
        "market",
        "period",
        "revenue",
        "net",
        "cur",
        "orders",
        "items",
        "aov",
        "cancelled",
        "returns",
        "new",
        "change_pct",
    )
    change_pct = short_column("change_percent", "Δ %")
    list_filter = ("market", "period")
    date_hierarchy = "period_start"
    readonly_fields = ("created_at", "updated_at")
    period_local = market_time_column("period_start", "starts (market time)")


@admin.register(DailyReport)
class DailyReportAdmin(
    MarketTimeZoneAdminMixin, ViewOnlyAdminMixin, _FigureColumns, admin.ModelAdmin
):
    list_display = (
        "report_date",
        "market",
        "revenue",
        "net",
        "cur",
        "orders",
        "items",
        "aov",
        "cancelled",
        "returns",
        "new",
        "emailed_local",
    )
    list_filter = ("market", ("emailed_at", admin.EmptyFieldListFilter))
    date_hierarchy = "report_date"
    # The JSON figures read as tables, not as raw JSON.
    exclude = ("top_products", "comparison")
    readonly_fields = ("generated_at", "top_products_table", "comparison_table")
    generated_local = market_time_column("generated_at", "generated (market time)")
    emailed_local = market_time_column("emailed_at", "e-mailed (market time)")

    @admin.display(description="Top products")
    def top_products_table(self, obj):
        return _top_products_html(obj.top_products)

    @admin.display(description="Comparison")
    def comparison_table(self, obj):
        return _comparison_html(obj)
