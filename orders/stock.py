"""Stock moves for orders: the only code that takes units out of stock or puts them back.

Every function expects to run inside the caller's transaction. SKU rows are
locked with `select_for_update()` in primary-key order, so two transactions that
touch the same SKUs always queue in the same order and never deadlock. Stock is
written from the locked values with one bulk UPDATE, so the number of queries
does not grow with the number of lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.functions import Greatest

from main.http_cache import catalogue_cache_invalidate_on_commit
from products.cart_services import OutOfStock
from products.models import SKU, Product


def lock_skus(sku_ids: Iterable[int]) -> dict[int, SKU]:
    """Lock the SKU rows (not their products) in id order; returns them by id.

    `no_key=True`: the lock keeps other stock writers out but still lets carts
    insert lines that reference the SKU (a foreign key only takes KEY SHARE).
    """
    queryset = (
        SKU.objects.select_for_update(no_key=True, of=("self",))
        .select_related("product")
        .filter(pk__in=set(sku_ids))
        .order_by("pk")
    )
    return {sku.pk: sku for sku in queryset}


def out_of_stock(codes: list[str]) -> OutOfStock:
    """The 409 that names every SKU a request could not get."""
    return OutOfStock(
        f"Not enough stock for {', '.join(sorted(codes))}.", extra={"skus": sorted(codes)}
    )


def take(locked: Mapping[int, SKU], quantities: Mapping[int, int]) -> None:
    """Take `quantities` (SKU id → units) out of locked SKUs; all or nothing.

    Raises `OutOfStock` naming every SKU that is missing, inactive or short.
    """
    short = [
        locked[sku_id].code if sku_id in locked else f"#{sku_id}"
        for sku_id, units in quantities.items()
        if sku_id not in locked
        or not locked[sku_id].is_active
        or not locked[sku_id].product.is_active
        or locked[sku_id].stock < units
    ]
    if short:
        raise out_of_stock(short)
    _move(locked, {sku_id: -units for sku_id, units in quantities.items()})


def put_back(locked: Mapping[int, SKU], quantities: Mapping[int, int]) -> None:
    """Return units to stock (a cancelled order). SKUs deleted since are skipped."""
    _move(locked, {sku_id: units for sku_id, units in quantities.items() if sku_id in locked})


def availability(stock: int) -> str:
    """What customers see of a stock level (never the number itself)."""
    if stock <= 0:
        return "out_of_stock"
    return "low_stock" if stock <= settings.LOW_STOCK_THRESHOLD else "in_stock"


def _move(locked: Mapping[int, SKU], deltas: Mapping[int, int]) -> None:
    """Apply stock deltas to locked SKUs and the opposite to their products' sales counts.

    Lock order everywhere: SKUs (by id), then products (by id). The catalogue
    cache is dropped after commit only when a SKU's visible availability changed.
    """
    if not deltas:
        return
    changed = []
    sold: Counter[int] = Counter()
    visible_change = False
    for sku_id, delta in deltas.items():
        sku = locked[sku_id]
        before = availability(sku.stock)
        sku.stock += delta
        visible_change |= availability(sku.stock) != before
        changed.append(sku)
        sold[sku.product_id] -= delta
    SKU.objects.bulk_update(changed, ["stock"])
    if visible_change:
        catalogue_cache_invalidate_on_commit()
    # Products are locked in id order before the UPDATE, whose own row order the
    # planner picks: without it, two writers could take them in opposite orders.
    list(
        Product.objects.select_for_update(no_key=True)
        .filter(pk__in=sold)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # One UPDATE for every product; a counter, so F() keeps concurrent changes.
    # Orders made before the counter existed may return more than it holds: floor at 0.
    units = Case(
        *(When(pk=product_id, then=Value(units)) for product_id, units in sold.items()),
        default=Value(0),
        output_field=IntegerField(),
    )
    Product.objects.filter(pk__in=sorted(sold)).update(
        sales_count=Greatest(F("sales_count") + units, Value(0))
    )
