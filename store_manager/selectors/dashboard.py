"""The first screen of the manager dashboard (manager/dashboard/), in a bounded number of queries.

Its revenue series comes from `revenue` (snapshots plus today live).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from orders.models import Order, OrderStatus
from products.models import SKU, sellable_q
from products.services.stock import restock_q
from store_manager import analytics
from store_manager.analytics import Figures
from store_manager.models import RevenuePeriod, StoreManager
from store_manager.selectors.notifications import manager_notification_unread_count
from store_manager.selectors.revenue import Bucket, revenue_buckets

DASHBOARD_SERIES_DAYS = 7
DASHBOARD_TOP_PRODUCTS = 5
DASHBOARD_LOW_STOCK_LIMIT = 10


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
