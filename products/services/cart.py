"""Cart and wishlist writes. Every rule about what may go into a cart lives here.

Nothing here touches stock: a cart line is a wish, not a reservation; checkout
checks and decrements stock under its own locks (`products.services.stock`).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from main.exceptions import InvalidInput, NotFound
from main.markets import MarketMismatch
from products.models import SKU, Cart, CartItem, Product, Wishlist, WishlistItem
from products.services.stock import OutOfStock, sku_label


class InvalidQuantity(InvalidInput):
    default_detail = "Invalid quantity."


class NotSoldInMarket(MarketMismatch):
    default_detail = "This product is not sold in your market."


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= settings.MAX_LINE_QTY:
        message = f"Quantity must be between 1 and {settings.MAX_LINE_QTY}."
        raise InvalidQuantity(message, errors={"quantity": [message]})


def _price_in(product: Product, market: str) -> Decimal:
    """The product's current price in `market`; NotSoldInMarket when it is not sellable there."""
    price = (
        Product.objects.sellable_in(market)
        .filter(pk=product.pk)
        .values_list("prices__price", flat=True)
        .first()
    )
    if price is None:
        raise NotSoldInMarket()
    return price


def _check_sku(*, sku: SKU, quantity: int, market: str) -> Decimal:
    """All checks for `quantity` units of `sku` in one line; returns the unit price."""
    _check_quantity(quantity)
    if not sku.is_active or not sku.product.is_active:
        raise OutOfStock(f"{sku_label(sku)} is no longer available.", extra={"skus": [sku.code]})
    price = _price_in(sku.product, market)
    if quantity > sku.stock:
        # The customer's own quantity, never the units left (they see only the level).
        raise OutOfStock(
            f"Not enough stock of {sku_label(sku)} for {quantity}.", extra={"skus": [sku.code]}
        )
    return price


def cart_lock(*, user) -> Cart:
    """The user's cart (created on first use), its row locked until the transaction ends."""
    cart, _ = Cart.objects.get_or_create(user=user)
    return Cart.objects.select_for_update().get(pk=cart.pk)


def _own_item(*, cart: Cart, item_id: int) -> CartItem:
    item = CartItem.objects.select_related("sku__product").filter(pk=item_id, cart=cart).first()
    if item is None:
        raise NotFound("No such cart item.")
    return item


@transaction.atomic
def cart_item_add(*, user, market: str, sku_id: int, quantity: int) -> tuple[CartItem, bool]:
    """Add `quantity` of a SKU; an existing line grows. Returns (line, created)."""
    sku = SKU.objects.select_related("product").filter(pk=sku_id).first()
    if sku is None:
        raise InvalidInput("Unknown SKU.", errors={"sku_id": [f"No SKU with id {sku_id}."]})
    cart = cart_lock(user=user)
    item = CartItem.objects.filter(cart=cart, sku=sku).first()
    total = quantity + (item.quantity if item else 0)
    price = _check_sku(sku=sku, quantity=total, market=market)
    if item is None:
        item = CartItem.objects.create(cart=cart, sku=sku, quantity=total, unit_price_at_add=price)
        created = True
    else:
        item.quantity = total
        item.unit_price_at_add = price
        item.save(update_fields=("quantity", "unit_price_at_add", "updated_at"))
        created = False
    cart.save(update_fields=("updated_at",))
    return item, created


@transaction.atomic
def cart_item_update(*, user, market: str, item_id: int, quantity: int) -> CartItem:
    """Set a line's quantity (same checks as adding)."""
    cart = cart_lock(user=user)
    item = _own_item(cart=cart, item_id=item_id)
    item.unit_price_at_add = _check_sku(sku=item.sku, quantity=quantity, market=market)
    item.quantity = quantity
    item.save(update_fields=("quantity", "unit_price_at_add", "updated_at"))
    cart.save(update_fields=("updated_at",))
    return item


@transaction.atomic
def cart_item_delete(*, user, item_id: int) -> None:
    cart = cart_lock(user=user)
    _own_item(cart=cart, item_id=item_id).delete()
    cart.save(update_fields=("updated_at",))


@transaction.atomic
def cart_clear(*, user) -> None:
    cart = cart_lock(user=user)
    CartItem.objects.filter(cart=cart).delete()
    cart.save(update_fields=("updated_at",))


@transaction.atomic
def wishlist_item_add(*, user, market: str, product_id: int) -> tuple[WishlistItem, bool]:
    """Add a product sellable in `market`; adding it again is harmless. Returns (item, created)."""
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise InvalidInput(
            "Unknown product.", errors={"product_id": [f"No product with id {product_id}."]}
        )
    if not Product.objects.sellable_in(market).filter(pk=product.pk).exists():
        raise NotSoldInMarket()
    wishlist, _ = Wishlist.objects.get_or_create(user=user)
    return WishlistItem.objects.get_or_create(wishlist=wishlist, product=product)


@transaction.atomic
def wishlist_item_remove(*, user, product_id: int) -> None:
    deleted, _ = WishlistItem.objects.filter(wishlist__user=user, product_id=product_id).delete()
    if not deleted:
        raise NotFound("This product is not in your wishlist.")
