"""Catalogue reads. Every join, prefetch and annotation the catalogue API needs lives here."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404

from main.prepared import PreparedValues
from products.models import (
    SKU,
    Category,
    Listing,
    ListingFacet,
    ListingTotal,
    Product,
    ProductFeature,
    ProductImage,
    Subcategory,
    WishlistItem,
)

RELATED_PRODUCTS_LIMIT = 8
LETTER_SIZES = ("XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL")


def size_sort_key(size: str) -> tuple:
    """Letter sizes in wearing order, then numeric sizes by value, then the rest by name."""
    upper = size.upper()
    if upper in LETTER_SIZES:
        return (0, LETTER_SIZES.index(upper), "")
    try:
        return (1, float(size), "")
    except ValueError:
        return (2, 0, size)


def category_list(*, market: str) -> QuerySet[Category]:
    """Visible categories, ordered, with active subcategories and `product_count`.

    The count is a scalar subquery per category over the read model (an
    index-only count of `listing_category_idx`), in the same query;
    subcategories are one prefetch query.
    """
    sellable = (
        Listing.objects.filter(market=market, category=OuterRef("pk"))
        .order_by()
        .values("category")
        .annotate(n=Count("*"))
        .values("n")
    )
    return (
        Category.objects.visible_to(market)
        .annotate(product_count=Coalesce(Subquery(sellable), 0))
        .prefetch_related(
            Prefetch(
                "subcategories",
                queryset=Subcategory.objects.filter(is_active=True).order_by("sort_order", "name"),
            )
        )
        .order_by("sort_order", "name", "id")
    )


CATEGORY_FIELDS = ("id", "name", "slug", "description", "image", "market", "sort_order")


def category_rows(*, market: str) -> list[dict[str, Any]]:
    """`category_list` as plain rows, each with its `subcategories` rows (two prepared queries)."""
    rows = _category_rows(market=market)
    children: dict[int, list] = {row["id"]: [] for row in rows}
    for sub in _subcategory_rows(market=market):
        children[sub.pop("category_id")].append(sub)
    for row in rows:
        row["subcategories"] = children[row["id"]]
    return rows


_category_rows = PreparedValues(
    lambda market: category_list(market=market).values(*CATEGORY_FIELDS, "product_count"),
    texts=("market",),
)
# The active subcategories of the visible categories (the same set `category_list` prefetches).
_subcategory_rows = PreparedValues(
    lambda market: (
        Subcategory.objects.visible_to(market)
        .order_by("sort_order", "name")
        .values("category_id", "id", "name", "slug", "image")
    ),
    texts=("market",),
)


def category_get(*, market: str, slug: str) -> Category:
    return get_object_or_404(category_list(market=market), slug=slug)


# --- The storefront's reads: the read model (`Listing`), plain rows ---------------------------

# What one product row of a list needs (`api.serializers.product_row`).
LIST_ROW_FIELDS = (
    "product_id",
    "slug",
    "name",
    "brand",
    "image",
    "image_renditions",
    "price",
    "original_price",
    "rating_avg",
    "reviews_count",
    "in_stock",
    "is_featured",
)
# What the product page needs besides a list row: the product's text and counters, its
# category and subcategory (one query with two joins).
DETAIL_FIELDS = (
    *LIST_ROW_FIELDS,
    "category_id",
    "subcategory_id",
    "product__description",
    "category__name",
    "category__slug",
    "subcategory__name",
    "subcategory__slug",
    *(f"product__rating_{star}_count" for star in range(1, 6)),
    "product__fit_runs_small_count",
    "product__fit_true_to_size_count",
    "product__fit_runs_large_count",
    "product__returned_too_small_count",
    "product__returned_too_large_count",
)


def listing_list(*, market: str) -> QuerySet[Listing]:
    """The products sellable in `market` as read-model rows, newest first (the default order).

    Filters (`products.filters`) narrow it; a page of it is
    `.values(*LIST_ROW_FIELDS)`. The same products, in the same order, as
    `product_list` (the read model's tests hold the two together).
    """
    return Listing.objects.filter(market=market).order_by("-created_at", "-product_id")


class ListingPage:
    """Every listed product of a market in one order, paged by queries compiled once.

    The unfiltered list (a catalogue's busiest page) skips building and
    compiling its two queries per request: `count()` reads the market's
    `ListingTotal` (no count at all) and a slice `[start:stop]` is a prepared
    page query per (order, bounds). The same rows as `listing_list(...).order_by(*order_by)`.
    """

    ordered = True

    def __init__(self, *, market: str, order_by: tuple[str, ...]):
        self.market = market
        self.order_by = order_by

    def count(self) -> int:
        rows = _listing_total(market=self.market)
        if rows:
            return rows[0]["count"]
        return Listing.objects.filter(market=self.market).count()  # before any total was kept

    def __getitem__(self, bounds: slice) -> list[dict[str, Any]]:
        if bounds.start == bounds.stop:
            return []
        return _listing_page(shape=(self.order_by, bounds.start, bounds.stop), market=self.market)


def listing_detail_get(*, market: str, slug: str) -> dict[str, Any]:
    """The product page's data as plain rows: the product, gallery, features, active SKUs.

    Four queries; 404 when the product is not sellable in `market`.
    """
    rows = _listing_page_row(market=market, slug=slug)
    if not rows:
        raise Http404("No product matches the given query.")
    row = rows[0]
    product_id = row["product_id"]
    row["images"] = _gallery(product_id=product_id)
    row["features"] = _features(product_id=product_id)
    row["skus"] = _active_skus(product_id=product_id)
    return row


_listing_total = PreparedValues(
    lambda market: ListingTotal.objects.filter(market=market).values("count"),
    texts=("market",),
)
_listing_page = PreparedValues(
    lambda order_by, start, stop, market: (
        listing_list(market=market).order_by(*order_by).values(*LIST_ROW_FIELDS)[start:stop]
    ),
    texts=("market",),
)

# The product page's queries, compiled once (`PreparedValues`).
_listing_page_row = PreparedValues(
    lambda market, slug: (
        Listing.objects.filter(market=market, slug=slug)
        .order_by()  # one row: no sort (the default order would join products for nothing)
        .values(*DETAIL_FIELDS)
    ),
    texts=("market", "slug"),
)
_gallery = PreparedValues(
    lambda product_id: (
        ProductImage.objects.filter(product_id=product_id)
        .order_by("sort_order", "id")
        .values("id", "image", "renditions", "alt_text", "sort_order", "color")
    ),
    ints=("product_id",),
)
_features = PreparedValues(
    lambda product_id: (
        ProductFeature.objects.filter(product_id=product_id)
        .order_by("sort_order", "id")
        .values("name", "value")
    ),
    ints=("product_id",),
)
_active_skus = PreparedValues(
    lambda product_id: (
        SKU.objects.filter(product_id=product_id, is_active=True)
        .order_by("id")
        .values("id", "size", "color", "color_hex", "stock")
    ),
    ints=("product_id",),
)


def listing_related(*, market: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    """`product_related` for a `listing_detail_get` row: up to 8 list rows, one query."""
    if row["subcategory_id"]:
        return _related_in_subcategory(
            market=market, product_id=row["product_id"], group_id=row["subcategory_id"]
        )
    return _related_in_category(
        market=market, product_id=row["product_id"], group_id=row["category_id"]
    )


def _related(group: str):
    """Top sellers of the same `group` (subcategory or category), the product itself excluded."""

    def build(market, product_id, group_id):
        return (
            Listing.objects.filter(market=market, **{group: group_id})
            .exclude(product_id=product_id)
            .order_by("-sales_count", "-product_id")
            .values(*LIST_ROW_FIELDS)[:RELATED_PRODUCTS_LIMIT]
        )

    return PreparedValues(build, ints=("product_id", "group_id"), texts=("market",))


_related_in_subcategory = _related("subcategory_id")
_related_in_category = _related("category_id")


def rating_summary(counts: dict[str, int]) -> dict[str, Any]:
    """Average, count and distribution from the approved reviews per star (`{"1": n, …}`)."""
    total = sum(counts.values())
    average = sum(int(star) * n for star, n in counts.items()) / total if total else 0
    return {"average": f"{average:.2f}", "count": total, "distribution": counts}


# --- Model-based reads (the wishlist, nested routes, and the read model's reference) -----------


def product_list(*, market: str) -> QuerySet[Product]:
    """Products sellable in `market`, annotated with that market's price and list-row data.

    Annotations: `price`, `original_price` (the same join `sellable_in` filters
    on, one row per product since prices are unique per product and market),
    `in_stock` (an active SKU with stock), `first_image` and its
    `first_image_renditions` (fallback when there is no `main_image`).
    """
    first_image = ProductImage.objects.filter(product=OuterRef("pk")).order_by("sort_order", "id")
    # A LIMIT-ed scalar subquery rather than EXISTS: PostgreSQL turns EXISTS in a
    # select list into a hashed scan of every SKU (60k rows at 10k products);
    # this form probes the partial index `sku_in_stock_idx` for the page's rows only.
    sku_in_stock = SKU.objects.filter(product=OuterRef("pk"), is_active=True, stock__gt=0)
    return (
        Product.objects.sellable_in(market)
        .annotate(
            price=F("prices__price"),
            original_price=F("prices__original_price"),
            in_stock_sku=Subquery(sku_in_stock.values("pk")[:1]),
        )
        .annotate(
            in_stock=ExpressionWrapper(Q(in_stock_sku__isnull=False), output_field=BooleanField()),
            first_image=Subquery(first_image.values("image")[:1]),
            first_image_renditions=Subquery(first_image.values("renditions")[:1]),
        )
        .order_by("-created_at", "-id")
    )


def product_detail_get(*, market: str, slug: str) -> Product:
    """One sellable product with images, features and active SKUs prefetched; 404 otherwise.

    The fit summary and the rating distribution are the product's own counters
    (`fit_<fit>_count`, `returned_too_<small|large>_count`, `rating_<star>_count`,
    kept by the reviews app), so they cost no extra query.
    """
    queryset = (
        product_list(market=market)
        .select_related("category", "subcategory")
        .prefetch_related(
            "images",
            "features",
            Prefetch("skus", queryset=SKU.objects.filter(is_active=True).order_by("id")),
        )
    )
    return get_object_or_404(queryset, slug=slug)


def product_sellable_get(*, market: str, slug: str) -> Product:
    """A sellable product without extras (for nested routes such as reviews); 404 otherwise."""
    return get_object_or_404(Product.objects.sellable_in(market), slug=slug)


def product_related(*, market: str, product: Product) -> list[Product]:
    """Up to 8 other sellable products of the same subcategory (else category), top sellers."""
    queryset = product_list(market=market).exclude(pk=product.pk)
    if product.subcategory_id:
        queryset = queryset.filter(subcategory_id=product.subcategory_id)
    else:
        queryset = queryset.filter(category_id=product.category_id)
    return list(queryset.order_by("-sales_count", "-id")[:RELATED_PRODUCTS_LIMIT])


def product_rating_summary(*, product: Product) -> dict[str, Any]:
    """Average, count and the 1-5 distribution of approved reviews (the product's counters)."""
    return rating_summary(
        {str(star): getattr(product, f"rating_{star}_count") for star in range(1, 6)}
    )


def product_in_wishlist(*, user, product_id: int) -> bool:
    if not user or not user.is_authenticated:
        return False
    return WishlistItem.objects.filter(wishlist__user=user, product_id=product_id).exists()


def _facet_rows(kind: str, market: str, products: QuerySet[Listing], listed: QuerySet[Listing]):
    """The read model's `kind` facet rows of `products` (all listed products: no join at all)."""
    rows = ListingFacet.objects.filter(market=market, facet=kind)
    if products is not listed:
        rows = rows.filter(product_id__in=products.values("product_id"))
    return rows.values("value").order_by("value")


def product_facets(
    *,
    market: str,
    listed: QuerySet[Listing],
    querysets: dict[str, QuerySet[Listing]],
    base: QuerySet[Listing],
) -> dict[str, Any]:
    """Sizes (in wearing order), colours, brands and price range with counts of products.

    Each facet is computed over `querysets[facet]`: the current filter without
    that facet's own parameter (so choosing `size=S` still lists the other
    sizes); `base` is the fully filtered queryset for the count. All narrow
    `listed` (`listing_list(market=...)`), and a facet that is not narrowed
    reads only the read model's facet rows. Five queries whatever the catalogue size.
    """
    sizes = _facet_rows(ListingFacet.SIZE, market, querysets["size"], listed).annotate(
        count=Count("*")
    )
    colors = _facet_rows(ListingFacet.COLOR, market, querysets["color"], listed).annotate(
        count=Count("*"), color_hex=Max("color_hex")
    )
    brands = (
        querysets["brand"]
        .exclude(brand="")
        .order_by()
        .values("brand")
        .annotate(count=Count("*"))
        .order_by("brand")
    )
    price = querysets["price"].order_by().aggregate(min=Min("price"), max=Max("price"))
    return {
        "sizes": [
            {"value": row["value"], "count": row["count"]}
            for row in sorted(sizes, key=lambda row: size_sort_key(row["value"]))
        ],
        "colors": [
            {"value": row["value"], "color_hex": row["color_hex"], "count": row["count"]}
            for row in colors
        ],
        "brands": [{"value": row["brand"], "count": row["count"]} for row in brands],
        "price": {"min": price["min"], "max": price["max"]},
        "count": base.count(),
    }
