"""The catalogue's read model (`products.models.Listing`): the only code that writes it.

A listing row exists exactly when a product is sellable in a market
(`sellable_q`) and holds copies of what a catalogue row shows and sorts by.
Every write here runs in the caller's transaction, so the read model commits
(or rolls back) with the change that moved its source: a reader never sees a
price, stock flag or visibility that the source tables do not hold.

Who calls what:
- `listing_refresh(product_ids)`: after any change to products, prices, SKUs
  or gallery images. Model saves and deletes reach it through the signal
  receivers in `ProductsConfig.ready` (staff in the admin, services, tests);
  code that writes with `update()` or `bulk_create()` calls it itself.
- `listing_sync_stock(product_ids)`: stock moves (checkout, cancellation, staff
  adjustments) copy the products' `in_stock` and `sales_count`, one UPDATE.
- `listing_rebuild()`: every row from scratch (seeders, `manage.py listing_rebuild`).

`ListingTotal` (the number of rows per market) moves with every row added or
removed, so the unfiltered list's total is one primary-key read.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, QuerySet, Subquery

from main.markets import Market
from products.models import SKU, Listing, ListingFacet, ListingTotal, Product, ProductImage

# Listing columns copied as they are from the product row.
_PRODUCT_COLUMNS = (
    "category_id",
    "subcategory_id",
    "slug",
    "name",
    "brand",
    "is_featured",
    "rating_avg",
    "reviews_count",
    "sales_count",
    "created_at",
)
_COPIED = (*_PRODUCT_COLUMNS, "image", "image_renditions", "price", "original_price", "in_stock")
REBUILD_BATCH = 2000


def in_stock_exists(product_ref: str = "pk") -> Exists:
    """ "An active SKU with stock" for the product the outer row names by `product_ref`."""
    return Exists(SKU.objects.filter(product=OuterRef(product_ref), is_active=True, stock__gt=0))


def _rows(products: QuerySet[Product], market: str) -> list[Listing]:
    """The listing rows `products` should have in `market`, computed from the source tables."""
    first_image = ProductImage.objects.filter(product=OuterRef("pk")).order_by("sort_order", "id")
    values = (
        products.sellable_in(market)
        .annotate(
            listed_price=F("prices__price"),
            listed_original_price=F("prices__original_price"),
            listed_in_stock=in_stock_exists(),
            first_image=Subquery(first_image.values("image")[:1]),
            first_image_renditions=Subquery(first_image.values("renditions")[:1]),
        )
        .order_by("pk")
        .values(
            "pk",
            "main_image",
            "main_image_renditions",
            "first_image",
            "first_image_renditions",
            *_PRODUCT_COLUMNS,
            *("listed_price", "listed_original_price", "listed_in_stock"),
        )
    )
    return [
        Listing(
            product_id=row["pk"],
            market=market,
            image=row["main_image"] or row["first_image"] or "",
            image_renditions=(
                row["main_image_renditions"] if row["main_image"] else row["first_image_renditions"]
            )
            or None,
            price=row["listed_price"],
            original_price=row["listed_original_price"],
            in_stock=row["listed_in_stock"],
            **{column: row[column] for column in _PRODUCT_COLUMNS},
        )
        for row in values
    ]


def _facets(product_ids: list[int]) -> dict[int, list[tuple[str, str, str]]]:
    """Each product's (facet, value, colour hex) over its active SKUs: the same in every market."""
    skus = SKU.objects.filter(is_active=True, product_id__in=product_ids).order_by()
    found: dict[int, list[tuple[str, str, str]]] = {}
    for pk, size in skus.values_list("product_id", "size").distinct():
        found.setdefault(pk, []).append((ListingFacet.SIZE, size, ""))
    for row in skus.values("product_id", "color").annotate(hex=Max("color_hex")):
        found.setdefault(row["product_id"], []).append(
            (ListingFacet.COLOR, row["color"], row["hex"])
        )
    return found


def _facet_rows(market: str, rows: list[Listing], facets: dict) -> list[ListingFacet]:
    """The facet rows of these listing rows of `market`."""
    return [
        ListingFacet(
            market=market, product_id=row.product_id, facet=facet, value=value, color_hex=hex_
        )
        for row in rows
        for facet, value, hex_ in facets.get(row.product_id, ())
    ]


def listing_refresh(product_ids: Iterable[int]) -> None:
    """Recompute the listing rows of these products (all markets) from the source tables.

    Atomic on its own too: a model saved outside a transaction (autocommit) has
    its rows, facets and totals written together.
    """
    ids = sorted({pk for pk in product_ids if pk is not None})
    if ids:
        with transaction.atomic(savepoint=False):
            _refresh(ids)


def lock_products(product_ids: Iterable[int]) -> None:
    """Lock these products' rows in id order (FOR NO KEY UPDATE), until the transaction ends.

    Every writer of a product's listing rows holds its product's lock, so two
    writers of one product queue instead of writing from stale snapshots. A
    transaction that writes rows of several products (a bulk delete, a
    changelist save) calls this first with all of them: its refreshes then
    run in whatever order Django sends the signals without taking locks out
    of id order, the order checkout takes them in.
    """
    ids = sorted({pk for pk in product_ids if pk is not None})
    if ids:
        list(
            Product.objects.select_for_update(no_key=True)
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def _refresh(ids: list[int]) -> None:
    # The products' rows lock (id order, as the stock service takes them) serialises two
    # refreshes of one product, so each sees the other's rows and the totals move exactly.
    lock_products(ids)
    products = Product.objects.filter(pk__in=ids)
    existing = set(Listing.objects.filter(product_id__in=ids).values_list("market", "product_id"))
    rows_by_market = {market: _rows(products, market) for market in Market.values}
    facets = _facets(ids)
    for market, rows in rows_by_market.items():
        Listing.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=("product", "market"),
            update_fields=_COPIED,
        )
        listed = [row.product_id for row in rows]
        Listing.objects.filter(market=market, product_id__in=ids).exclude(
            product_id__in=listed
        ).delete()
        ListingFacet.objects.filter(market=market, product_id__in=ids).delete()
        ListingFacet.objects.bulk_create(_facet_rows(market, rows, facets), ignore_conflicts=True)
        before = sum(1 for row_market, _ in existing if row_market == market)
        _total_move(market, len(listed) - before)


def _total_move(market: str, delta: int) -> None:
    if delta:
        ListingTotal.objects.filter(market=market).update(count=F("count") + delta)


def on_product_deleting(sender, instance, **kwargs) -> None:
    """A product is about to be deleted: note its listing rows (they go by cascade).

    Read under the product's lock, so a refresh of the product running at the
    same time (which holds it) has finished and its total move is seen.
    """
    Product.objects.select_for_update().filter(pk=instance.pk).values_list("pk").first()
    instance._listed_markets = list(
        Listing.objects.filter(product_id=instance.pk).values_list("market", flat=True)
    )


def on_product_deleted(sender, instance, **kwargs) -> None:
    """The product and its listing rows are gone: the totals lose them."""
    for market in getattr(instance, "_listed_markets", ()):
        _total_move(market, -1)


def listing_sync_stock(product_ids: Iterable[int]) -> None:
    """Copy `in_stock` and `sales_count` of these products after a stock move (one UPDATE).

    The caller holds the products' row locks (the stock service takes them in
    id order), so this adds no new lock order and no new waiting.
    """
    ids = sorted(set(product_ids))
    if ids:
        sales = Product.objects.filter(pk=OuterRef("product_id")).values("sales_count")[:1]
        Listing.objects.filter(product_id__in=ids).update(
            in_stock=in_stock_exists("product_id"), sales_count=Subquery(sales)
        )


def listing_copy(product_id: int, values: dict) -> None:
    """Copy product columns just written with `update()` (e.g. review counters) to its rows."""
    copied = {field: value for field, value in values.items() if field in _PRODUCT_COLUMNS}
    if copied:
        Listing.objects.filter(product_id=product_id).update(**copied)


def listing_rebuild() -> int:
    """Every listing row again from the source tables (call inside a transaction); the row count."""
    Listing.objects.all().delete()
    ListingFacet.objects.all().delete()
    rows_by_market = {market: _rows(Product.objects.all(), market) for market in Market.values}
    listed = sorted({row.product_id for rows in rows_by_market.values() for row in rows})
    for market, rows in rows_by_market.items():
        Listing.objects.bulk_create(rows, batch_size=REBUILD_BATCH)
        ListingTotal.objects.update_or_create(market=market, defaults={"count": len(rows)})
    by_product = {
        market: {row.product_id: row for row in rows} for market, rows in rows_by_market.items()
    }
    for start in range(0, len(listed), REBUILD_BATCH):
        batch = listed[start : start + REBUILD_BATCH]
        facets = _facets(batch)  # once for every market
        for market, rows in by_product.items():
            in_market = [rows[pk] for pk in batch if pk in rows]
            ListingFacet.objects.bulk_create(
                _facet_rows(market, in_market, facets), batch_size=REBUILD_BATCH
            )
    return sum(len(rows) for rows in rows_by_market.values())


# --- Signal receivers (connected in `ProductsConfig.ready`) -----------------------------------


def _product_ids(instance) -> list[int | None]:
    """The saved row's product, and the one it was loaded with if staff moved it."""
    if isinstance(instance, Product):
        return [instance.pk]
    return [instance.product_id, getattr(instance, "_loaded_product_id", None)]


def on_source_saved(sender, instance, raw=False, **kwargs) -> None:
    """A product, price, SKU or gallery image was saved: its product's rows follow."""
    if raw:  # loaddata writes rows as they are; `manage.py listing_rebuild` after a fixture load
        return
    listing_refresh(_product_ids(instance))
    if not isinstance(instance, Product):
        instance._loaded_product_id = instance.product_id


def on_source_deleted(sender, instance, origin=None, **kwargs) -> None:
    """A price, SKU or gallery image was deleted: its product's rows follow.

    Not when a product's own deletion removes them: its listing rows go by
    cascade, and writing them again would point at a product being deleted.
    """
    if isinstance(origin, Product) or getattr(origin, "model", None) is Product:
        return
    listing_refresh(_product_ids(instance))
