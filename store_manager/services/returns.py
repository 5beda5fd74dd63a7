"""Manager return actions: approve, reject, receive, refund (SPEC §10), each logged.

Every status change of a return happens in `orders.services.returns` (the one
status machine: locks, history with the actor, stock, replacement orders,
refunds, the `return.status_changed` event). These functions call it with the
manager's user as the actor and add the audit row (`ManagerActivityLog`) in the
same transaction: a row exists if and only if the change committed, and a
refused step (409 `invalid_transition`, 400 …) writes nothing.

The return handed in was read in the manager's active market
(`store_manager.selectors.returns.manager_return_get`), so another market's
return never reaches here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction

from orders.models import Order, Refund, ReturnRequest, ReturnStatus
from orders.services.returns import return_receive, return_refund, return_transition
from store_manager.models import ManagerActivityLog, StoreManager
from store_manager.services.activity import Action, RequestMeta, activity_log_write


def _status_before(ret: ReturnRequest) -> str:
    """The return's status read under the locks the status machine takes, in its order.

    The order row first, then the return row (as `orders.services.returns` locks
    them), so that a change that committed just before is the "before" of the
    log, and two managers acting on one return queue instead of deadlocking.
    """
    Order.objects.select_for_update().filter(pk=ret.order_id).values_list("pk").get()
    return ReturnRequest.objects.select_for_update().values_list("status", flat=True).get(pk=ret.pk)


def _log_return(
    *,
    manager: StoreManager,
    action: str,
    ret: ReturnRequest,
    before: str,
    meta: RequestMeta,
    metadata: dict[str, Any],
    description: str = "",
) -> ManagerActivityLog:
    return activity_log_write(
        manager=manager,
        action=action,
        market=ret.market,
        meta=meta,
        object_type="return",
        object_id=ret.return_number,
        description=description or f"{ret.return_number}: {before} → {ret.status}",
        before={"status": before},
        after={"status": ret.status},
        metadata={"order_number": ret.order.order_number, **metadata},
    )


def _transition_logged(
    *,
    manager: StoreManager,
    ret: ReturnRequest,
    to_status: str,
    note: str,
    action: str,
    metadata: dict[str, Any],
    meta: RequestMeta,
) -> ReturnRequest:
    """A plain step (`return_transition`) and its audit row, in one transaction."""
    with transaction.atomic():
        before = _status_before(ret)
        ret = return_transition(ret=ret, to_status=to_status, actor=manager.user, note=note)
        _log_return(
            manager=manager, action=action, ret=ret, before=before, meta=meta, metadata=metadata
        )
    return ret


def manager_return_approve(
    *, manager: StoreManager, ret: ReturnRequest, note: str = "", meta: RequestMeta
) -> ReturnRequest:
    """requested → approved: the customer may send the parcel (409 `invalid_transition`)."""
    return _transition_logged(
        manager=manager,
        ret=ret,
        to_status=ReturnStatus.APPROVED,
        note=note,
        action=Action.RETURN_APPROVED,
        metadata={"note": note},
        meta=meta,
    )


def manager_return_reject(
    *, manager: StoreManager, ret: ReturnRequest, reason: str, meta: RequestMeta
) -> ReturnRequest:
    """requested → rejected with a reason (kept as `reject_reason`); exchange holds go back."""
    return _transition_logged(
        manager=manager,
        ret=ret,
        to_status=ReturnStatus.REJECTED,
        note=reason,
        action=Action.RETURN_REJECTED,
        metadata={"reason": reason},
        meta=meta,
    )


def manager_return_receive(
    *,
    manager: StoreManager,
    ret: ReturnRequest,
    items: Sequence[dict[str, int]],
    note: str = "",
    meta: RequestMeta,
) -> ReturnRequest:
    """approved → received (→ exchanged): what arrived, per line; sound units go back to stock.

    `items`: `{id, received_quantity, damaged_quantity}` for every line of the
    return. Received exchange lines ship in a replacement order; a return with
    nothing left to refund then becomes `exchanged` (the log's "after").
    """
    with transaction.atomic():
        before = _status_before(ret)
        ret = return_receive(ret=ret, actor=manager.user, items=items, note=note)
        received = [
            {
                "id": entry["id"],
                "received_quantity": entry["received_quantity"],
                "damaged_quantity": entry.get("damaged_quantity", 0),
            }
            for entry in items
        ]
        replacement = ret.replacement_order
        _log_return(
            manager=manager,
            action=Action.RETURN_RECEIVED,
            ret=ret,
            before=before,
            meta=meta,
            metadata={
                "note": note,
                "items": received,
                "restocked": sum(e["received_quantity"] - e["damaged_quantity"] for e in received),
                "replacement_order_number": replacement.order_number if replacement else None,
            },
        )
    return ret


def manager_return_refund(
    *,
    manager: StoreManager,
    ret: ReturnRequest,
    amount: Decimal | None = None,
    method: str | None = None,
    reason: str = "",
    meta: RequestMeta,
) -> Refund | None:
    """received → refunded, through the order's payment (SPEC §8), logged.

    `amount` defaults to what the received units of the return's refund lines
    were bought for (at most what is left to refund); an explicit amount may be
    larger but never more than paid - refunded (400 `refund_exceeds_paid`).
    Cash on delivery records `method` cash (default) or bank_transfer; a card is
    refunded at the provider. Refused: 409 `invalid_transition`, `not_refundable`,
    `payment_refused`; 503 when the provider cannot be reached. Nothing changes then.
    """
    with transaction.atomic():
        before = _status_before(ret)
        refund = return_refund(
            ret=ret, actor=manager.user, amount=amount, method=method, reason=reason
        )
        ret.refresh_from_db(fields=["status", "refunded_amount", "closed_at", "updated_at"])
        given = refund.amount if refund is not None else Decimal("0.00")
        _log_return(
            manager=manager,
            action=Action.RETURN_REFUNDED,
            ret=ret,
            before=before,
            meta=meta,
            description=f"{ret.return_number}: refunded {given} {ret.currency}"
            + (f" ({refund.method})" if refund is not None else " (settled, no money moved)"),
            metadata={
                "reason": reason,
                "method": refund.method if refund is not None else None,
                "amount": str(given),
                "refund_id": refund.pk if refund is not None else None,
            },
        )
    return refund
