"""Staff stock adjustments: deltas applied in the database, never a stale absolute value.

A checkout decrements stock under a row lock. If the admin saved the number it
showed when the page was opened, every unit sold in between would come back.
So staff enter a change ("+20 arrived", "-2 damaged") and it is applied with
`F()`, guarded so stock never goes below zero.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from main.exceptions import Conflict
from main.http_cache import catalogue_cache_invalidate_on_commit
from products.models import SKU

# The SKU fields staff edit besides stock (which only moves by adjustment).
SKU_EDITABLE_FIELDS = ("product", "code", "size", "color", "color_hex", "is_active")


class StockAdjustmentRefused(Conflict):
    code = "stock_below_zero"
    default_detail = "That adjustment would take stock below zero."


def sku_stock_adjust(*, sku_id: int, delta: int) -> int:
    """Add `delta` units (negative removes them); returns the new stock."""
    if delta:
        updated = SKU.objects.filter(pk=sku_id, stock__gte=-delta).update(stock=F("stock") + delta)
        if not updated:
            raise StockAdjustmentRefused()
        catalogue_cache_invalidate_on_commit()
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
