"""Order reads of the manager API: the list with its filters and search, one order.

Every read takes the market it is scoped to. Views get `market` from the base
view (`ManagerAPIView.market`, the manager's active market), so an object of
another market is never found: 404, no leak. Joins live here; serializers only
walk what these querysets loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import IntegerField, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from main.exceptions import ApplicationError, NotFound
from main.markets import parse_phone
from orders.models import Order, OrderItem, OrderStatusHistory
from orders.selectors import payment_prefetch
from store_manager import analytics
from users.models import User

# `ordering=` values of manager/orders/ (each also with a leading "-").
ORDER_ORDERINGS: tuple[str, ...] = ("created_at", "total", "order_number", "status")


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
            *payment_prefetch(),
        )
        .first()
    )
    if order is None:
        raise NotFound("No such order in your active market.")
    return order
