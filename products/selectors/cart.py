"""Cart and wishlist reads: one query for the cart lines, whatever their number."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import OuterRef, QuerySet, Subquery

from main.markets import market_config, shipping_rule
from products.models import CartItem, Product, ProductImage, ProductPrice, is_sellable
from products.selectors.catalogue import product_list
from products.services import stock

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class CartLine:
    item: CartItem
    unit_price: Decimal | None
    line_total: Decimal | None
    image: str | None
    is_available: bool
    price_changed: bool


@dataclass(frozen=True)
class CartSummary:
    items: list[CartLine]
    item_count: int
    subtotal: Decimal
    currency: str
    # What checkout would charge for the available lines now (the market's rule).
    shipping_cost: Decimal = ZERO
    free_shipping_from: Decimal = ZERO
    left_to_free_shipping: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping_cost


def _cart_items(*, user, market: str) -> QuerySet[CartItem]:
    """The user's lines with SKU, product, current price in `market` and first image."""
    price = ProductPrice.objects.filter(product=OuterRef("sku__product"), market=market)
    image = ProductImage.objects.filter(product=OuterRef("sku__product")).order_by(
        "sort_order", "id"
    )
    return (
        CartItem.objects.filter(cart__user=user)
        .select_related("sku__product")
        .annotate(
            current_price=Subquery(price.values("price")[:1]),
            first_image=Subquery(image.values("image")[:1]),
        )
        .order_by("created_at", "id")
    )


def cart_get(*, user, market: str) -> CartSummary:
    """The cart as SPEC §4 shows it. Unavailable lines are listed but not totalled.

    A line is available when its product is still sellable in `market`
    (`products.models.is_sellable`) and the SKU can supply the quantity
    (`products.services.stock.can_supply`). `price_changed` compares the current price
    with the snapshot.
    """
    lines: list[CartLine] = []
    subtotal = ZERO
    item_count = 0
    for item in _cart_items(user=user, market=market):
        sku, product, price = item.sku, item.sku.product, item.current_price
        sellable = is_sellable(product, market, price)
        available = sellable and stock.can_supply(sku, item.quantity)
        unit_price = price if sellable else None
        line_total = unit_price * item.quantity if unit_price is not None else None
        if available:
            subtotal += line_total
        item_count += item.quantity
        lines.append(
            CartLine(
                item=item,
                unit_price=unit_price,
                line_total=line_total,
                image=product.main_image.name or item.first_image,
                is_available=available,
                price_changed=(
                    unit_price is not None
                    and item.unit_price_at_add is not None
                    and unit_price != item.unit_price_at_add
                ),
            )
        )
    shipping = shipping_rule(market)
    return CartSummary(
        items=lines,
        item_count=item_count,
        subtotal=subtotal,
        currency=market_config(market).currency,
        shipping_cost=shipping.cost_for(subtotal),
        free_shipping_from=shipping.free_from,
        left_to_free_shipping=shipping.left_to_free(subtotal),
    )


def wishlist_products(*, user, market: str) -> QuerySet[Product]:
    """The user's wished products still sellable in `market`, most recently added first."""
    return (
        product_list(market=market)
        .filter(wishlist_items__wishlist__user=user)
        .order_by("-wishlist_items__created_at", "-wishlist_items__id")
    )
