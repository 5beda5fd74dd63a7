"""Orders: the status machine. Every status change goes through `order_transition`.

It locks the order row, so racing changes queue and the loser sees the winner's
status; stock returns exactly once on cancellation and is taken again on
resume. Side effects (notifications, snapshot recomputes, catalogue cache) are
queued by `orders.events` to run after commit.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from main.exceptions import Conflict, NotFound
from orders import events
from orders.models import Order, OrderStatus, OrderStatusHistory
from orders.services.payments import payment_on_transition
from products.services import stock
from users.models import User

S = OrderStatus

# The only moves an order can make (SPEC §4). `cancelled → pending` is "resume": managers only.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.CONFIRMED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.PROCESSING, S.CANCELLED}),
    S.PROCESSING: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset({S.PENDING}),
}
# A customer may cancel its own order only this early.
CUSTOMER_CANCELLABLE = frozenset({S.PENDING, S.CONFIRMED})
# The timestamp each status sets when reached.
MILESTONES = {
    S.CONFIRMED: "confirmed_at",
    S.SHIPPED: "shipped_at",
    S.DELIVERED: "delivered_at",
    S.CANCELLED: "cancelled_at",
}


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_detail = "The order cannot move to that status."


class OrderNotFound(NotFound):
    default_detail = "No such order."


def order_transition(
    *,
    order: Order,
    to_status: str,
    actor: User | None,
    note: str = "",
    by_manager: bool = False,
    allowed_from: frozenset[str] | None = None,
    at=None,
) -> Order:
    """Move an order to `to_status`: the one function every status change goes through.

    Locks the order row, so racing changes queue and the loser sees the winner's
    status. Checks the transition table (resume `cancelled → pending` only
    `by_manager`; `allowed_from` narrows the starting statuses, e.g. for customers),
    moves the money (`payments.payment_on_transition`: capture at shipping,
    cash collected at delivery, void or refund at cancelling, a new payment on
    resume), returns stock on cancellation and takes it again on resume (409
    `out_of_stock` if it is gone), sets the milestone timestamp, records the history row with the
    actor and queues the after-commit side effects. `at` back-dates the change
    (demo data); it defaults to now. Returns the updated order.
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        from_status = locked.status
        allowed = TRANSITIONS[from_status]
        if allowed_from is not None and from_status not in allowed_from:
            allowed = frozenset()
        if from_status == S.CANCELLED and not by_manager:
            allowed = frozenset()
        if to_status not in allowed:
            raise InvalidTransition(
                f"An order that is {from_status} cannot become {to_status}.",
                extra={"status": from_status},
            )

        # The money first: a capture at shipping or a void at cancelling that the
        # provider refuses leaves the order as it was.
        payment_on_transition(order=locked, from_status=from_status, to_status=to_status, at=at)

        moved_stock = to_status == S.CANCELLED or from_status == S.CANCELLED
        if moved_stock:
            quantities = dict(locked.items.exclude(sku=None).values_list("sku_id", "quantity"))
            locked_skus = stock.lock_skus(quantities)
            if to_status == S.CANCELLED:
                stock.put_back(locked_skus, quantities)
            else:
                gone = [
                    (item.sku_code, f"{item.product_name} ({item.size}, {item.color})")
                    for item in locked.items.filter(sku=None)
                ]
                if gone:
                    raise stock.out_of_stock(gone=gone)
                stock.take(locked_skus, quantities)

        now = at or timezone.now()
        locked.status = to_status
        update = ["status", "updated_at"]
        if to_status in MILESTONES:
            setattr(locked, MILESTONES[to_status], now)
            update.append(MILESTONES[to_status])
        if to_status == S.CANCELLED:
            locked.cancel_reason = note[:500]
            update.append("cancel_reason")
        elif from_status == S.CANCELLED:
            locked.cancelled_at, locked.cancel_reason = None, ""
            update += ["cancelled_at", "cancel_reason"]
        locked.save(update_fields=update)
        history = OrderStatusHistory.objects.create(
            order=locked, from_status=from_status, to_status=to_status, changed_by=actor, note=note
        )
        if at is not None:
            OrderStatusHistory.objects.filter(pk=history.pk).update(created_at=at)
        events.order_status_changed(locked, event_id=history.pk, from_status=from_status)
    return locked


def order_cancel_by_customer(*, user: User, order_number: str, reason: str = "") -> Order:
    """A customer cancels its own order while it is pending or confirmed."""
    order = Order.objects.filter(user=user, order_number=order_number).first()
    if order is None:
        raise OrderNotFound()
    return order_transition(
        order=order,
        to_status=S.CANCELLED,
        actor=user,
        note=reason,
        allowed_from=CUSTOMER_CANCELLABLE,
    )
