"""The one place that computes the SPEC §3 figures, with SQL aggregation only.

A domain module, neither a service nor a selector: it defines what each figure
means and is used by both (the snapshot and report services, the revenue and
dashboard selectors), so "revenue" or "new customers" cannot mean two things. Every function
aggregates in the database (SUM/COUNT ... GROUP BY truncated local time); none
loops over orders in Python.

Definitions (SPEC §3, §4), per market, in that market's currency:

* ``revenue``: sum of ``Order.total`` of orders created in the period whose
  status is not ``cancelled``;
* ``orders_count``: how many such orders;
* ``items_sold``: sum of their items' quantities;
* ``average_order_value``: revenue / orders_count, 2 places (half-up), 0 without orders;
* ``cancelled_count``: orders created in the period that are cancelled now;
* ``new_customers``: customers whose first non-cancelled order in that market
  was created in the period;
* ``paid_amount``: sum of ``Payment.amount_captured`` over the payments of the
  orders created in the period, cancelled orders included (money captured
  before a cancellation was still taken; its refund shows in the next figure);
  cash on delivery counts once delivered (captured = total then);
* ``refunded_amount``: sum of ``Payment.amount_refunded`` (its refunds that did
  not fail) over the payments of those same orders, cancelled ones included;
* ``returns_count``: returns (``ReturnRequest``, SPEC §10) of the period's
  orders that are not ``rejected`` or ``cancelled`` (requested, approved,
  received, refunded, exchanged);
* ``net_revenue``: ``revenue`` minus what was refunded on the payments of the
  orders that count in it (the period's non-cancelled orders). A cancelled
  order's revenue never counted, so its refund is not taken from it: it shows
  in ``refunded_amount`` only.

The payment and return figures follow the order, not the money's or the
return's own date: a refund or a return made weeks later changes the period
the order was created in (the ``payment.refunded`` and ``return.status_changed``
events recompute it), so every figure of a period describes the same set of
orders. Every payment of an order counts, cancelled ones included (they hold
what they captured and refunded before being replaced); payments and returns
are summed per order in correlated subqueries, so an order with two payments
or two returns is still one order in the other figures.

SPEC §10 words ``net_revenue`` as "revenue - refunds made in the period"; like
``refunded_amount`` since issue 15 it is read as the refunds *of the period's
orders*, so it never mixes two sets of orders. It is not negative in practice
(a payment's amount is its order's total, refunded ≤ captured ≤ that amount,
and a payment replaced by another never captured anything), but only the
payments service keeps the last two facts, not the database: the snapshot and
report tables have no ``net_revenue ≥ 0`` check, so an inconsistency elsewhere
shows as a negative figure instead of a snapshot that cannot be written.

Replacement orders (``Order.is_replacement``: they ship the units of an
exchange, total 0) are not sales and count in no figure, nor in top products;
an order's customer is never made "new" by one.

Periods are half-open ``[start, end)`` and built in the market's time zone from
local wall-clock boundaries (midnight, Monday, the 1st), so a New York day is
23 or 25 hours on a daylight-saving change. Hours are real elapsed hours: the
25-hour New York day has 25 hourly periods.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDay, TruncHour, TruncMonth, TruncWeek

from main.markets import market_config
from orders.models import Order, OrderItem, OrderStatus, Payment, ReturnItem, ReturnRequest
from orders.services.returns import DEAD as DEAD_RETURN_STATUSES
from store_manager.models import RevenuePeriod

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
PERIODS: tuple[str, ...] = tuple(RevenuePeriod.values)  # hourly, daily, weekly, monthly

_TRUNC = {
    RevenuePeriod.HOURLY: TruncHour,
    RevenuePeriod.DAILY: TruncDay,
    RevenuePeriod.WEEKLY: TruncWeek,
    RevenuePeriod.MONTHLY: TruncMonth,
}


# --------------------------------------------------------------------------- figures


# The SPEC §3 figures, in the order snapshots, reports and the API list them.
FIGURE_NAMES = (
    "revenue",
    "orders_count",
    "items_sold",
    "average_order_value",
    "cancelled_count",
    "new_customers",
    "paid_amount",
    "refunded_amount",
    "returns_count",
    "net_revenue",
)


@dataclass(frozen=True)
class Figures:
    """The SPEC §3 figures of one market over one period (see the module docstring)."""

    revenue: Decimal = ZERO
    orders_count: int = 0
    items_sold: int = 0
    average_order_value: Decimal = ZERO
    cancelled_count: int = 0
    new_customers: int = 0
    paid_amount: Decimal = ZERO
    refunded_amount: Decimal = ZERO
    returns_count: int = 0
    net_revenue: Decimal = ZERO
    currency: str = ""

    def as_dict(self) -> dict[str, object]:
        """Money as 2-decimal strings: ready for JSON (reports, API payloads)."""
        return {
            "revenue": f"{self.revenue:.2f}",
            "orders_count": self.orders_count,
            "items_sold": self.items_sold,
            "average_order_value": f"{self.average_order_value:.2f}",
            "cancelled_count": self.cancelled_count,
            "new_customers": self.new_customers,
            "paid_amount": f"{self.paid_amount:.2f}",
            "refunded_amount": f"{self.refunded_amount:.2f}",
            "returns_count": self.returns_count,
            "net_revenue": f"{self.net_revenue:.2f}",
            "currency": self.currency,
        }


def average(revenue: Decimal, count: int) -> Decimal:
    """Average order value: 2 places, half-up; 0 when there are no orders."""
    if not count:
        return ZERO
    return (Decimal(revenue) / count).quantize(CENT, rounding=ROUND_HALF_UP)


def change_percent(current: Decimal, previous: Decimal | None) -> Decimal | None:
    """Change against the previous period in %, 2 places; None when there is no base (0/None)."""
    if previous is None or previous == 0:
        return None
    return ((Decimal(current) - previous) * 100 / previous).quantize(CENT, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------- periods


class Bounds(NamedTuple):
    """One period: ``start`` (inclusive) and ``end`` (exclusive) as aware UTC datetimes.

    UTC, not the market's zone, on purpose: Python compares two datetimes of
    the same zone by wall clock, ignoring ``fold``, so the two 01:00 hours of a
    New York fall-back night would compare (and hash) equal. Convert with
    ``.astimezone(market_zone(market))`` for display.
    """

    start: datetime
    end: datetime


def market_zone(market: str) -> ZoneInfo:
    return market_config(market).time_zone


def local_midnight(market: str, day: date) -> datetime:
    """00:00 of ``day`` on the market's wall clock, as an aware UTC datetime."""
    return datetime.combine(day, time(0), tzinfo=market_zone(market)).astimezone(UTC)


def local_date(market: str, moment: datetime) -> date:
    """The market's calendar date at an aware instant ("today" in Bishkek, not in UTC)."""
    return moment.astimezone(market_zone(market)).date()


def _period_first_day(period: str, day: date) -> date:
    if period == RevenuePeriod.DAILY:
        return day
    if period == RevenuePeriod.WEEKLY:
        return day - timedelta(days=day.weekday())  # ISO week: Monday
    if period == RevenuePeriod.MONTHLY:
        return day.replace(day=1)
    raise ValueError(f"Unknown period {period!r}; use one of {', '.join(PERIODS)}.")


def _next_first_day(period: str, first: date) -> date:
    if period == RevenuePeriod.DAILY:
        return first + timedelta(days=1)
    if period == RevenuePeriod.WEEKLY:
        return first + timedelta(days=7)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)  # monthly


def period_bounds(market: str, period: str, value: date | datetime) -> Bounds:
    """The period of ``market`` that contains ``value``.

    ``value`` is an aware datetime (an instant, e.g. an order's ``created_at``)
    or a date (a calendar date in the market's zone; for ``hourly`` the hour
    starting at that date's local midnight). Naive datetimes are refused.
    Boundaries are local wall-clock midnights converted to instants, never
    "start + 24 h": the New York day of 2026-03-08 is 23 hours long.
    """
    tz = market_zone(market)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("period_bounds needs an aware datetime or a date.")
        local = value.astimezone(tz)
        if period == RevenuePeriod.HOURLY:
            # Floor on the local clock (keeps `fold`, so the repeated 01:00 of a
            # fall-back night is the right one), then add a real hour in UTC.
            start_utc = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
            return Bounds(start_utc, start_utc + timedelta(hours=1))
        day = local.date()
    else:
        day = value
        if period == RevenuePeriod.HOURLY:
            start_utc = local_midnight(market, day)
            return Bounds(start_utc, start_utc + timedelta(hours=1))
    first = _period_first_day(period, day)
    return Bounds(
        local_midnight(market, first), local_midnight(market, _next_first_day(period, first))
    )


def previous_bounds(market: str, period: str, bounds: Bounds) -> Bounds:
    """The period just before ``bounds`` (yesterday, last week, last month, the hour before)."""
    return period_bounds(market, period, bounds.start - timedelta(microseconds=1))


def iter_periods(market: str, period: str, start: datetime, end: datetime) -> Iterator[Bounds]:
    """Every period of ``market`` whose start lies in ``[start, end)``, in order.

    For whole local dates use ``date_range_bounds`` to get ``start``/``end``.
    """
    bounds = period_bounds(market, period, start)
    if bounds.start < start:
        bounds = period_bounds(market, period, bounds.end)
    while bounds.start < end:
        yield bounds
        bounds = period_bounds(market, period, bounds.end)


def date_range_bounds(market: str, date_from: date, date_to: date) -> Bounds:
    """Local midnight of ``date_from`` to local midnight after ``date_to`` (both days included)."""
    return Bounds(local_midnight(market, date_from), local_midnight(market, date_to + timedelta(1)))


def last_closed(market: str, period: str, now: datetime) -> Bounds:
    """The latest period of ``market`` that has fully ended at ``now`` (e.g. yesterday)."""
    return previous_bounds(market, period, period_bounds(market, period, now))


# --------------------------------------------------------------------------- queries


def _orders(market: str, start: datetime, end: datetime) -> QuerySet[Order]:
    # `order_by()` drops Meta.ordering so it never leaks into GROUP BY. Replacement
    # orders ship an exchange (total 0): they are not sales.
    return Order.objects.filter(
        market=market, created_at__gte=start, created_at__lt=end, is_replacement=False
    ).order_by()


def _is_first_order() -> Exists:
    """True for an order that is its customer's first non-cancelled order in its market.

    Ties on `created_at` are broken by id, so every customer has exactly one
    first order and counting first orders counts new customers.
    """
    earlier = (
        Order.objects.filter(
            user_id=OuterRef("user_id"), market=OuterRef("market"), is_replacement=False
        )
        .exclude(status=OrderStatus.CANCELLED)
        .filter(
            Q(created_at__lt=OuterRef("created_at"))
            | Q(created_at=OuterRef("created_at"), id__lt=OuterRef("id"))
        )
    )
    return ~Exists(earlier)


_LIVE = ~Q(status=OrderStatus.CANCELLED)
_MONEY = DecimalField(max_digits=14, decimal_places=2)


def payments_total(field: str, order_ref: str = "pk") -> Subquery:
    """The sum of ``field`` over an order's payments (NULL without one), per order.

    A correlated subquery rather than a join: joining payments would repeat an
    order with two payments (a cancelled one and its replacement) and count
    its total, items and customer twice. ``order_ref`` names the order's id in
    the outer query (``"order_id"`` from an order item).
    """
    totals = (
        Payment.objects.filter(order=OuterRef(order_ref))
        .order_by()
        .values("order")
        .annotate(amount=Sum(field))
        .values("amount")
    )
    return Subquery(totals, output_field=_MONEY)


def returns_count_per_order(order_ref: str = "pk") -> Subquery:
    """How many live returns (not rejected or cancelled) an order has (NULL without one).

    A correlated subquery like ``payments_total``, for the same reason: a join
    would repeat an order with two returns in every other figure.
    """
    counts = (
        ReturnRequest.objects.filter(order=OuterRef(order_ref))
        .exclude(status__in=DEAD_RETURN_STATUSES)
        .order_by()
        .values("order")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Subquery(counts, output_field=IntegerField())


def returned_units_per_order(order_ref: str = "pk") -> Subquery:
    """How many units an order's live returns take back (NULL without one), per order."""
    units = (
        ReturnItem.objects.filter(return_request__order=OuterRef(order_ref))
        .exclude(return_request__status__in=DEAD_RETURN_STATUSES)
        .order_by()
        .values("return_request__order")
        .annotate(n=Sum("quantity"))
        .values("n")
    )
    return Subquery(units, output_field=IntegerField())


def _order_aggregates() -> dict[str, object]:
    return {
        "revenue": Coalesce(Sum("total", filter=_LIVE), Value(ZERO), output_field=_MONEY),
        "orders_count": Count("id", filter=_LIVE),
        "cancelled_count": Count("id", filter=Q(status=OrderStatus.CANCELLED)),
        "new_customers": Count("id", filter=_LIVE & Q(_is_first_order())),
        # Every order of the period, cancelled ones too (a refund can follow a cancellation).
        "paid_amount": Coalesce(
            Sum(payments_total("amount_captured")), Value(ZERO), output_field=_MONEY
        ),
        "refunded_amount": Coalesce(
            Sum(payments_total("amount_refunded")), Value(ZERO), output_field=_MONEY
        ),
        "returns_count": Coalesce(Sum(returns_count_per_order()), 0),
        # Revenue less the refunds of the same orders: a cancelled order's refund
        # is not taken from a revenue it never counted in.
        "net_revenue": Coalesce(
            Sum(
                F("total")
                - Coalesce(payments_total("amount_refunded"), Value(ZERO), output_field=_MONEY),
                filter=_LIVE,
            ),
            Value(ZERO),
            output_field=_MONEY,
        ),
    }


def _live_items(market: str, start: datetime, end: datetime) -> QuerySet[OrderItem]:
    return (
        OrderItem.objects.filter(
            order__market=market,
            order__created_at__gte=start,
            order__created_at__lt=end,
            order__is_replacement=False,
        )
        .exclude(order__status=OrderStatus.CANCELLED)
        .order_by()
    )


def _figures(market: str, row: dict, items: int | None) -> Figures:
    revenue = Decimal(row["revenue"] or 0).quantize(CENT)
    count = row["orders_count"] or 0
    return Figures(
        revenue=revenue,
        orders_count=count,
        items_sold=items or 0,
        average_order_value=average(revenue, count),
        cancelled_count=row["cancelled_count"] or 0,
        new_customers=row["new_customers"] or 0,
        paid_amount=Decimal(row["paid_amount"] or 0).quantize(CENT),
        refunded_amount=Decimal(row["refunded_amount"] or 0).quantize(CENT),
        returns_count=row["returns_count"] or 0,
        net_revenue=Decimal(row["net_revenue"] or 0).quantize(CENT),
        currency=market_config(market).currency,
    )


def period_figures(*, market: str, start: datetime, end: datetime) -> Figures:
    """Figures of ``market`` for orders created in ``[start, end)`` (two SQL queries).

    The payment and return figures come in the first query, as per-order
    subqueries over payments and returns.

    ``start``/``end`` are aware datetimes, usually from ``period_bounds`` or
    ``date_range_bounds``.
    """
    row = _orders(market, start, end).aggregate(**_order_aggregates())
    items = _live_items(market, start, end).aggregate(n=Sum("quantity"))["n"]
    return _figures(market, row, items)


def _bucket(period: str, field: str, tz: ZoneInfo):
    if period == RevenuePeriod.HOURLY:
        # Hours are truncated in UTC: our zones' offsets are whole hours, and a
        # local-clock truncation would merge the two 01:00 hours of a fall-back night.
        return TruncHour(field, tzinfo=UTC)
    return _TRUNC[period](field, tzinfo=tz)


def bucket_figures(
    *, market: str, period: str, start: datetime, end: datetime
) -> dict[datetime, Figures]:
    """Figures per period of ``market`` for every period starting in ``[start, end)``.

    One GROUP BY query over orders (their payments and returns summed per
    order in subqueries) and one over order items, both grouped by the creation time
    truncated in the market's time zone. The result is ordered by period
    start and zero-filled (a period without orders is present with zero
    figures). Keys are the periods' starts as aware UTC
    datetimes, equal to ``period_bounds(...).start``; ``start``/``end``
    should be period boundaries (orders outside ``[start, end)`` never count).
    """
    tz = market_zone(market)
    rows = (
        _orders(market, start, end)
        .annotate(bucket=_bucket(period, "created_at", tz))
        .values("bucket")
        .annotate(**_order_aggregates())
    )
    items = (
        _live_items(market, start, end)
        .annotate(bucket=_bucket(period, "order__created_at", tz))
        .values("bucket")
        .annotate(n=Sum("quantity"))
    )
    items_by_start = {period_bounds(market, period, r["bucket"]).start: r["n"] for r in items}
    figures = {period_bounds(market, period, r["bucket"]).start: r for r in rows}
    empty = {
        "revenue": ZERO,
        "orders_count": 0,
        "cancelled_count": 0,
        "new_customers": 0,
        "paid_amount": ZERO,
        "refunded_amount": ZERO,
        "returns_count": 0,
        "net_revenue": ZERO,
    }
    return {
        b.start: _figures(market, figures.get(b.start, empty), items_by_start.get(b.start))
        for b in iter_periods(market, period, start, end)
    }


def top_products(
    *, market: str, start: datetime, end: datetime, limit: int = 10
) -> dict[str, list[dict[str, object]]]:
    """Best sellers of ``market`` in ``[start, end)``: ``{"by_revenue": [...], "by_units": [...]}``.

    One GROUP BY over order items of non-cancelled orders (replacement orders
    left out: they are not sales), by product (items of a deleted product
    share ``product_id`` None). Each entry:
    ``{"product_id", "name", "slug", "revenue", "units"}`` with revenue as a
    2-decimal string in the market's currency.
    """
    rows = (
        _live_items(market, start, end)
        .values("product_id")
        .annotate(
            name=Max("product_name"),
            slug=Max("product_slug"),
            revenue=Coalesce(Sum("line_total"), Value(ZERO), output_field=_MONEY),
            units=Coalesce(Sum("quantity"), 0),
        )
    )

    def _rows(*ordering):
        return [
            {
                "product_id": r["product_id"],
                "name": r["name"],
                "slug": r["slug"],
                "revenue": f"{Decimal(r['revenue']):.2f}",
                "units": r["units"],
            }
            for r in rows.order_by(*ordering, F("product_id").asc(nulls_last=True))[:limit]
        ]

    return {"by_revenue": _rows("-revenue", "-units"), "by_units": _rows("-units", "-revenue")}
