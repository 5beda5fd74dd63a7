"""Orders: checkout. Every rule about placing an order (moving one: `transitions`).

Checkout turns the cart into an order in one transaction: the cart row is locked
(so one user's checkouts and cart edits queue), SKU rows are locked in id order,
stock is checked and taken with the locks held, prices are read from
`ProductPrice` of the order's market, and the cart is emptied. Side effects
(notifications, snapshot recomputes, catalogue cache) are queued by
`orders.events` to run after commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from main import metrics
from main.exceptions import ApplicationError, Conflict, InvalidInput
from main.markets import market_config, shipping_rule
from orders import events
from orders.models import (
    IdempotencyKey,
    Order,
    OrderItem,
    OrderStatusHistory,
)
from orders.payments.providers import PaymentProviderUnavailable, PaymentRefused
from orders.services import payments
from products.models import CartItem, ProductImage, ProductPrice, is_sellable
from products.services import stock
from products.services.cart import NotSoldInMarket, cart_lock
from users.models import Address, User
from users.services.accounts import ADDRESS_FIELDS, address_phone

CENT = Decimal("0.01")

# Order numbers: market prefix + 8 of 31 characters without look-alikes (0/O, 1/I/L): 31^8 ≈ 8.5e11.
ORDER_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ORDER_NUMBER_LENGTH = 8
_ORDER_NUMBER_ATTEMPTS = 5


class CartEmpty(ApplicationError):
    code = "cart_empty"
    default_detail = "Your cart is empty."


class PriceChanged(Conflict):
    code = "price_changed"
    default_detail = "Prices changed since you saw your cart; review the new total."


class IdempotencyConflict(ApplicationError):
    status_code = 422
    code = "idempotency_conflict"
    default_detail = "This Idempotency-Key was already used with a different request."


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    replayed: bool  # True when an Idempotency-Key returned an earlier order
    status_code: int = 201


def shipping_cost_for(*, market: str, subtotal: Decimal) -> Decimal:
    """Shipping in the market's currency: the flat cost, or nothing from the free threshold."""
    return shipping_rule(market).cost_for(subtotal)


def request_fingerprint(payload: dict[str, Any]) -> str:
    """A stable hash of a checkout body, to tell a retry from a different request."""
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_checkout(
    *,
    user: User,
    payment_method: str,
    address_id: int | None = None,
    address: dict[str, Any] | None = None,
    comment: str = "",
    expected_total: Decimal | None = None,
    payment_method_id: int | None = None,
    idempotency_key: str | None = None,
    payload: dict[str, Any] | None = None,
) -> CheckoutResult:
    """Place an order from the user's cart in the user's market (SPEC §4).

    `payload` is the request body as received (for the idempotency fingerprint);
    it defaults to the keyword arguments. Raises `CartEmpty`, `OutOfStock`,
    `PriceChanged`, `PaymentMethodUnavailable`, `IdempotencyConflict`,
    `MarketMismatch`, `NotFound` (a saved card that is not the user's) or
    `InvalidInput`; any of them leaves everything unchanged.

    A card order is created with its payment waiting for the customer; the
    provider's intent is made after commit (`payments.payment_open`), on the
    first try and on every idempotent retry, so the 201 carries its
    `client_secret`. A provider that cannot be reached leaves the order (its
    stock held until the hold expires) with `payment.last_error`
    `provider_unavailable` (or `payment_refused` when the provider refused
    the saved card): `POST orders/{number}/payment/` tries again.
    """
    if payload is None:
        payload = {
            "payment_method": payment_method,
            "payment_method_id": payment_method_id,
            "address_id": address_id,
            "address": address,
            "comment": comment,
            "expected_total": expected_total,
        }
    fingerprint = request_fingerprint(payload)
    try:
        with transaction.atomic():
            result = _checkout(
                user=user,
                payment_method=payment_method,
                payment_method_id=payment_method_id,
                address_id=address_id,
                address=address,
                comment=comment,
                expected_total=expected_total,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
            )
    except IntegrityError:
        # Two requests with one new key raced past the check: the loser returns the winner's.
        if idempotency_key is None:
            raise
        result = _idempotent_replay(user=user, key=idempotency_key, fingerprint=fingerprint)
        if result is None:
            raise
    _open_payment(result.order)
    return result


def _open_payment(order: Order) -> None:
    """The card intent, after commit; a provider failure is noted on the payment, not raised."""
    with contextlib.suppress(PaymentProviderUnavailable, PaymentRefused):
        payments.payment_open(order)


def _checkout(
    *,
    user: User,
    payment_method: str,
    payment_method_id: int | None,
    address_id: int | None,
    address: dict[str, Any] | None,
    comment: str,
    expected_total: Decimal | None,
    idempotency_key: str | None,
    fingerprint: str,
) -> CheckoutResult:
    market = user.market
    # The cart lock queues this user's checkouts, retries and cart edits behind each other.
    cart = cart_lock(user=user)
    if idempotency_key is not None:
        replay = _idempotent_replay(user=user, key=idempotency_key, fingerprint=fingerprint)
        if replay is not None:
            return replay
    # After the replay: a retry returns its order even if the method was switched off since.
    payments.check_method(market=market, method=payment_method)
    token = payments.payment_method_token(
        user=user, market=market, method=payment_method, payment_method_id=payment_method_id
    )

    lines = list(CartItem.objects.filter(cart=cart).order_by("sku_id").values("sku_id", "quantity"))
    if not lines:
        raise CartEmpty()
    shipping = _shipping_address(user=user, address_id=address_id, address=address)

    quantities = {line["sku_id"]: line["quantity"] for line in lines}
    locked = stock.lock_skus(quantities)
    if len(locked) != len(quantities):  # deleted since the lines were read
        raise stock.out_of_stock(
            gone=[(f"#{pk}", stock.NO_LONGER_SOLD) for pk in quantities if pk not in locked]
        )
    prices = _prices(market=market, product_ids={sku.product_id for sku in locked.values()})
    for sku in locked.values():
        # Market and price only: an inactive product is refused by `stock.take` below,
        # as out of stock together with every short SKU, after the total check.
        if not is_sellable(sku.product, market, prices.get(sku.product_id), as_if_active=True):
            raise NotSoldInMarket(f"{sku.code} is not sold in your market.")

    items = [
        _order_item(sku=locked[sku_id], unit_price=prices[locked[sku_id].product_id], quantity=qty)
        for sku_id, qty in quantities.items()
    ]
    subtotal = sum((item.line_total for item in items), Decimal("0.00"))
    shipping_cost = shipping_cost_for(market=market, subtotal=subtotal)
    total = subtotal + shipping_cost
    if expected_total is not None and expected_total != total:
        raise PriceChanged(
            extra={
                "subtotal": str(subtotal),
                "shipping_cost": str(shipping_cost),
                "discount": "0.00",
                "total": str(total),
            }
        )
    stock.take(locked, quantities)

    order = create_with_number(
        user=user,
        market=market,
        currency=market_config(market).currency,
        payment_method=payment_method,
        subtotal=subtotal,
        shipping_cost=shipping_cost,
        total=total,
        comment=comment,
        **shipping,
    )
    _attach_images(items)
    for item in items:
        item.order = order
    OrderItem.objects.bulk_create(items)
    payments.payment_start(order=order, token=token)
    created = OrderStatusHistory.objects.create(
        order=order, to_status=order.status, changed_by=user
    )
    CartItem.objects.filter(cart=cart).delete()
    if idempotency_key is not None:
        IdempotencyKey.objects.filter(
            user=user, key=idempotency_key, created_at__lt=_idempotency_cutoff()
        ).delete()
        IdempotencyKey.objects.create(
            user=user, key=idempotency_key, request_hash=fingerprint, order=order
        )
    events.order_created(order, event_id=created.pk)
    metrics.order_placed(market=market, payment_method=payment_method)
    return CheckoutResult(order=order, replayed=False)


def _idempotency_cutoff():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def _idempotent_replay(*, user: User, key: str, fingerprint: str) -> CheckoutResult | None:
    """The earlier result for this key, if the key is live; refuses a different body."""
    stored = (
        IdempotencyKey.objects.select_related("order")
        .filter(user=user, key=key, created_at__gte=_idempotency_cutoff())
        .first()
    )
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise IdempotencyConflict()
    return CheckoutResult(order=stored.order, replayed=True, status_code=stored.response_status)


def _shipping_address(
    *, user: User, address_id: int | None, address: dict[str, Any] | None
) -> dict[str, str]:
    """The order's address snapshot, from a saved address or one given inline."""
    if (address_id is None) == (address is None):
        message = "Give either address_id or address."
        raise InvalidInput(message, errors={"address": [message]})
    if address_id is not None:
        saved = Address.objects.filter(pk=address_id, user=user).first()
        if saved is None:
            message = f"You have no address with id {address_id}."
            raise InvalidInput(message, errors={"address_id": [message]})
        source = {name: getattr(saved, name) for name in ADDRESS_FIELDS}
    else:
        source = dict(address)
        try:
            source["phone"] = address_phone(user=user, raw=source.get("phone", ""))
        except ApplicationError as exc:
            raise InvalidInput(exc.detail, errors={"address": exc.errors or {}}) from exc
    return {
        "shipping_recipient": source["recipient_name"],
        "shipping_phone": source["phone"],
        "shipping_city": source["city"],
        "shipping_street": source["street"],
        "shipping_building": source["building"],
        "shipping_apartment": source.get("apartment") or "",
        "shipping_postal_code": source.get("postal_code") or "",
        "shipping_notes": source.get("notes") or "",
    }


def _prices(*, market: str, product_ids: set[int]) -> dict[int, Decimal]:
    rows = ProductPrice.objects.filter(product_id__in=product_ids, market=market)
    return dict(rows.values_list("product_id", "price"))


def _order_item(*, sku, unit_price: Decimal, quantity: int) -> OrderItem:
    product = sku.product
    return OrderItem(
        product=product,
        sku=sku,
        product_name=product.name,
        product_slug=product.slug,
        sku_code=sku.code,
        size=sku.size,
        color=sku.color,
        image=product.main_image.name or "",
        unit_price=unit_price,
        quantity=quantity,
        line_total=(unit_price * quantity).quantize(CENT),
    )


def _attach_images(items: list[OrderItem]) -> None:
    """Items of products without a main image get the product's first gallery image (1 query)."""
    missing = {item.product_id for item in items if not item.image}
    if not missing:
        return
    first: dict[int, str] = {}
    gallery = ProductImage.objects.filter(product_id__in=missing).order_by(
        "product_id", "sort_order", "id"
    )
    for product_id, image in gallery.values_list("product_id", "image"):
        first.setdefault(product_id, image)
    for item in items:
        if not item.image:
            item.image = first.get(item.product_id, "")


def new_order_number(market: str) -> str:
    suffix = "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))
    return f"{market}-{suffix}"


def create_with_number(*, market: str, **fields: Any) -> Order:
    """Create the order under a fresh random number; a collision retries with another."""
    for attempt in range(_ORDER_NUMBER_ATTEMPTS):
        number = new_order_number(market)
        try:
            with transaction.atomic():
                return Order.objects.create(order_number=number, market=market, **fields)
        except IntegrityError:
            if attempt == _ORDER_NUMBER_ATTEMPTS - 1 or not _number_taken(number):
                raise
    raise AssertionError("unreachable")


def _number_taken(number: str) -> bool:
    return Order.objects.filter(order_number=number).exists()
