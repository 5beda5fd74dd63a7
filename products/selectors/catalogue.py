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
from django.shortcuts import get_object_or_404

from products.models import (
    SKU,
    Category,
    Product,
    ProductImage,
    Subcategory,
    WishlistItem,
    sellable_q,
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

    The count is one filtered `Count` in the same query (no query per category);
    subcategories are one prefetch query.
    """
    return (
        Category.objects.visible_to(market)
        .annotate(
            product_count=Count("products", filter=sellable_q(market, "products__"), distinct=True)
        )
        .prefetch_related(
            Prefetch(
                "subcategories",
                queryset=Subcategory.objects.filter(is_active=True).order_by("sort_order", "name"),
            )
        )
        .order_by("sort_order", "name", "id")
    )


def category_get(*, market: str, slug: str) -> Category:
    return get_object_or_404(category_list(market=market), slug=slug)


def product_list(*, market: str) -> QuerySet[Product]:
    """Products sellable in `market`, annotated with that market's price and list-row data.

    Annotations: `price`, `original_price` (the same join `sellable_in` filters
    on, one row per product since prices are unique per product and market),
    `in_stock` (an active SKU with stock), `first_image` (fallback when there is
    no `main_image`).
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
        )
        .order_by("-created_at", "-id")
    )


def product_detail_get(*, market: str, slug: str) -> Product:
    """One sellable product with images, features and active SKUs prefetched; 404 otherwise.

    The fit summary and the rating distribution are the product's own counters
    (`fit_<fit>_count`, `rating_<star>_count`, kept by the reviews app), so
    they cost no extra query.
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
    distribution = {
        "1": product.rating_1_count,
        "2": product.rating_2_count,
        "3": product.rating_3_count,
        "4": product.rating_4_count,
        "5": product.rating_5_count,
    }
    total = sum(distribution.values())
    average = sum(int(star) * n for star, n in distribution.items()) / total if total else 0
    return {"average": f"{average:.2f}", "count": total, "distribution": distribution}


def product_in_wishlist(*, user, product_id: int) -> bool:
    if not user or not user.is_authenticated:
        return False
    return WishlistItem.objects.filter(wishlist__user=user, product_id=product_id).exists()


def product_facets(
    *, querysets: dict[str, QuerySet[Product]], base: QuerySet[Product]
) -> dict[str, Any]:
    """Sizes (in wearing order), colours, brands and price range with counts of products.

    Each facet is computed over `querysets[facet]`: the current filter without
    that facet's own parameter (so choosing `size=S` still lists the other
    sizes); `base` is the fully filtered queryset for the price range. Four
    queries whatever the catalogue size.
    """
    sizes = (
        SKU.objects.filter(is_active=True, product__in=querysets["size"].values("pk"))
        .values("size")
        .annotate(count=Count("product", distinct=True))
        .order_by("size")
    )
    colors = (
        SKU.objects.filter(is_active=True, product__in=querysets["color"].values("pk"))
        .values("color")
        .annotate(count=Count("product", distinct=True), color_hex=Max("color_hex"))
        .order_by("color")
    )
    brands = (
        Product.objects.filter(pk__in=querysets["brand"].values("pk"))
        .exclude(brand="")
        .values("brand")
        .annotate(count=Count("id"))
        .order_by("brand")
    )
    price = querysets["price"].order_by().aggregate(min=Min("price"), max=Max("price"))
    return {
        "sizes": [
            {"value": row["size"], "count": row["count"]}
            for row in sorted(sizes, key=lambda row: size_sort_key(row["size"]))
        ],
        "colors": [
            {"value": row["color"], "color_hex": row["color_hex"], "count": row["count"]}
            for row in colors
        ],
        "brands": [{"value": row["brand"], "count": row["count"]} for row in brands],
        "price": {"min": price["min"], "max": price["max"]},
        "count": base.count(),
    }
