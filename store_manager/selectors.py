"""Reads of the manager API. Every order read takes the market it is scoped to.

Views get `market` from the base view (`ManagerAPIView.market`, the manager's
active market), so an object of another market is never found: 404, no leak.
Joins live here; serializers only walk what these querysets loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from main.exceptions import ApplicationError
from main.markets import parse_phone
from orders.models import Order, OrderItem, OrderStatus, OrderStatusHistory
from products.models import SKU, sellable_q
from products.stock import restock_q
from store_manager import analytics
from store_manager.analytics import Bounds, Figures
from store_manager.models import (
    DailyReport,
    ManagerActivityLog,
    ManagerNotification,
    RevenuePeriod,
    RevenueSnapshot,
    StoreManager,
)
from users.models import User

# `ordering=` values of manager/orders/ (each also with a leading "-").
ORDER_ORDERINGS: tuple[str, ...] = ("created_at", "total", "order_number", "status")
DASHBOARD_SERIES_DAYS = 7
DASHBOARD_TOP_PRODUCTS = 5
DASHBOARD_LOW_STOCK_LIMIT = 10


class ManagerNotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class OrderFilters:
    """The filters of manager/orders/ and manager/orders/export/ (all optional)."""

    status: str | None = None
    date_from: date | None = None  # market dates, both ends included
    date_to: date | None = None
    today: bool = False
    payment_method: str | None = None
    payment_status: str | None = None
    search: str = ""
    ordering: str = "-created_at"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, without the unset ones (for the activity log of an export)."""
        values = {
            "status": self.status,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "today": self.today or None,
            "payment_method": self.payment_method,
            "payment_status": self.payment_status,
            "search": self.search or None,
            "ordering": self.ordering,
        }
        return {key: value for key, value in values.items() if value is not None}


def _items_count() -> Coalesce:
    quantities = (
        OrderItem.objects.filter(order=OuterRef("pk"))
        .order_by()
        .values("order")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    return Coalesce(Subquery(quantities, output_field=IntegerField()), Value(0))


# A whole order number as typed ("kg-7h3k9pxa"): numbers are upper case by construction.
_ORDER_NUMBER = re.compile(r"^[A-Z]{2}-[A-Z0-9]{4,}$")


# Above this many matching customers a word is too common for an id list.
_MANY = 1000


def _search(market: str, term: str) -> Q:
    """What `search` matches, cheapest first.

    A whole order number or a whole phone number of a customer of the market
    is looked up by its unique index (the usual case: a manager pastes one).
    Anything else is free text: every word must match part of the order
    number, a name (customer or recipient) or, with 3+ digits, a phone
    (customer or shipping) - a scan of the market's orders.
    """
    term = term.strip()
    upper = term.upper()
    if (
        _ORDER_NUMBER.match(upper)
        and Order.objects.filter(market=market, order_number=upper).exists()
    ):
        return Q(order_number=upper)
    if term.startswith("+") or (term.isdigit() and len(term) >= 9):
        try:
            phone = parse_phone(term).e164
        except ApplicationError:
            phone = None
        customer = (
            Order.objects.filter(market=market, user__phone=phone)
            .values_list("user_id", flat=True)
            .first()
        )
        if customer is not None:
            return Q(user_id=customer)
    condition = Q()
    for word in term.split():
        digits = "".join(ch for ch in word if ch.isdigit())
        # Customers are matched in their own table and joined by id, so that on
        # PostgreSQL every branch of the OR can use a trigram index (orders 0003,
        # users 0003) instead of scanning the market's orders.
        people = Q(first_name__icontains=word) | Q(last_name__icontains=word)
        match = Q(order_number__icontains=word) | Q(shipping_recipient__icontains=word)
        if len(digits) >= 3:
            people |= Q(phone__contains=digits)
            match |= Q(shipping_phone__contains=digits)
        # The matching customers are fetched first (one indexed query): a literal id
        # list lets the planner OR three index scans; a subquery would make it scan.
        customers = list(User.objects.filter(people).values_list("pk", flat=True)[: _MANY + 1])
        if len(customers) > _MANY:  # a very common word: let the database join instead
            match |= Q(user_id__in=User.objects.filter(people).values("pk"))
        elif customers:
            match |= Q(user_id__in=customers)
        condition &= match
    return condition


def manager_orders(*, market: str, filters: OrderFilters, now: datetime | None = None):
    """Orders of `market` matching `filters`, without joins (for lists, counts and exports)."""
    queryset = Order.objects.filter(market=market)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.payment_method:
        queryset = queryset.filter(payment_method=filters.payment_method)
    if filters.payment_status:
        queryset = queryset.filter(payment_status=filters.payment_status)
    if filters.today:
        today = analytics.local_date(market, now or timezone.now())
        bounds = analytics.date_range_bounds(market, today, today)
        queryset = queryset.filter(created_at__gte=bounds.start, created_at__lt=bounds.end)
    if filters.date_from:
        queryset = queryset.filter(
            created_at__gte=analytics.local_midnight(market, filters.date_from)
        )
    if filters.date_to:
        queryset = queryset.filter(
            created_at__lt=analytics.local_midnight(market, filters.date_to + timedelta(days=1))
        )
    if filters.search.strip():
        queryset = queryset.filter(_search(market, filters.search))
    field = filters.ordering.lstrip("-")
    if field not in ORDER_ORDERINGS:
        raise ValueError(f"Unknown ordering {filters.ordering!r}.")
    tie = "-id" if filters.ordering.startswith("-") else "id"
    return queryset.order_by(filters.ordering, tie)


def manager_order_list(*, market: str, filters: OrderFilters, now: datetime | None = None):
    """A page-ready list: the customer joined, units counted in a subquery (no per-row query)."""
    return (
        manager_orders(market=market, filters=filters, now=now)
        .select_related("user")
        .annotate(items_count=_items_count())
    )


def manager_order_get(*, market: str, order_number: str) -> Order:
    """One order of `market` with items, customer and history (with actors); 404 otherwise."""
    history = OrderStatusHistory.objects.select_related("changed_by").order_by("created_at", "id")
    order = (
        Order.objects.filter(market=market, order_number=order_number)
        .select_related("user")
        .prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.order_by("id")),
            Prefetch("status_history", queryset=history),
        )
        .first()
    )
    if order is None:
        raise ManagerNotFound("No such order in your active market.")
    return order


def manager_order_numbers_missing(*, market: str, order_numbers: list[str]) -> list[str]:
    """Which of `order_numbers` are not orders of `market` (for bulk actions)."""
    found = set(
        Order.objects.filter(market=market, order_number__in=order_numbers).values_list(
            "order_number", flat=True
        )
    )
    return sorted(set(order_numbers) - found)


EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("order_number", "order__order_number"),
    ("created_at", "order__created_at"),
    ("status", "order__status"),
    ("payment_method", "order__payment_method"),
    ("payment_status", "order__payment_status"),
    ("currency", "order__currency"),
    ("customer_phone", "order__user__phone"),
    ("customer_name", "order__shipping_recipient"),
    ("shipping_phone", "order__shipping_phone"),
    ("city", "order__shipping_city"),
    ("address", "order__shipping_street"),
    ("building", "order__shipping_building"),
    ("apartment", "order__shipping_apartment"),
    ("product_name", "product_name"),
    ("sku_code", "sku_code"),
    ("size", "size"),
    ("color", "color"),
    ("unit_price", "unit_price"),
    ("quantity", "quantity"),
    ("line_total", "line_total"),
    ("order_subtotal", "order__subtotal"),
    ("order_shipping_cost", "order__shipping_cost"),
    ("order_discount", "order__discount"),
    ("order_total", "order__total"),
)
EXPORT_CHUNK_SIZE = 2000


def manager_export_rows(
    *, market: str, filters: OrderFilters, now: datetime | None = None
) -> Iterator[tuple]:
    """One tuple per order item of the filtered orders, streamed from the database.

    `values_list(...).iterator(chunk_size=…)`: a server-side cursor on
    PostgreSQL, so memory stays flat whatever the number of rows.
    """
    orders = manager_orders(market=market, filters=filters, now=now)
    field = filters.ordering.lstrip("-")
    sign = "-" if filters.ordering.startswith("-") else ""
    items = (
        OrderItem.objects.filter(order__in=orders.values("pk"))
        .order_by(f"{sign}order__{field}", f"{sign}order_id", "id")
        .values_list(*(source for _, source in EXPORT_COLUMNS))
    )
    return items.iterator(chunk_size=EXPORT_CHUNK_SIZE)


# --------------------------------------------------------------------------- notifications


def manager_notification_list(
    *, manager: StoreManager, priority: str | None = None, is_read: bool | None = None
) -> QuerySet[ManagerNotification]:
    queryset = ManagerNotification.objects.filter(manager=manager)
    if priority:
        queryset = queryset.filter(priority=priority)
    if is_read is not None:
        queryset = queryset.filter(is_read=is_read)
    return queryset.order_by("-created_at", "-id")


def manager_notification_get(*, manager: StoreManager, notification_id: int) -> ManagerNotification:
    notification = ManagerNotification.objects.filter(manager=manager, pk=notification_id).first()
    if notification is None:
        raise ManagerNotFound("No such notification.")
    return notification


def manager_notification_unread_count(*, manager: StoreManager) -> int:
    return ManagerNotification.objects.filter(manager=manager, is_read=False).count()


# --------------------------------------------------------------------------- activity


def manager_activity_list(
    *,
    manager: StoreManager,
    market: str,
    manager_id: int | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[ManagerActivityLog]:
    """Activity of the active market: every manager's for an admin, one's own otherwise."""
    queryset = ManagerActivityLog.objects.filter(market=market).select_related("manager__user")
    if manager.role != StoreManager.Role.ADMIN:
        queryset = queryset.filter(manager=manager)
    elif manager_id is not None:
        queryset = queryset.filter(manager_id=manager_id)
    if action:
        queryset = queryset.filter(action=action)
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    if date_from:
        queryset = queryset.filter(created_at__gte=analytics.local_midnight(market, date_from))
    if date_to:
        end = analytics.local_midnight(market, date_to + timedelta(days=1))
        queryset = queryset.filter(created_at__lt=end)
    return queryset.order_by("-created_at", "-id")


# --------------------------------------------------------------------------- reports


def manager_report_list(
    *, market: str, date_from: date | None = None, date_to: date | None = None
) -> QuerySet[DailyReport]:
    queryset = DailyReport.objects.filter(market=market)
    if date_from:
        queryset = queryset.filter(report_date__gte=date_from)
    if date_to:
        queryset = queryset.filter(report_date__lte=date_to)
    return queryset.order_by("-report_date")


def manager_report_get(*, market: str, report_date: date) -> DailyReport:
    report = DailyReport.objects.filter(market=market, report_date=report_date).first()
    if report is None:
        raise ManagerNotFound("No report for that date in your active market.")
    return report


# --------------------------------------------------------------------------- revenue


@dataclass(frozen=True)
class Bucket:
    start: datetime  # aware UTC
    figures: Figures
    source: str  # "snapshot" (closed period) or "live"


def _from_snapshot(snapshot: RevenueSnapshot) -> Figures:
    return Figures(
        revenue=snapshot.revenue,
        orders_count=snapshot.orders_count,
        items_sold=snapshot.items_sold,
        average_order_value=snapshot.average_order_value,
        cancelled_count=snapshot.cancelled_count,
        new_customers=snapshot.new_customers,
        currency=snapshot.currency,
    )


def revenue_buckets(*, market: str, period: str, start: datetime, end: datetime, now: datetime):
    """Every `period` bucket starting in `[start, end)`, zero-filled, in order.

    Closed periods come from `RevenueSnapshot` (kept exact: every order change
    recomputes its periods after commit); the open period and any closed period
    without a snapshot are aggregated live in one grouped query. Two to four
    queries whatever the range.
    """
    periods = list(analytics.iter_periods(market, period, start, end))
    if not periods:
        return []
    snapshots = {
        snapshot.period_start: snapshot
        for snapshot in RevenueSnapshot.objects.filter(
            market=market,
            period=period,
            period_start__gte=periods[0].start,
            period_start__lt=end,
        )
    }
    missing = [b for b in periods if b.end > now or b.start not in snapshots]
    live: dict[datetime, Figures] = {}
    if missing:
        live = analytics.bucket_figures(
            market=market, period=period, start=missing[0].start, end=missing[-1].end
        )
    buckets = []
    for bounds in periods:
        if bounds.end <= now and bounds.start in snapshots:
            figures = _from_snapshot(snapshots[bounds.start])
            buckets.append(Bucket(bounds.start, figures, "snapshot"))
        else:
            buckets.append(Bucket(bounds.start, live[bounds.start], "live"))
    return buckets


def totals_of(market: str, buckets: list[Bucket]) -> Figures:
    """The figures of a whole range from its buckets (new customers add up: first orders)."""
    revenue = sum((b.figures.revenue for b in buckets), Decimal("0.00"))
    count = sum(b.figures.orders_count for b in buckets)
    return Figures(
        revenue=revenue,
        orders_count=count,
        items_sold=sum(b.figures.items_sold for b in buckets),
        average_order_value=analytics.average(revenue, count),
        cancelled_count=sum(b.figures.cancelled_count for b in buckets),
        new_customers=sum(b.figures.new_customers for b in buckets),
        currency=analytics.market_config(market).currency,
    )


MAX_BUCKETS = 2000  # e.g. 83 days of hours or 5 years of days


class RangeTooLong(ApplicationError):
    code = "invalid"
    default_detail = "The range is too long for that period."


@dataclass(frozen=True)
class RevenueReport:
    market: str
    currency: str
    period: str
    date_from: date  # effective range: whole periods (see manager_revenue)
    date_to: date
    buckets: list[Bucket]
    totals: Figures
    previous_date_from: date
    previous_date_to: date
    previous_totals: Figures
    change_percent: Decimal | None


def manager_revenue(
    *, market: str, period: str, date_from: date, date_to: date, now: datetime | None = None
) -> RevenueReport:
    """Series, totals and the previous range (SPEC §5 `manager/revenue/`).

    The range is the market dates `date_from`..`date_to`, both included, widened
    to whole periods (a weekly range starts on a Monday, a monthly one on the
    1st), so every bucket is a full period and the totals are exactly the raw
    aggregation over the effective range the response names. The previous range
    is the same number of periods just before it, read the same way.
    """
    now = now or timezone.now()
    start = analytics.period_bounds(market, period, date_from).start
    if period == RevenuePeriod.HOURLY:
        end = analytics.local_midnight(market, date_to + timedelta(days=1))
    else:
        end = analytics.period_bounds(market, period, date_to).end
    for count, _ in enumerate(analytics.iter_periods(market, period, start, end), start=1):
        if count > MAX_BUCKETS:
            message = f"At most {MAX_BUCKETS} {period} buckets; choose a shorter range."
            raise RangeTooLong(message, errors={"date_from": [message]})
    buckets = revenue_buckets(market=market, period=period, start=start, end=end, now=now)
    totals = totals_of(market, buckets)
    previous_start = start
    for _ in range(len(buckets)):
        previous_start = analytics.previous_bounds(
            market, period, Bounds(previous_start, previous_start)
        ).start
    # The previous range the same way (snapshots, live where missing): summing
    # buckets is exact, every figure is additive over disjoint periods.
    previous = totals_of(
        market,
        revenue_buckets(market=market, period=period, start=previous_start, end=start, now=now),
    )
    zone = analytics.market_zone(market)
    return RevenueReport(
        market=market,
        currency=analytics.market_config(market).currency,
        period=period,
        date_from=start.astimezone(zone).date(),
        date_to=(end - timedelta(microseconds=1)).astimezone(zone).date(),
        buckets=buckets,
        totals=totals,
        previous_date_from=previous_start.astimezone(zone).date(),
        previous_date_to=(start - timedelta(microseconds=1)).astimezone(zone).date(),
        previous_totals=previous,
        change_percent=analytics.change_percent(totals.revenue, previous.revenue),
    )


def manager_revenue_hourly(*, market: str, day: date, now: datetime | None = None):
    """The hourly breakdown of one market date (23, 24 or 25 buckets on DST days)."""
    return manager_revenue(
        market=market, period=RevenuePeriod.HOURLY, date_from=day, date_to=day, now=now
    )


# --------------------------------------------------------------------------- dashboard


def _low_stock(market: str) -> list[dict[str, object]]:
    """Active SKUs of products sold in `market` at or below the threshold, lowest first."""
    rows = (
        SKU.objects.filter(sellable_q(market, "product__"), restock_q(), is_active=True)
        .order_by("stock", "code")
        .values("id", "code", "size", "color", "stock", "product_id", "product__name")[
            :DASHBOARD_LOW_STOCK_LIMIT
        ]
    )
    return [
        {
            "sku_id": row["id"],
            "sku_code": row["code"],
            "product_id": row["product_id"],
            "product_name": row["product__name"],
            "size": row["size"],
            "color": row["color"],
            "stock": row["stock"],
        }
        for row in rows
    ]


@dataclass(frozen=True)
class Dashboard:
    market: str
    currency: str
    date: date
    now: datetime
    today: Figures
    yesterday_same_time: Figures
    pending_orders: int
    series: list[Bucket]
    top_products: list[dict[str, object]]
    low_stock: list[dict[str, object]]
    low_stock_threshold: int
    unread_notifications: int


def manager_dashboard(
    *, manager: StoreManager, market: str, now: datetime | None = None
) -> Dashboard:
    """Everything the dashboard's first screen shows, in a bounded number of queries.

    Today and yesterday-until-the-same-time are aggregated live; the last 7 days
    (today included) come from daily snapshots plus today live.
    """
    now = now or timezone.now()
    today = analytics.local_date(market, now)
    day = analytics.date_range_bounds(market, today, today)
    yesterday = analytics.date_range_bounds(
        market, today - timedelta(days=1), today - timedelta(days=1)
    )
    # "The same time" is the same wall-clock time yesterday, not 24 h ago: on the day
    # after a clock change those differ by an hour.
    zone = analytics.market_zone(market)
    wall_clock = now.astimezone(zone).time()
    same_time = datetime.combine(today - timedelta(days=1), wall_clock, tzinfo=zone)
    yesterday_figures = analytics.period_figures(
        market=market,
        start=yesterday.start,
        end=min(max(same_time.astimezone(UTC), yesterday.start), yesterday.end),
    )
    first_day = today - timedelta(days=DASHBOARD_SERIES_DAYS - 1)
    series_start = analytics.local_midnight(market, first_day)
    series = revenue_buckets(
        market=market, period=RevenuePeriod.DAILY, start=series_start, end=day.end, now=now
    )
    # Today is the series' last bucket, always live: no orders exist after `now`.
    today_figures = series[-1].figures
    top = analytics.top_products(
        market=market, start=day.start, end=day.end, limit=DASHBOARD_TOP_PRODUCTS
    )["by_revenue"]
    return Dashboard(
        market=market,
        currency=analytics.market_config(market).currency,
        date=today,
        now=now,
        today=today_figures,
        yesterday_same_time=yesterday_figures,
        pending_orders=Order.objects.filter(market=market, status=OrderStatus.PENDING).count(),
        series=series,
        top_products=top,
        low_stock=_low_stock(market),
        low_stock_threshold=settings.LOW_STOCK_THRESHOLD,
        unread_notifications=manager_notification_unread_count(manager=manager),
    )
