"""Stock: the only code that writes `SKU.stock`, and the one home of what stock means.

Checkout and the status machine (orders) lock SKUs, take units and put them back
here; staff adjust stock here; the catalogue, the cart and the manager's
dashboard read availability here.

Orders' moves expect to run inside the caller's transaction. SKU rows are locked
with `select_for_update()` in primary-key order, so two transactions that touch
the same SKUs always queue in the same order and never deadlock. Stock is
written from the locked values with one bulk UPDATE, so the number of queries
does not grow with the number of lines.

Staff never save an absolute stock value: a checkout decrements stock under a
row lock, and saving the number the admin page showed when it was opened would
bring back every unit sold in between. So staff enter a change ("+20 arrived",
"-2 damaged") and it is applied with `F()`, guarded so stock never goes below zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Greatest

from main.exceptions import Conflict
from main.http_cache import catalogue_cache_invalidate_on_commit
from products.events import stock_low
from products.models import SKU, Product
from products.services.listing import listing_sync_stock, lock_products

# What customers see of a stock level (never the number itself).
IN_STOCK = "in_stock"
LOW_STOCK = "low_stock"
OUT_OF_STOCK = "out_of_stock"

# The SKU fields staff edit besides stock (which only moves by adjustment).
SKU_EDITABLE_FIELDS = ("product", "code", "size", "color", "color_hex", "is_active")


class OutOfStock(Conflict):
    code = "out_of_stock"
    default_detail = "Not enough stock."


class StockAdjustmentRefused(Conflict):
    code = "stock_below_zero"
    default_detail = "That adjustment would take stock below zero."


# --- Reading stock ---------------------------------------------------------------------------


def availability(stock: int) -> str:
    """What customers see of a stock level: low stock is 0 < stock ≤ LOW_STOCK_THRESHOLD."""
    if stock <= 0:
        return OUT_OF_STOCK
    return LOW_STOCK if stock <= settings.LOW_STOCK_THRESHOLD else IN_STOCK


def restock_q() -> Q:
    """SKUs a manager should restock: at or below the threshold, sold-out ones included."""
    return Q(stock__lte=settings.LOW_STOCK_THRESHOLD)


def can_supply(sku: SKU, units: int) -> bool:
    """Whether `units` of `sku` can be sold now: SKU and product active, stock covers them."""
    return sku.is_active and sku.product.is_active and sku.stock >= units


# --- Orders: lock, take, put back ------------------------------------------------------------


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


def sku_label(sku: SKU) -> str:
    """How a customer knows an item: "Linen shirt (M, White)" (never its code or stock)."""
    return f"{sku.product.name} ({sku.size}, {sku.color})"


# The label of a SKU deleted since the customer chose it (nothing else is known of it).
NO_LONGER_SOLD = "an item that is no longer sold"


def out_of_stock(skus: Iterable[SKU] = (), *, gone: Iterable[tuple[str, str]] = ()) -> OutOfStock:
    """The 409 that names every item a request could not get.

    `skus`: SKUs that are short or inactive; `gone`: (code, label) of items whose
    SKU no longer exists. The message names product, size and colour, never how
    many units are left (customers only ever see in stock / low stock / sold
    out); `skus` in the body lists the codes, for a client to match its lines.
    """
    found = list(
        SKU.objects.filter(pk__in=[sku.pk for sku in skus]).select_related("product")
    )  # one query, on the error path only
    items = sorted([(sku.code, sku_label(sku)) for sku in found] + list(gone))
    labels = ", ".join(label for _, label in items)
    return OutOfStock(
        f"Not enough stock for {labels}.", extra={"skus": [code for code, _ in items]}
    )


def take(locked: Mapping[int, SKU], quantities: Mapping[int, int]) -> None:
    """Take `quantities` (SKU id → units) out of locked SKUs; all or nothing.

    Raises `OutOfStock` naming every SKU that is missing, inactive or short.
    """
    short = [
        locked[sku_id]
        for sku_id, units in quantities.items()
        if sku_id in locked and not can_supply(locked[sku_id], units)
    ]
    gone = [(f"#{sku_id}", NO_LONGER_SOLD) for sku_id in quantities if sku_id not in locked]
    if short or gone:
        raise out_of_stock(short, gone=gone)
    _move(locked, {sku_id: -units for sku_id, units in quantities.items()})


def put_back(locked: Mapping[int, SKU], quantities: Mapping[int, int]) -> None:
    """Return units to stock (a cancelled order). SKUs deleted since are skipped."""
    _move(locked, {sku_id: units for sku_id, units in quantities.items() if sku_id in locked})


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
    fell_low = []
    for sku_id, delta in deltas.items():
        sku = locked[sku_id]
        before = availability(sku.stock)
        sku.stock += delta
        visible_change |= availability(sku.stock) != before
        if _fell_low(sku.stock - delta, sku.stock):
            fell_low.append(sku_id)
        changed.append(sku)
        sold[sku.product_id] -= delta
    SKU.objects.bulk_update(changed, ["stock"])
    stock_low(fell_low)
    if visible_change:
        catalogue_cache_invalidate_on_commit()
    # Products are locked in id order before the UPDATE, whose own row order the
    # planner picks: without it, two writers could take them in opposite orders.
    lock_products(sold)
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
    listing_sync_stock(sold)


def _fell_low(before: int, after: int) -> bool:
    """Stock crossed the threshold downwards: managers hear of it once (stock.low)."""
    return before > settings.LOW_STOCK_THRESHOLD >= after


# --- Staff: adjustments ----------------------------------------------------------------------


def sku_stock_adjust(*, sku_id: int, delta: int) -> int:
    """Add `delta` units (negative removes them); returns the new stock."""
    if delta:
        updated = SKU.objects.filter(pk=sku_id, stock__gte=-delta).update(stock=F("stock") + delta)
        if not updated:
            raise StockAdjustmentRefused()
        catalogue_cache_invalidate_on_commit()
        sku = SKU.objects.values("stock", "product_id").get(pk=sku_id)
        if _fell_low(sku["stock"] - delta, sku["stock"]):
            stock_low([sku_id])
        # SKU, then its product (checkout's order): the copy reads the committed stock of
        # every SKU of the product, not a snapshot a concurrent sale is about to change.
        lock_products([sku["product_id"]])
        listing_sync_stock([sku["product_id"]])
        return sku["stock"]
    return SKU.objects.values_list("stock", flat=True).get(pk=sku_id)


@transaction.atomic
def sku_save(*, sku: SKU, changed: list[str], stock_adjustment: int = 0) -> SKU:
    """Save staff edits of a SKU: a new one starts at the adjustment; an existing one
    writes only the changed editable fields and moves stock by the adjustment."""
    if sku.pk is None:
        sku.stock = max(stock_adjustment, 0)
        sku.save()
        return sku
    fields = [name for name in changed if name in SKU_EDITABLE_FIELDS]
    if fields:
        sku.save(update_fields=[*fields, "updated_at"])
    sku.stock = sku_stock_adjust(sku_id=sku.pk, delta=stock_adjustment)
    return sku
