from __future__ import annotations

from django.conf import settings
from django.db import models

from main.markets import Currency, Market
from main.models import TimeStampedModel, market_check, money_field


class StoreManager(TimeStampedModel):
    """A user who runs a market's store through the manager dashboard."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"  # every permission, both markets
        MANAGER = "manager", "Manager"  # its flags
        VIEWER = "viewer", "Viewer"  # never changes orders or store data

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_manager"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MANAGER)
    can_view_orders = models.BooleanField(default=True)
    can_edit_orders = models.BooleanField(default=False)
    can_cancel_orders = models.BooleanField(default=False)
    can_view_revenue = models.BooleanField(default=False)
    can_export_data = models.BooleanField(default=False)
    can_refund = models.BooleanField(default=False)
    can_manage_kg = models.BooleanField(default=False)
    can_manage_us = models.BooleanField(default=False)
    active_market = models.CharField(max_length=2, choices=Market.choices, default=Market.KG)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("user__phone",)
        constraints = [
            market_check("manager_active_market_valid", "active_market"),
            models.CheckConstraint(
                condition=models.Q(role__in=["admin", "manager", "viewer"]),
                name="manager_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class ManagerSettings(TimeStampedModel):
    class DashboardRange(models.TextChoices):
        TODAY = "today", "Today"
        LAST_7_DAYS = "7d", "Last 7 days"
        LAST_30_DAYS = "30d", "Last 30 days"

    manager = models.OneToOneField(StoreManager, on_delete=models.CASCADE, related_name="settings")
    email_reports = models.BooleanField(default=True)
    report_email = models.EmailField(blank=True, help_text="Empty: the user's own e-mail.")
    notify_new_orders = models.BooleanField(default=True)
    notify_cancellations = models.BooleanField(default=True)
    language = models.CharField(max_length=5, choices=settings.LANGUAGES, default="en")
    default_dashboard_range = models.CharField(
        max_length=5, choices=DashboardRange.choices, default=DashboardRange.LAST_7_DAYS
    )

    class Meta:
        ordering = ("manager",)
        verbose_name_plural = "manager settings"

    def __str__(self) -> str:
        return f"Settings of {self.manager}"


class RevenuePeriod(models.TextChoices):
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class RevenueSnapshot(TimeStampedModel):
    """Figures of one market for one closed period (SPEC §3 definitions).

    `period_start` is the aware start of the period in the market's time zone.
    The unique constraint is also the (market, period, period_start) index.
    """

    market = models.CharField(max_length=2, choices=Market.choices)
    period = models.CharField(max_length=10, choices=RevenuePeriod.choices)
    period_start = models.DateTimeField()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    revenue = money_field(max_digits=14, default=0)
    orders_count = models.PositiveIntegerField(default=0)
    items_sold = models.PositiveIntegerField(default=0)
    average_order_value = money_field(default=0)
    cancelled_count = models.PositiveIntegerField(default=0)
    new_customers = models.PositiveIntegerField(default=0)
    # Captured and refunded on the payments of the period's orders (analytics.py).
    paid_amount = money_field(max_digits=14, default=0)
    refunded_amount = money_field(max_digits=14, default=0)
    # Live returns of the period's orders, and revenue less the refunds of its
    # non-cancelled orders (analytics.py; no check >= 0: see there).
    returns_count = models.PositiveIntegerField(default=0)
    net_revenue = money_field(max_digits=14, default=0)
    previous_revenue = money_field(max_digits=14, null=True, blank=True)
    # Wide enough for any ratio of two money columns (max 14 digits) at 2 places.
    change_percent = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ("market", "period", "-period_start")
        constraints = [
            models.UniqueConstraint(
                fields=("market", "period", "period_start"), name="snapshot_market_period_unique"
            ),
            market_check("snapshot_market_valid"),
            models.CheckConstraint(
                condition=models.Q(period__in=RevenuePeriod.values), name="snapshot_period_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(revenue__gte=0, average_order_value__gte=0),
                name="snapshot_money_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(paid_amount__gte=0, refunded_amount__gte=0),
                name="snapshot_payments_non_negative",
            ),
        ]

    def __str__(self) -> str:
        start = f"{self.period_start:%Y-%m-%d %H:%M}"
        return f"{self.market} {self.period} {start}: {self.revenue} {self.currency}"


class ManagerActivityLog(models.Model):
    """Audit trail of manager actions. Append-only: never edited or deleted."""

    manager = models.ForeignKey(
        StoreManager, on_delete=models.SET_NULL, null=True, blank=True, related_name="activity"
    )
    action = models.CharField(max_length=50, help_text="e.g. order_status_changed, order_exported")
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    market = models.CharField(max_length=2, choices=Market.choices, blank=True)
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("manager", "created_at"), name="activity_manager_created_idx"),
            models.Index(fields=("market", "created_at"), name="activity_market_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"


class DailyReport(models.Model):
    market = models.CharField(max_length=2, choices=Market.choices)
    report_date = models.DateField(help_text="Calendar date in the market's time zone.")
    currency = models.CharField(max_length=3, choices=Currency.choices)
    revenue = money_field(max_digits=14, default=0)
    orders_count = models.PositiveIntegerField(default=0)
    items_sold = models.PositiveIntegerField(default=0)
    average_order_value = money_field(default=0)
    cancelled_count = models.PositiveIntegerField(default=0)
    new_customers = models.PositiveIntegerField(default=0)
    # Captured and refunded on the payments of the day's orders (analytics.py).
    paid_amount = money_field(max_digits=14, default=0)
    refunded_amount = money_field(max_digits=14, default=0)
    # Live returns of the day's orders; revenue less their refunds (analytics.py).
    returns_count = models.PositiveIntegerField(default=0)
    net_revenue = money_field(max_digits=14, default=0)
    top_products = models.JSONField(default=list, blank=True)
    comparison = models.JSONField(
        default=dict,
        blank=True,
        help_text="Against the previous day and the same weekday last week.",
    )
    generated_at = models.DateTimeField(auto_now=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-report_date", "market")
        constraints = [
            models.UniqueConstraint(
                fields=("market", "report_date"), name="report_market_date_unique"
            ),
            market_check("report_market_valid"),
            models.CheckConstraint(
                condition=models.Q(paid_amount__gte=0, refunded_amount__gte=0),
                name="report_payments_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market} report {self.report_date}"


class ManagerNotification(models.Model):
    class Type(models.TextChoices):
        NEW_ORDER = "new_order", "New order"
        ORDER_CANCELLED = "order_cancelled", "Order cancelled"
        REPORT_READY = "report_ready", "Report ready"
        LOW_STOCK = "low_stock", "Low stock"
        SYSTEM = "system", "System"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    manager = models.ForeignKey(
        StoreManager, on_delete=models.CASCADE, related_name="notifications"
    )
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.SYSTEM)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # The event behind it (e.g. an order's status-history row): a task that runs
    # twice for one event notifies each manager once.
    event_id = models.BigIntegerField(null=True, blank=True)
    is_read = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("manager", "type", "event_id"),
                condition=models.Q(event_id__isnull=False),
                name="mgr_notif_one_per_event",
            )
        ]
        indexes = [
            models.Index(
                fields=("manager", "is_read", "created_at"), name="mgr_notif_read_created_idx"
            )
        ]

    def __str__(self) -> str:
        return f"[{self.priority}] {self.title}"
