"""Demo returns for `manage.py seed_demo`: some delivered orders come back, mostly for size.

Made through the real returns service (its rules, its stock holds, its refunds
through the order's payment), then back-dated after the delivery, so the
manager's returns list, the return-rate report, the figures and the products'
fit summaries have something to show. About one delivered order in four,
within the market's return window; reasons lean to size, as they do in fashion.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.utils import timezone

from main.exceptions import ApplicationError
from orders import events
from orders.models import (
    Order,
    OrderStatus,
    ReturnItem,
    ReturnReason,
    ReturnRequest,
    ReturnStatusHistory,
)
from orders.services import returns
from products.models import SKU
from reviews.services import product_fit_refresh
from users.models import User

REASONS = [
    ReturnReason.SIZE_TOO_SMALL,
    ReturnReason.SIZE_TOO_SMALL,
    ReturnReason.SIZE_TOO_LARGE,
    ReturnReason.SIZE_TOO_LARGE,
    ReturnReason.NOT_AS_PICTURED,
    ReturnReason.DEFECTIVE,
    ReturnReason.CHANGED_MIND,
]


# How far a return has got, by days since its delivery: fresh ones still wait for a manager.
def _outcome(rng: random.Random, age_days: float) -> str:
    if age_days < 4:
        return "requested"
    if age_days < 7:
        return rng.choice(["approved", "approved", "rejected"])
    return rng.choice(["done", "done", "done", "rejected"])


def seed_returns(*, staff: User | None, now: datetime | None = None, seed: int = 2026) -> int:
    """Returns for about one delivered order in four; returns how many were made."""
    now = now or timezone.now()
    if ReturnRequest.objects.exists():
        return 0
    rng = random.Random(seed)
    delivered = Order.objects.filter(
        status=OrderStatus.DELIVERED, is_replacement=False, delivered_at__isnull=False
    ).order_by("delivered_at", "pk")
    made = 0
    with events.quiet():
        for order in delivered:
            closes = order.delivered_at + returns.return_window(order.market)
            if closes <= now or rng.random() > 0.25:
                continue
            made += _one_return(rng, order, staff, now=now)
    # Events were held back: the products' fit summaries count the size returns now.
    product_fit_refresh(
        product_ids=ReturnItem.objects.values_list("order_item__product_id", flat=True)
    )
    return made


def _one_return(rng: random.Random, order: Order, staff: User | None, *, now: datetime) -> int:
    item = rng.choice(list(order.items.all()))
    reason = rng.choice(REASONS)
    line = {"order_item_id": item.pk, "quantity": 1, "reason": reason}
    if reason in returns.SIZE_REASONS and item.sku_id and rng.random() < 0.5:
        other = (
            SKU.objects.filter(product_id=item.product_id, color=item.color, is_active=True)
            .exclude(pk=item.sku_id)
            .filter(stock__gt=0)
            .first()
        )
        if other is not None:
            line["exchange_sku_id"] = other.pk
    try:
        ret = returns.return_request_create(
            user=order.user,
            order_number=order.order_number,
            items=[line],
            note=rng.choice(["", "", "Does not fit well", "Colour differs from the photos"]),
        )
        outcome = _outcome(rng, (now - order.delivered_at).total_seconds() / 86400)
        if outcome == "rejected":
            returns.return_transition(ret=ret, to_status="rejected", actor=staff,
                                      note="Worn and washed")  # fmt: skip
        elif outcome != "requested":
            ret = returns.return_transition(ret=ret, to_status="approved", actor=staff)
            if outcome == "done":
                counts = [{"id": x.pk, "received_quantity": x.quantity, "damaged_quantity": 0}
                          for x in ret.items.all()]  # fmt: skip
                ret = returns.return_receive(ret=ret, actor=staff, items=counts)
                if ret.status == "received":
                    returns.return_refund(ret=ret, actor=staff, method="cash")
    except ApplicationError:  # e.g. the exchange size sold out meanwhile: no return then
        return 0
    _backdate(ret, order.delivered_at, now=now, rng=rng)
    return 1


def _backdate(ret: ReturnRequest, delivered_at: datetime, *, now: datetime, rng) -> None:
    """Spread the return's steps over the days after delivery (never in the future)."""
    at = min(delivered_at + timedelta(hours=rng.uniform(12, 96)), now)
    dates = {"created_at": at}
    for history in ReturnStatusHistory.objects.filter(return_request=ret).order_by("id"):
        ReturnStatusHistory.objects.filter(pk=history.pk).update(created_at=at)
        milestone = _MILESTONES.get(history.to_status)
        if milestone:
            dates[milestone] = at
        at = min(at + timedelta(hours=rng.uniform(6, 48)), now)
    ReturnRequest.objects.filter(pk=ret.pk).update(updated_at=at, **dates)


_MILESTONES = {
    "approved": "approved_at",
    "received": "received_at",
    **dict.fromkeys(("refunded", "exchanged", "rejected", "cancelled"), "closed_at"),
}
