"""Manager order actions: status changes, cancel, resume, bulk changes (each logged).

Order status changes go through `orders.services.transitions.order_transition`
(the one status machine, SPEC §4); it locks the order, writes the history and
notifies the customer, and these functions add the audit trail.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from main.exceptions import ApplicationError, NotFound
from orders.models import Order, OrderStatus, Refund
from orders.services.payments import payment_refund
from orders.services.transitions import InvalidTransition, order_transition
from store_manager.models import ManagerActivityLog, StoreManager
from store_manager.services.activity import Action, RequestMeta, activity_log_write


class OrdersNotFound(NotFound):
    default_detail = "Some orders are not in your active market."


def _log_order(
    *, manager: StoreManager, action: str, order: Order, before: str, note: str, meta: RequestMeta
) -> ManagerActivityLog:
    return activity_log_write(
        manager=manager,
        action=action,
        market=order.market,
        meta=meta,
        object_type="order",
        object_id=order.order_number,
        description=f"{order.order_number}: {before} → {order.status}",
        before={"status": before},
        after={"status": order.status},
        metadata={"note": note},
    )


def _transition_logged(
    *,
    manager: StoreManager,
    order: Order,
    to_status: str,
    note: str,
    action: str,
    meta: RequestMeta,
) -> Order:
    with transaction.atomic():
        # The status before, read under the lock order_transition takes: a racing
        # change that committed first is what "before" must show.
        before = Order.objects.select_for_update().values_list("status", flat=True).get(pk=order.pk)
        order = order_transition(
            order=order, to_status=to_status, actor=manager.user, note=note, by_manager=True
        )
        _log_order(manager=manager, action=action, order=order, before=before, note=note, meta=meta)
    return order


# Statuses `…/status/` can set: cancelling and resuming have their own endpoints
# (and need `can_cancel_orders`).
STATUS_TARGETS: tuple[str, ...] = (
    OrderStatus.CONFIRMED,
    OrderStatus.PROCESSING,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
)


def manager_order_status_change(
    *, manager: StoreManager, order: Order, to_status: str, note: str = "", meta: RequestMeta
) -> Order:
    """Move an order along the pipeline (not to cancelled or back to pending)."""
    if to_status not in STATUS_TARGETS:
        raise InvalidTransition(
            "Use manager/orders/{order_number}/cancel/ or …/resume/ for that status.",
            extra={"status": order.status},
        )
    return _transition_logged(
        manager=manager,
        order=order,
        to_status=to_status,
        note=note,
        action=Action.ORDER_STATUS_CHANGED,
        meta=meta,
    )


def manager_order_cancel(
    *, manager: StoreManager, order: Order, reason: str = "", meta: RequestMeta
) -> Order:
    """Cancel an order (stock returns once); the reason becomes `cancel_reason`."""
    return _transition_logged(
        manager=manager,
        order=order,
        to_status=OrderStatus.CANCELLED,
        note=reason,
        action=Action.ORDER_CANCELLED,
        meta=meta,
    )


def manager_order_resume(
    *, manager: StoreManager, order: Order, note: str = "", meta: RequestMeta
) -> Order:
    """Bring a cancelled order back to pending, taking its stock again (409 `out_of_stock`)."""
    return _transition_logged(
        manager=manager,
        order=order,
        to_status=OrderStatus.PENDING,
        note=note,
        action=Action.ORDER_RESUMED,
        meta=meta,
    )


def manager_order_refund(
    *,
    manager: StoreManager,
    order: Order,
    amount: Decimal | None,
    reason: str = "",
    method: str | None = None,
    meta: RequestMeta,
) -> Refund:
    """Give money back on a paid order (SPEC §8), logged; the customer is notified.

    `amount` defaults to what is left. A card is refunded at the provider; a
    cash-on-delivery order records `method` cash (default) or bank_transfer.
    """
    with transaction.atomic():
        refund = payment_refund(
            order=order, amount=amount, reason=reason, method=method, actor=manager.user
        )
        payment = refund.payment
        activity_log_write(
            manager=manager,
            action=Action.ORDER_REFUNDED,
            market=order.market,
            meta=meta,
            object_type="order",
            object_id=order.order_number,
            description=f"{order.order_number}: refunded {refund.amount} {order.currency} "
            f"({refund.method})",
            before={"amount_refunded": str(payment.amount_refunded - refund.amount)},
            after={"amount_refunded": str(payment.amount_refunded)},
            metadata={"reason": reason, "method": refund.method, "amount": str(refund.amount)},
        )
    return refund


@transaction.atomic
def manager_order_bulk_status(
    *,
    manager: StoreManager,
    market: str,
    order_numbers: list[str],
    to_status: str,
    note: str = "",
    meta: RequestMeta,
) -> list[Order]:
    """Move several orders of `market` to `to_status`: all of them or none.

    One transaction; the orders are locked in id order (so two bulk changes over
    overlapping orders queue instead of deadlocking), every transition is checked
    by the status machine, and the first refusal rolls everything back with a
    409 naming that order. Order numbers outside `market` answer 404 (no leak).
    """
    if to_status not in STATUS_TARGETS:
        raise InvalidTransition("Bulk changes cannot cancel or resume orders.")
    numbers = list(dict.fromkeys(order_numbers))
    locked = list(
        Order.objects.select_for_update()
        .filter(market=market, order_number__in=numbers)
        .order_by("id")
    )
    missing = sorted(set(numbers) - {order.order_number for order in locked})
    if missing:
        raise OrdersNotFound(extra={"order_numbers": missing})
    changed = []
    for order in locked:
        before = order.status
        try:
            order = order_transition(
                order=order, to_status=to_status, actor=manager.user, note=note, by_manager=True
            )
        except ApplicationError as error:
            error.extra = {**error.extra, "order_number": order.order_number}
            error.detail = f"{order.order_number}: {error.detail} Nothing was changed."
            raise
        changed.append(order)
        _log_order(
            manager=manager,
            action=Action.ORDER_BULK_STATUS_CHANGED,
            order=order,
            before=before,
            note=note,
            meta=meta,
        )
    by_number = {order.order_number: order for order in changed}
    return [by_number[number] for number in numbers]
