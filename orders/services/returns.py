"""Orders: returns and exchanges (SPEC §10). Every change to a return happens here.

One status machine, `return_transition`, like the order's:

    requested → approved → received → refunded | exchanged
    requested → rejected      requested → cancelled (by the customer)

Every step locks the order row first (then the return row, then SKUs in id
order, then products: the order of checkout and `order_transition`), so two
returns of one order, a manager's approve and the customer's cancel, or a
refund and a receive queue behind each other and the loser sees the winner's
status. Every change writes a history row with its actor and publishes
`return.status_changed` in its transaction (customer notification, socket
frames, the figures and the product's fit: docs/EVENTS.md).

The rules each step keeps:

* a request names delivered items of the customer's own order, inside the
  market's `RETURN_WINDOW_DAYS`, never more units than bought minus those
  already in a live return (requested, approved, received, refunded, exchanged);
* an exchange line names another SKU of the same product, sold in the market;
  its units are taken from stock at once (`products.services.stock`, the locks
  of checkout) and put back on rejection or cancellation, and for every unit
  that never came back;
* on receipt only sound units (received - damaged) go back to stock; the
  received units of exchange lines ship in a replacement order (total 0, the
  order's address, `confirmed`), and a return with nothing left to refund is
  then `exchanged`;
* a refund goes through the order's payment (`payments.payment_refund`: Stripe
  for a card, a recorded cash or bank transfer for cash on delivery), never
  more than was paid minus what was refunded.
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from main.exceptions import ApplicationError, Conflict, InvalidInput, NotFound
from main.images import images_clean
from orders import events
from orders.models import (
    SHIPPING_FIELDS,
    Order,
    OrderItem,
    OrderStatus,
    OrderStatusHistory,
    PaymentMethodType,
    Refund,
    RefundStatus,
    ReturnImage,
    ReturnItem,
    ReturnReason,
    ReturnRequest,
    ReturnStatus,
    ReturnStatusHistory,
)
from orders.payments.providers import PaymentRefused
from orders.services.checkout import (
    ORDER_NUMBER_ALPHABET,
    ORDER_NUMBER_LENGTH,
    create_with_number,
)
from orders.services.payments import NotRefundable, payment_refund, payment_start
from products.models import SKU, ProductPrice, is_sellable
from products.services import stock
from users.models import User

R = ReturnStatus
ZERO = Decimal("0.00")
RETURN_MAX_IMAGES = 5
RETURN_NOTE_MAX_LENGTH = 1000
_NUMBER_ATTEMPTS = 5

TRANSITIONS: dict[str, frozenset[str]] = {
    R.REQUESTED: frozenset({R.APPROVED, R.REJECTED, R.CANCELLED}),
    R.APPROVED: frozenset({R.RECEIVED}),
    R.RECEIVED: frozenset({R.REFUNDED, R.EXCHANGED}),
    R.REJECTED: frozenset(),
    R.CANCELLED: frozenset(),
    R.REFUNDED: frozenset(),
    R.EXCHANGED: frozenset(),
}
# Returns whose units count as returned (or on their way back).
DEAD = frozenset({R.REJECTED, R.CANCELLED})
CLOSING = frozenset({R.REJECTED, R.CANCELLED, R.REFUNDED, R.EXCHANGED})
# The reasons that say the size was wrong: they feed the product's fit summary.
SIZE_REASONS = frozenset({ReturnReason.SIZE_TOO_SMALL, ReturnReason.SIZE_TOO_LARGE})


class ReturnNotFound(NotFound):
    default_detail = "No such return."


class ReturnInvalidTransition(Conflict):
    code = "invalid_transition"
    default_detail = "The return cannot move to that status."


class ReturnWindowClosed(Conflict):
    code = "return_window_closed"
    default_detail = "The return window of this order has closed."


class ReturnQuantityExceeded(ApplicationError):
    code = "return_quantity_exceeded"
    default_detail = "More units than were bought and not yet returned."


class ExchangeInvalid(ApplicationError):
    code = "exchange_invalid"
    default_detail = "An exchange must name another size or colour of the same product."


def return_window(market: str) -> timedelta:
    return timedelta(days=settings.RETURN_WINDOW_DAYS[market])


def new_return_number() -> str:
    suffix = "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))
    return f"R-{suffix}"


# --------------------------------------------------------------------------- the machine


def _locked(ret: ReturnRequest) -> tuple[Order, ReturnRequest]:
    """The order row, then the return row, locked (the caller holds a transaction)."""
    order = Order.objects.select_for_update().get(pk=ret.order_id)
    locked = ReturnRequest.objects.select_for_update().get(pk=ret.pk)
    locked.order = order
    return order, locked


def _check(ret: ReturnRequest, to_status: str, allowed_from: frozenset[str] | None = None) -> None:
    allowed = TRANSITIONS[ret.status]
    if allowed_from is not None and ret.status not in allowed_from:
        allowed = frozenset()
    if to_status not in allowed:
        raise ReturnInvalidTransition(
            f"A return that is {ret.status} cannot become {to_status}.",
            extra={"status": ret.status},
        )


def _move(
    ret: ReturnRequest, *, to_status: str, actor: User | None, note: str = ""
) -> ReturnStatusHistory:
    """Set the status and its milestone, write the history row, publish the event."""
    from_status = ret.status
    now = timezone.now()
    ret.status = to_status
    update = ["status", "updated_at"]
    milestone = {R.APPROVED: "approved_at", R.RECEIVED: "received_at"}.get(to_status)
    if to_status in CLOSING:
        milestone = "closed_at"
    if milestone:
        setattr(ret, milestone, now)
        update.append(milestone)
    ret.save(update_fields=update)
    return _history(ret, from_status=from_status, actor=actor, note=note)


def _history(ret: ReturnRequest, *, from_status: str | None, actor, note: str):
    history = ReturnStatusHistory.objects.create(
        return_request=ret,
        from_status=from_status,
        to_status=ret.status,
        changed_by=actor,
        note=note[:500],
    )
    events.return_status_changed(ret, event_id=history.pk, from_status=from_status)
    return history


# The steps `return_transition` makes; receiving and refunding have their own functions.
_PLAIN_STEPS = frozenset({R.APPROVED, R.REJECTED, R.CANCELLED})


def return_transition(
    *,
    ret: ReturnRequest,
    to_status: str,
    actor: User | None,
    note: str = "",
    allowed_from: frozenset[str] | None = None,
) -> ReturnRequest:
    """Approve, reject or cancel a return (the steps with no payload of their own).

    Rejection and cancellation give an exchange's held units back to stock.
    `note` is the rejection reason (kept in `reject_reason` too) or a remark.
    """
    if to_status not in _PLAIN_STEPS:
        raise ValueError(f"{to_status}: use return_receive or return_refund for that step.")
    with transaction.atomic():
        _, locked = _locked(ret)
        _check(locked, to_status, allowed_from)
        if to_status in DEAD:
            _release_exchanges(locked.items.all())
        if to_status == R.REJECTED:
            locked.reject_reason = note[:500]
            locked.save(update_fields=["reject_reason", "updated_at"])
        _move(locked, to_status=to_status, actor=actor, note=note)
    return locked


# --------------------------------------------------------------------------- requesting


def return_request_create(
    *,
    user: User,
    order_number: str,
    items: Sequence[dict[str, Any]],
    note: str = "",
    images: Sequence = (),
) -> ReturnRequest:
    """A customer asks to return items of a delivered order of its own (SPEC §10).

    `items`: `{order_item_id, quantity, reason, exchange_sku_id?}`. Refuses, with
    nothing created: another user's order (404), an order not delivered (409
    `invalid_transition`), a closed window (409 `return_window_closed`), an item
    of another order or twice (400 `invalid`), more units than bought minus
    those in live returns (400 `return_quantity_exceeded`), a bad exchange SKU
    (400 `exchange_invalid`), no stock for it (409 `out_of_stock`), bad images
    (400). Photos are checked before any lock is taken.
    """
    order = Order.objects.filter(user=user, order_number=order_number).first()
    if order is None:
        raise NotFound("No such order.")
    _check_order_returnable(order)
    lines = _parse_lines(items)
    clean_images = images_clean(images, at_most=RETURN_MAX_IMAGES, what="A return")
    # Files are written before any lock is taken, and removed if the request is refused.
    stored: list[str] = []
    try:
        for clean in clean_images:
            name = f"returns/{uuid.uuid4().hex}.{clean.extension}"
            stored.append(default_storage.save(name, ContentFile(clean.content)))
        return _create(user=user, order=order, lines=lines, note=note, stored=stored)
    except Exception:
        for name in stored:
            default_storage.delete(name)
        raise


def _create(*, user: User, order: Order, lines: list[dict], note: str, stored: list[str]):
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        _check_order_returnable(locked)
        order_items = {item.pk: item for item in locked.items.select_related("product")}
        _check_quantities(lines, order_items)
        exchanges = _exchange_skus(lines, order_items, market=locked.market)
        ret = _create_with_number(
            order=locked,
            user=user,
            market=locked.market,
            currency=locked.currency,
            note=note[:RETURN_NOTE_MAX_LENGTH],
        )
        ReturnItem.objects.bulk_create(
            ReturnItem(
                return_request=ret,
                order_item_id=line["order_item_id"],
                quantity=line["quantity"],
                reason=line["reason"],
                exchange_sku=exchanges.get(line["order_item_id"]),
                **_exchange_snapshot(exchanges.get(line["order_item_id"])),
            )
            for line in lines
        )
        ReturnImage.objects.bulk_create(
            ReturnImage(return_request=ret, image=name, sort_order=position)
            for position, name in enumerate(stored)
        )
        _history(ret, from_status=None, actor=user, note="")
    return ret


def _check_order_returnable(order: Order) -> None:
    if order.status != OrderStatus.DELIVERED or order.delivered_at is None:
        raise ReturnInvalidTransition(
            "Only a delivered order can be returned.", extra={"status": order.status}
        )
    if order.is_replacement:
        raise ReturnInvalidTransition(
            "A replacement order cannot be returned again; contact us instead.",
            extra={"status": order.status},
        )
    closes = order.delivered_at + return_window(order.market)
    if timezone.now() > closes:
        raise ReturnWindowClosed(
            f"Returns for this order closed on {closes:%Y-%m-%d}.",
            extra={"closed_at": closes.isoformat().replace("+00:00", "Z")},
        )


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors={"items": [{field: [message]}]})


def _parse_lines(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if not items:
        message = "Name at least one item to return."
        raise InvalidInput(message, errors={"items": [message]})
    seen = Counter(line["order_item_id"] for line in items)
    twice = sorted(pk for pk, count in seen.items() if count > 1)
    if twice:
        raise _invalid("order_item_id", f"Order item {twice[0]} is named twice.")
    return [dict(line) for line in items]


def _live_returned(order_item_ids: Iterable[int]) -> dict[int, int]:
    """Units of each order item in returns that are not rejected or cancelled."""
    rows = (
        ReturnItem.objects.filter(order_item_id__in=list(order_item_ids))
        .exclude(return_request__status__in=DEAD)
        .values("order_item_id")
        .annotate(units=Sum("quantity"))
        .order_by()
    )
    return {row["order_item_id"]: row["units"] for row in rows}


def _check_quantities(lines: list[dict], order_items: dict[int, OrderItem]) -> None:
    foreign = [line["order_item_id"] for line in lines if line["order_item_id"] not in order_items]
    if foreign:
        raise _invalid("order_item_id", f"Order item {foreign[0]} is not in this order.")
    returned = _live_returned(order_items)
    for line in lines:
        item = order_items[line["order_item_id"]]
        left = item.quantity - returned.get(item.pk, 0)
        if line["quantity"] > left:
            raise ReturnQuantityExceeded(
                f"{item.product_name} ({item.size}, {item.color}): at most {left} more "
                f"unit(s) can be returned.",
                errors={"items": [{"quantity": [f"At most {left}."]}]},
                extra={"order_item_id": item.pk, "returnable": left},
            )


def _exchange_skus(
    lines: list[dict], order_items: dict[int, OrderItem], *, market: str
) -> dict[int, SKU]:
    """The exchange lines' SKUs, locked, checked and their units taken (order item → SKU)."""
    wanted = {
        line["order_item_id"]: line["exchange_sku_id"]
        for line in lines
        if line.get("exchange_sku_id") is not None
    }
    if not wanted:
        return {}
    quantities: Counter[int] = Counter()
    for line in lines:
        if line["order_item_id"] in wanted:
            quantities[wanted[line["order_item_id"]]] += line["quantity"]
    locked = stock.lock_skus(quantities)
    prices = dict(
        ProductPrice.objects.filter(
            product_id__in={sku.product_id for sku in locked.values()}, market=market
        ).values_list("product_id", "price")
    )
    for order_item_id, sku_id in wanted.items():
        item, sku = order_items[order_item_id], locked.get(sku_id)
        if (
            sku is None
            or item.product_id is None
            or sku.product_id != item.product_id
            or sku.pk == item.sku_id
            or not is_sellable(sku.product, market, prices.get(sku.product_id), as_if_active=True)
        ):
            raise ExchangeInvalid(
                f"SKU {sku_id} is not another size or colour of {item.product_name} sold in "
                f"your market.",
                errors={"items": [{"exchange_sku_id": ["Not an exchange for this item."]}]},
            )
    stock.take(locked, quantities)  # 409 out_of_stock naming every short SKU
    return {order_item_id: locked[sku_id] for order_item_id, sku_id in wanted.items()}


def _exchange_snapshot(sku: SKU | None) -> dict[str, str]:
    if sku is None:
        return {}
    return {"exchange_sku_code": sku.code, "exchange_size": sku.size, "exchange_color": sku.color}


def _create_with_number(**fields: Any) -> ReturnRequest:
    for attempt in range(_NUMBER_ATTEMPTS):
        number = new_return_number()
        try:
            with transaction.atomic():
                return ReturnRequest.objects.create(return_number=number, **fields)
        except IntegrityError:
            taken = ReturnRequest.objects.filter(return_number=number).exists()
            if attempt == _NUMBER_ATTEMPTS - 1 or not taken:
                raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- stock of exchanges


def _put_back(units: dict[int, int]) -> None:
    """Give units back to stock (SKU id → units); SKUs deleted since are skipped."""
    units = {sku_id: n for sku_id, n in units.items() if sku_id is not None and n > 0}
    if units:
        stock.put_back(stock.lock_skus(units), units)


def _release_exchanges(items: Iterable[ReturnItem]) -> None:
    held: Counter[int] = Counter()
    for item in items:
        if item.exchange_sku_id is not None:
            held[item.exchange_sku_id] += item.quantity
    _put_back(dict(held))


# --------------------------------------------------------------------------- customer


def return_get_for_customer(*, user: User, return_number: str) -> ReturnRequest:
    ret = ReturnRequest.objects.filter(user=user, return_number=return_number).first()
    if ret is None:
        raise ReturnNotFound()
    return ret


def return_cancel_by_customer(*, user: User, return_number: str) -> ReturnRequest:
    """The customer withdraws its own return while it is still requested."""
    ret = return_get_for_customer(user=user, return_number=return_number)
    return return_transition(
        ret=ret, to_status=R.CANCELLED, actor=user, allowed_from=frozenset({R.REQUESTED})
    )


# --------------------------------------------------------------------------- receiving


def return_receive(
    *, ret: ReturnRequest, actor: User | None, items: Sequence[dict[str, int]], note: str = ""
) -> ReturnRequest:
    """The parcel arrived: `items` gives `{id, received_quantity, damaged_quantity}` per line.

    Every line of the return is named once, damaged ≤ received ≤ quantity (400
    otherwise); a receipt of nothing (the parcel never came) releases the holds
    and the manager settles the return with a refund of 0. Sound units go back to the original
    SKU's stock. Exchange lines: the held units of what never came back return
    to stock, and the received units ship in a replacement order; a return with
    nothing left to refund (every received unit was exchanged) then becomes
    `exchanged` (a second history row).
    """
    with transaction.atomic():
        order, locked = _locked(ret)
        _check(locked, R.RECEIVED)
        lines = list(locked.items.select_related("order_item"))
        counts = _parse_receipt(lines, items)
        sound: Counter[int] = Counter()
        unreturned: Counter[int] = Counter()
        for line in lines:
            line.received_quantity, line.damaged_quantity = counts[line.pk]
            if line.order_item.sku_id is not None:
                sound[line.order_item.sku_id] += line.received_quantity - line.damaged_quantity
            if line.exchange_sku_id is not None:
                unreturned[line.exchange_sku_id] += line.quantity - line.received_quantity
        ReturnItem.objects.bulk_update(lines, ["received_quantity", "damaged_quantity"])
        # One lock of every SKU touched, in id order: sound units and released holds.
        _put_back(dict(sound + unreturned))
        _move(locked, to_status=R.RECEIVED, actor=actor, note=note)
        shipped = [line for line in lines if line.exchange_sku_id and line.received_quantity]
        if shipped:
            _replacement_order(order=order, ret=locked, lines=shipped, actor=actor)
            if refund_due(locked) <= 0:  # nothing to refund: the exchange settles it
                _move(locked, to_status=R.EXCHANGED, actor=actor, note="replacement order placed")
    return locked


def _parse_receipt(lines: list[ReturnItem], items: Sequence[dict[str, int]]):
    by_id = {line.pk: line for line in lines}
    given = {}
    for entry in items:
        line = by_id.get(entry["id"])
        if line is None or entry["id"] in given:
            message = f"Item {entry['id']} is not a line of this return, or is named twice."
            raise InvalidInput(message, errors={"items": [{"id": [message]}]})
        received, damaged = entry["received_quantity"], entry.get("damaged_quantity", 0)
        if not 0 <= damaged <= received <= line.quantity:
            message = f"Item {line.pk}: 0 ≤ damaged_quantity ≤ received_quantity ≤ {line.quantity}."
            raise InvalidInput(message, errors={"items": [{"received_quantity": [message]}]})
        given[line.pk] = (received, damaged)
    missing = sorted(set(by_id) - set(given))
    if missing:
        message = f"Say what arrived for every line of the return (missing: {missing})."
        raise InvalidInput(message, errors={"items": [message]})
    return given


def _replacement_order(
    *, order: Order, ret: ReturnRequest, lines: list[ReturnItem], actor: User | None
) -> Order:
    """The exchange's units ship in a new order: total 0, the same address, `confirmed`."""
    skus = {sku.pk: sku for sku in SKU.objects.filter(pk__in=[x.exchange_sku_id for x in lines])}
    address = {name: getattr(order, name) for name in SHIPPING_FIELDS}
    now = timezone.now()
    replacement = create_with_number(
        user=order.user,
        market=order.market,
        currency=order.currency,
        # Nothing is due: the customer paid on the first order.
        payment_method=PaymentMethodType.CASH_ON_DELIVERY,
        status=OrderStatus.CONFIRMED,
        confirmed_at=now,
        subtotal=ZERO,
        shipping_cost=ZERO,
        total=ZERO,
        comment=f"Exchange for return {ret.return_number} of order {order.order_number}.",
        is_replacement=True,
        **address,
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            order=replacement,
            product_id=line.order_item.product_id,
            sku_id=line.exchange_sku_id if line.exchange_sku_id in skus else None,
            product_name=line.order_item.product_name,
            product_slug=line.order_item.product_slug,
            sku_code=line.exchange_sku_code,
            size=line.exchange_size,
            color=line.exchange_color,
            image=line.order_item.image,
            unit_price=ZERO,
            quantity=line.received_quantity,
            line_total=ZERO,
        )
        for line in lines
    )
    payment_start(order=replacement)
    created = OrderStatusHistory.objects.create(
        order=replacement,
        to_status=OrderStatus.CONFIRMED,
        changed_by=actor,
        note=f"exchange for return {ret.return_number}",
    )
    ret.replacement_order = replacement
    ret.save(update_fields=["replacement_order", "updated_at"])
    events.order_created(replacement, event_id=created.pk)
    return replacement


# --------------------------------------------------------------------------- refunding


def refund_due(ret: ReturnRequest, lines: Iterable[ReturnItem] | None = None) -> Decimal:
    """What the received units of the return's refund lines were bought for.

    `lines`: the return's lines with their order items, when already loaded.
    """
    if lines is None:
        lines = ret.items.select_related("order_item")
    return sum(
        (
            line.order_item.unit_price * (line.received_quantity or 0)
            for line in lines
            if not line.exchange_sku_code
        ),
        ZERO,
    )


def return_refund(
    *,
    ret: ReturnRequest,
    actor: User | None,
    amount: Decimal | None = None,
    method: str | None = None,
    reason: str = "",
) -> Refund | None:
    """Refund a received return through the order's payment; the return becomes `refunded`.

    `amount` defaults to what the received units of its refund lines were
    bought for, at most what is left to refund (409 `not_refundable` when that
    is nothing). An explicit `amount` may be larger (shipping, a goodwill
    gesture) but never more than paid - refunded (400 `refund_exceeds_paid`).
    An explicit `amount` of 0 settles the return with no money moving (nothing
    arrived, or the order was refunded in full already) and returns None. A
    provider that refuses, fails the refund or cannot be reached leaves
    everything unchanged.
    """
    with transaction.atomic():
        order, locked = _locked(ret)
        _check(locked, R.REFUNDED)
        if amount is not None and amount == 0:
            _move(locked, to_status=R.REFUNDED, actor=actor, note=reason or "settled, no refund")
            return None
        if amount is None:
            payment = order.live_payment
            refundable = payment.refundable if payment is not None else ZERO
            amount = min(refund_due(locked), refundable)
            if amount <= 0:
                raise NotRefundable(
                    "Nothing received on this return is left to refund; give an amount "
                    "(0 settles it without a refund)."
                    if refundable > 0
                    else "Nothing is left to refund on this order; an amount of 0 settles "
                    "the return.",
                    extra={"payment_status": order.payment_status},
                )
        refund = payment_refund(
            order=order,
            amount=amount,
            reason=reason or f"return {locked.return_number}",
            method=method,
            actor=actor,
        )
        if refund.status == RefundStatus.FAILED:
            # The provider answered "failed": nothing came back, the return stays received.
            raise PaymentRefused("The payment provider refused the refund; nothing was refunded.")
        locked.refunded_amount += refund.amount
        locked.save(update_fields=["refunded_amount", "updated_at"])
        _move(locked, to_status=R.REFUNDED, actor=actor, note=reason)
    return refund
