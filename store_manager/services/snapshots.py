"""Revenue snapshots: compute (store_manager.analytics) and upsert `RevenueSnapshot` rows.

Every function here is idempotent: it recomputes the figures from the orders
and writes a row only when it is missing or different, on the unique key
(market, period, period_start). Running any of them twice leaves the table
as it was, `updated_at` included, so `updated_at` is "when the figures last
changed".

Writers of the same (market, period) are serialised on PostgreSQL with a
transaction-scoped advisory lock held while computing *and* writing: two
workers recomputing the same day one after the other can never leave the older
computation in the table.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from main.markets import Market, market_config
from orders.models import Order, OrderStatus
from store_manager.analytics import (
    FIGURE_NAMES,
    PERIODS,
    ZERO,
    Bounds,
    Figures,
    average,
    bucket_figures,
    change_percent,
    date_range_bounds,
    iter_periods,
    last_closed,
    period_bounds,
    previous_bounds,
)
from store_manager.models import RevenuePeriod, RevenueSnapshot

# What a snapshot row stores: the figures, their currency and the comparison.
FIGURE_FIELDS = ("currency", *FIGURE_NAMES, "previous_revenue", "change_percent")
_INSTANT = timedelta(microseconds=1)
# Summed from the daily snapshots instead of aggregated from the orders.
ROLLUP_PERIODS = (RevenuePeriod.WEEKLY, RevenuePeriod.MONTHLY)
# Periods a scheduled run closes after a market's local midnight (daily first: the others
# are rolled up from it).
AFTER_MIDNIGHT_PERIODS = (RevenuePeriod.DAILY, RevenuePeriod.WEEKLY, RevenuePeriod.MONTHLY)


def _lock(market: str, period: str) -> None:
    """Serialise snapshot writers of one (market, period) until the transaction ends.

    Also switches PostgreSQL's JIT off for the transaction: the NOT EXISTS of
    new_customers inflates the cost estimate past `jit_above_cost`, and the
    compilation then costs more (about 1 s per query at 1M orders) than the
    query itself.
    """
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"revenue-snapshot:{market}:{period}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _values(figures: Figures, previous: Figures | None) -> dict[str, object]:
    previous_revenue = previous.revenue if previous is not None else None
    return {
        "currency": figures.currency,
        "revenue": figures.revenue,
        "orders_count": figures.orders_count,
        "items_sold": figures.items_sold,
        "average_order_value": figures.average_order_value,
        "cancelled_count": figures.cancelled_count,
        "new_customers": figures.new_customers,
        "paid_amount": figures.paid_amount,
        "refunded_amount": figures.refunded_amount,
        "returns_count": figures.returns_count,
        "net_revenue": figures.net_revenue,
        "previous_revenue": previous_revenue,
        "change_percent": change_percent(figures.revenue, previous_revenue),
    }


@transaction.atomic
def snapshots_upsert(*, market: str, period: str, start: datetime, end: datetime) -> int:
    """Recompute and upsert the snapshots of every period starting in ``[start, end)``.

    ``start``/``end`` are period boundaries (see ``analytics.period_bounds``).
    Hours and days are aggregated from the orders (two GROUP BY queries for
    the whole range, previous period included). Weeks and months are sums of
    the daily snapshots (``_rollup_daily``): every figure is additive over the
    days that partition them, new customers included (a customer is new on
    exactly one day) and so are the payment and return figures (an order's
    payments and returns count on its creation day), and summing ~30 rows is much cheaper than
    re-aggregating a month of orders on every order event. Then one read of
    the existing rows and one bulk upsert of the rows that changed. Returns
    how many rows were written.
    """
    market = Market(market).value
    if period not in PERIODS:
        raise ValueError(f"Unknown period {period!r}.")
    _lock(market, period)
    first = period_bounds(market, period, start)
    if first.start < start:
        first = period_bounds(market, period, first.end)
    before = previous_bounds(market, period, first)
    if period in ROLLUP_PERIODS:
        buckets = _rollup_daily(market=market, period=period, start=before.start, end=end)
    else:
        buckets = bucket_figures(market=market, period=period, start=before.start, end=end)
    starts = list(buckets)
    wanted = {
        key: _values(buckets[key], buckets[starts[i - 1]])
        for i, key in enumerate(starts)
        if i > 0  # the first bucket is the previous period: only a comparison base
    }
    if not wanted:
        return 0
    existing = {
        row["period_start"]: row
        for row in RevenueSnapshot.objects.filter(
            market=market, period=period, period_start__in=list(wanted)
        ).values("period_start", *FIGURE_FIELDS)
    }
    changed = [
        RevenueSnapshot(market=market, period=period, period_start=key, **values)
        for key, values in wanted.items()
        if key not in existing or any(existing[key][f] != values[f] for f in FIGURE_FIELDS)
    ]
    if changed:
        RevenueSnapshot.objects.bulk_create(
            changed,
            update_conflicts=True,
            unique_fields=("market", "period", "period_start"),
            update_fields=(*FIGURE_FIELDS, "updated_at"),
            batch_size=500,
        )
    return len(changed)


def _rollup_daily(
    *, market: str, period: str, start: datetime, end: datetime
) -> dict[datetime, Figures]:
    """Figures per week or month in ``[start, end)`` as sums of the daily snapshots.

    Days without a daily row (days not started yet, or never snapshotted) are
    aggregated from the orders in memory, never written: so the open month
    has no rows for its future days, and a week is right even on an empty table.
    """
    rows = RevenueSnapshot.objects.filter(
        market=market, period=RevenuePeriod.DAILY, period_start__gte=start, period_start__lt=end
    ).values("period_start", *FIGURE_FIELDS)
    currency = market_config(market).currency
    days: dict[datetime, Figures] = {
        row["period_start"]: Figures(
            **{f: row[f] for f in FIGURE_FIELDS if f in Figures.__dataclass_fields__}
        )
        for row in rows
    }
    missing = [
        b for b in iter_periods(market, RevenuePeriod.DAILY, start, end) if b.start not in days
    ]
    if missing:
        computed = bucket_figures(
            market=market, period=RevenuePeriod.DAILY, start=missing[0].start, end=missing[-1].end
        )
        for bounds in missing:
            days[bounds.start] = computed[bounds.start]
    result: dict[datetime, Figures] = {}
    for bounds in iter_periods(market, period, start, end):
        parts = [f for day, f in days.items() if bounds.start <= day < bounds.end]
        revenue = sum((f.revenue for f in parts), ZERO)
        orders = sum(f.orders_count for f in parts)
        result[bounds.start] = Figures(
            revenue=revenue,
            orders_count=orders,
            items_sold=sum(f.items_sold for f in parts),
            average_order_value=average(revenue, orders),
            cancelled_count=sum(f.cancelled_count for f in parts),
            new_customers=sum(f.new_customers for f in parts),
            paid_amount=sum((f.paid_amount for f in parts), ZERO),
            refunded_amount=sum((f.refunded_amount for f in parts), ZERO),
            returns_count=sum(f.returns_count for f in parts),
            net_revenue=sum((f.net_revenue for f in parts), ZERO),
            currency=currency,
        )
    return result


def snapshots_for_order(*, order_id: int, now: datetime | None = None) -> int:
    """Recompute every snapshot an order's creation, status change, refund or return may alter.

    For each period kind: the hour/day/week/month containing the order's
    ``created_at`` (in its market) and the period after it when that one has
    already started (its previous-period revenue changed). When the order's
    customer has a later non-cancelled order in the market, that order's
    periods too: whether it is the customer's first (a new customer) depends
    on this one being cancelled or not. A missing order is nothing to do.
    """
    now = now or timezone.now()
    affected = order_instants(order_id)
    if affected is None:
        return 0
    market, instants = affected
    written = 0
    for period in PERIODS:
        ranges: list[Bounds] = []
        for instant in instants:
            bounds = period_bounds(market, period, instant)
            after = period_bounds(market, period, bounds.end)
            ranges.append(Bounds(bounds.start, after.end if after.start <= now else bounds.end))
        for start, end in _merge(ranges):
            written += snapshots_upsert(market=market, period=period, start=start, end=end)
    return written


def next_order_created_at(*, market: str, user_id: int, after: datetime) -> datetime | None:
    """When the customer's next non-cancelled order in ``market`` after ``after`` was created.

    Whether that order is the customer's first (``new_customers``) depends on
    the orders before it, so a change to one of them alters its periods too.
    Replacement orders are never sales, so never anyone's first order.
    """
    return (
        Order.objects.filter(
            user_id=user_id, market=market, created_at__gt=after, is_replacement=False
        )
        .exclude(status=OrderStatus.CANCELLED)
        .order_by("created_at", "id")
        .values_list("created_at", flat=True)
        .first()
    )


def order_instants(order_id: int) -> tuple[str, list[datetime]] | None:
    """The market and the instants whose periods an order's change may alter.

    Its own ``created_at`` and, when the customer has a later non-cancelled
    order in that market, that order's ``created_at`` (whether it counts as a
    new customer depends on this one). None when the order does not exist.
    """
    order = Order.objects.filter(pk=order_id).values("market", "user_id", "created_at").first()
    if order is None:
        return None
    market = order["market"]
    instants = [order["created_at"]]
    later = next_order_created_at(
        market=market, user_id=order["user_id"], after=order["created_at"]
    )
    if later is not None:
        instants.append(later)
    return market, instants


def _merge(ranges: list[Bounds]) -> list[Bounds]:
    merged: list[Bounds] = []
    for bounds in sorted(set(ranges)):
        if merged and bounds.start <= merged[-1].end:
            merged[-1] = Bounds(merged[-1].start, max(merged[-1].end, bounds.end))
        else:
            merged.append(bounds)
    return merged


def snapshots_last_hour(
    *, now: datetime | None = None, markets: Iterable[str] | None = None
) -> int:
    """The scheduled hourly run: the last closed hour of every market."""
    now = now or timezone.now()
    written = 0
    for market in markets or Market.values:
        bounds = last_closed(market, RevenuePeriod.HOURLY, now)
        written += snapshots_upsert(
            market=market, period=RevenuePeriod.HOURLY, start=bounds.start, end=bounds.end
        )
    return written


def snapshots_after_midnight(
    *, market: str, now: datetime | None = None, reconcile_days: int | None = None
) -> date:
    """The scheduled run after ``market``'s local midnight; returns the day it closed.

    Recomputes the daily snapshots of the last ``reconcile_days`` days up to
    yesterday (default ``settings.SNAPSHOT_RECONCILE_DAYS``) and the weeks and
    months that overlap them (final when closed, otherwise up to date so far).
    Yesterday is closed that way, and a recompute lost on the way (broker down
    when an order changed) is repaired the next night. Only rows that differ
    are written.
    """
    now = now or timezone.now()
    if reconcile_days is None:
        reconcile_days = settings.SNAPSHOT_RECONCILE_DAYS
    yesterday = last_closed(market, RevenuePeriod.DAILY, now)
    day = yesterday.start.astimezone(market_config(market).time_zone).date()
    snapshots_rebuild(
        date_from=day - timedelta(days=max(reconcile_days, 1) - 1),
        date_to=day,
        markets=[market],
        periods=AFTER_MIDNIGHT_PERIODS,
        now=now,
    )
    return day


def snapshots_rebuild(
    *,
    date_from: date,
    date_to: date,
    markets: Iterable[str] | None = None,
    periods: Iterable[str] | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> int:
    """Recompute every snapshot of the local dates ``date_from``..``date_to`` (both included).

    Weeks and months that overlap the range are rebuilt whole, and since they
    are sums of the daily snapshots, asking for them rebuilds the daily
    snapshots of all their days first. Periods that have not started at
    ``now`` are skipped. Works in chunks of one month per
    (market, period), each its own transaction, so an interrupted run keeps
    what it finished and a re-run redoes the rest (writing only what changed).
    ``progress(done, total, label)`` is called after each chunk.
    Returns how many rows were written.
    """
    if date_to < date_from:
        raise ValueError("date_from is after date_to.")
    now = now or timezone.now()
    wanted = set(periods or PERIODS)
    if wanted & set(ROLLUP_PERIODS):
        wanted.add(RevenuePeriod.DAILY)
    chunks: list[tuple[str, str, Bounds]] = []
    for market in markets or Market.values:
        days = date_range_bounds(market, date_from, date_to)
        daily = days
        for rollup in wanted & set(ROLLUP_PERIODS):  # every day of every week/month touched
            daily = Bounds(
                min(daily.start, period_bounds(market, rollup, days.start).start),
                max(daily.end, period_bounds(market, rollup, days.end - _INSTANT).end),
            )
        for period in (p for p in PERIODS if p in wanted):  # daily before weekly/monthly
            span = daily if period == RevenuePeriod.DAILY else days
            start = period_bounds(market, period, span.start).start
            end = min(period_bounds(market, period, span.end - _INSTANT).end, now)
            month = period_bounds(market, RevenuePeriod.MONTHLY, start)
            while start < end:
                chunk_end = min(max(month.end, period_bounds(market, period, start).end), end)
                chunk_end = _period_ceiling(market, period, chunk_end)
                chunks.append((market, period, Bounds(start, chunk_end)))
                start = chunk_end
                month = period_bounds(market, RevenuePeriod.MONTHLY, start)
    written = 0
    for done, (market, period, bounds) in enumerate(chunks, start=1):
        written += snapshots_upsert(
            market=market, period=period, start=bounds.start, end=bounds.end
        )
        if progress:
            local = bounds.start.astimezone(market_config(market).time_zone)
            progress(done, len(chunks), f"{market} {period} {local:%Y-%m-%d}")
    return written


def _period_ceiling(market: str, period: str, moment: datetime) -> datetime:
    """``moment`` rounded up to a period boundary (a chunk never cuts a period in two)."""
    bounds = period_bounds(market, period, moment)
    return moment if bounds.start == moment else bounds.end
