"""Return reads of the manager API (SPEC §10): the list, one return, the return rate by product.

Every read takes the market it is scoped to (the view's `self.market`, the
manager's active market), so another market's return is never found: 404, no
leak. Dates are calendar dates in the market's time zone, both ends included.
Joins live here; the serializers only walk what these querysets loaded, so a
page costs the same number of queries whatever its size.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce

from main.exceptions import NotFound
from orders.models import OrderItem, OrderStatus, ReturnItem, ReturnReason, ReturnRequest
from orders.selectors import return_prefetch, return_queryset
from orders.services.returns import DEAD
from store_manager import analytics

RATIO_PLACES = Decimal("0.0001")


def _manager_returns() -> QuerySet[ReturnRequest]:
    """Returns with their order, replacement order and customer joined."""
    return return_queryset().select_related("user")


def manager_return_list(
    *,
    market: str,
    status: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[ReturnRequest]:
    """Returns of `market` created on the given market dates, newest first.

    The order and customer are joined and the lines (with their order items)
    prefetched: two queries per page plus the count, whatever the page size.
    """
    queryset = _manager_returns().filter(market=market)
    if status:
        queryset = queryset.filter(status=status)
    if date_from:
        queryset = queryset.filter(created_at__gte=analytics.local_midnight(market, date_from))
    if date_to:
        queryset = queryset.filter(
            created_at__lt=analytics.local_midnight(market, date_to + timedelta(days=1))
        )
    items = ReturnItem.objects.select_related("order_item").order_by("id")
    return queryset.prefetch_related(Prefetch("items", queryset=items)).order_by(
        "-created_at", "-id"
    )


def manager_return_get(*, market: str, return_number: str) -> ReturnRequest:
    """One return of `market` with lines, photos and history (with actors); 404 otherwise."""
    ret = (
        _manager_returns()
        .filter(market=market, return_number=return_number)
        .prefetch_related(*return_prefetch(history_actors=True))
        .first()
    )
    if ret is None:
        raise NotFound("No such return in your active market.")
    return ret


# --------------------------------------------------------------------------- return rates


def ratio(part: int, whole: int) -> Decimal | None:
    """`part / whole` with 4 decimals (half up); None when `whole` is 0."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)


def _returned_units(condition: Q | None = None) -> Coalesce:
    """Units of the outer order item in live returns (not rejected or cancelled), per item.

    A correlated subquery rather than a join: an item in two returns would
    otherwise count its sold units twice.
    """
    lines = ReturnItem.objects.filter(order_item=OuterRef("pk")).exclude(
        return_request__status__in=DEAD
    )
    if condition is not None:
        lines = lines.filter(condition)
    units = lines.order_by().values("order_item").annotate(n=Sum("quantity")).values("n")
    return Coalesce(Subquery(units, output_field=IntegerField()), Value(0))


def manager_return_rates(*, market: str, date_from: date, date_to: date) -> QuerySet:
    """Units sold and returned per product, for orders of `market` created on those dates.

    One GROUP BY over the order items of the period's orders (cancelled and
    replacement orders left out), by product (items of deleted products share
    `product_id` None; name and slug are the order snapshots'). Units returned
    are those of the items' returns that are not rejected or cancelled, whenever
    the return was made; `returned_too_small` / `returned_too_large` split them
    by reason. Rows are dicts, most returned units first, then the highest rate.
    One query for a page (plus the paginator's count).
    """
    bounds = analytics.date_range_bounds(market, date_from, date_to)
    rate = Cast(F("units_returned"), FloatField()) / Cast(F("units_sold"), FloatField())
    return (
        OrderItem.objects.filter(
            order__market=market,
            order__created_at__gte=bounds.start,
            order__created_at__lt=bounds.end,
            order__is_replacement=False,
        )
        .exclude(order__status=OrderStatus.CANCELLED)
        .order_by()
        .values("product_id")
        .annotate(
            name=Max("product_name"),
            slug=Max("product_slug"),
            units_sold=Sum("quantity"),
            units_returned=Sum(_returned_units()),
            returned_too_small=Sum(_returned_units(Q(reason=ReturnReason.SIZE_TOO_SMALL))),
            returned_too_large=Sum(_returned_units(Q(reason=ReturnReason.SIZE_TOO_LARGE))),
        )
        .annotate(rate=rate)
        .order_by("-units_returned", "-rate", F("product_id").asc(nulls_last=True))
    )
