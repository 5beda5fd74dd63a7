"""Revenue series and totals (manager/revenue/): closed periods from snapshots, the rest live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from main.exceptions import InvalidInput
from store_manager import analytics
from store_manager.analytics import Bounds, Figures
from store_manager.models import RevenuePeriod, RevenueSnapshot


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
        paid_amount=snapshot.paid_amount,
        refunded_amount=snapshot.refunded_amount,
        returns_count=snapshot.returns_count,
        net_revenue=snapshot.net_revenue,
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
    """The figures of a whole range from its buckets (new customers add up: first orders;
    payments and returns add up: each counts in its order's period)."""
    revenue = sum((b.figures.revenue for b in buckets), Decimal("0.00"))
    count = sum(b.figures.orders_count for b in buckets)
    return Figures(
        revenue=revenue,
        orders_count=count,
        items_sold=sum(b.figures.items_sold for b in buckets),
        average_order_value=analytics.average(revenue, count),
        cancelled_count=sum(b.figures.cancelled_count for b in buckets),
        new_customers=sum(b.figures.new_customers for b in buckets),
        paid_amount=sum((b.figures.paid_amount for b in buckets), analytics.ZERO),
        refunded_amount=sum((b.figures.refunded_amount for b in buckets), analytics.ZERO),
        returns_count=sum(b.figures.returns_count for b in buckets),
        net_revenue=sum((b.figures.net_revenue for b in buckets), analytics.ZERO),
        currency=analytics.market_config(market).currency,
    )


MAX_BUCKETS = 2000  # e.g. 83 days of hours or 5 years of days


class RangeTooLong(InvalidInput):
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
