"""Query filters and orderings of `products/` and `products/facets/` (SPEC §5).

Every parameter is validated: an unknown ordering, a malformed price or a
boolean other than `true`/`false` is a 400 `invalid`, never a 500 or a silent
no-op. Filters run on the read model (`selectors.listing_list(market=...)`),
whose rows carry the viewer's market price as `price`.
"""

from __future__ import annotations

import django_filters
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from products.models import ListingFacet

BOOLEAN_CHOICES = (("true", "true"), ("false", "false"))

# Public ordering value → ORDER BY (with a tie-breaker so pages are stable).
ORDERINGS = {
    "price": ("price", "product_id"),
    "-price": ("-price", "-product_id"),
    "-created_at": ("-created_at", "-product_id"),
    "-sales_count": ("-sales_count", "-product_id"),
    "-rating_avg": ("-rating_avg", "-reviews_count", "-product_id"),
}

# Parameters facets drop one at a time (a facet ignores its own filter).
FACET_PARAMS = {"size": ("size",), "color": ("color",), "brand": ("brand",)}
PRICE_PARAMS = ("min_price", "max_price")


def split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(method="filter_category")
    subcategory = django_filters.CharFilter(method="filter_subcategory")
    brand = django_filters.CharFilter(method="filter_brand")
    size = django_filters.CharFilter(method="filter_size")
    color = django_filters.CharFilter(method="filter_color")
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte", min_value=0)
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte", min_value=0)
    in_stock = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_in_stock")
    is_featured = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_is_featured")
    search = django_filters.CharFilter(method="filter_search", max_length=100)
    ordering = django_filters.ChoiceFilter(
        choices=[(key, key) for key in ORDERINGS], method="filter_ordering"
    )

    def filter_category(self, queryset, name, value):
        return queryset.filter(category__slug=value)

    def filter_subcategory(self, queryset, name, value):
        # Subcategory slugs are unique per category only. With `category`
        # also given, `category` already narrows the rows to that category's
        # subcategory; alone, it matches that slug in every visible category
        # (e.g. "t-shirts" under both Men and Women).
        return queryset.filter(subcategory__slug=value, subcategory__is_active=True)

    def filter_brand(self, queryset, name, value):
        brands = split_csv(value)
        if not brands:
            return queryset
        condition = Q()
        for brand in brands:
            condition |= Q(brand__iexact=brand)
        return queryset.filter(condition)

    def _facet_filter(self, queryset, facet: str, value: str):
        """Products with an active SKU of one of the comma-separated values (facet rows)."""
        values = split_csv(value)
        if not values:
            return queryset
        rows = ListingFacet.objects.filter(
            market=OuterRef("market"), facet=facet, value__in=values, product=OuterRef("product_id")
        )
        return queryset.filter(Exists(rows))

    def filter_size(self, queryset, name, value):
        return self._facet_filter(queryset, ListingFacet.SIZE, value)

    def filter_color(self, queryset, name, value):
        return self._facet_filter(queryset, ListingFacet.COLOR, value)

    def filter_in_stock(self, queryset, name, value):
        return queryset.filter(in_stock=(value == "true"))

    def filter_is_featured(self, queryset, name, value):
        return queryset.filter(is_featured=(value == "true"))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # On the product's own columns, where the GIN trigram indexes are.
        condition = (
            Q(product__name__icontains=value)
            | Q(product__brand__icontains=value)
            | Q(product__description__icontains=value)
        )
        if connection.vendor == "postgresql":
            # pg_trgm (migration 0003): typo-tolerant word similarity on name
            # and brand; the GIN trigram indexes also serve the ILIKEs above.
            condition |= Q(product__name__trigram_word_similar=value) | Q(
                product__brand__trigram_word_similar=value
            )
        return queryset.filter(condition)

    def filter_ordering(self, queryset, name, value):
        return queryset.order_by(*ORDERINGS[value])


# What each parameter means, for the OpenAPI schema (docs/CATALOGUE.md has the long form).
DESCRIPTIONS = {
    "category": "Category slug.",
    "subcategory": "Subcategory slug; with `category` for one subcategory, else in every category.",
    "brand": "Brand names, comma-separated, any case: `Acme,Bolt`.",
    "size": "Sizes, comma-separated: a product with an active SKU in one of them: `S,M`.",
    "color": "Colour names as facets list them, comma-separated: `Black,Red`.",
    "min_price": "Lowest price in the market's currency, included.",
    "max_price": "Highest price in the market's currency, included.",
    "in_stock": "Only products in stock (`true`) or out of stock (`false`).",
    "is_featured": "Only featured (`true`) or other (`false`) products.",
    "search": "Words in the name, brand or description (typo-tolerant on PostgreSQL).",
    "ordering": "Order of the results (default `-created_at`, newest first).",
}
_PRICE_SCHEMA = {
    "type": "string",
    "format": "decimal",
    "pattern": r"^\d+(?:\.\d+)?$",
    "example": "1290.00",
}


def filter_parameters() -> list[OpenApiParameter]:
    """The query parameters of `ProductFilter`, typed as the filters accept them."""
    parameters = []
    for name, filter_ in ProductFilter.base_filters.items():
        kind, enum = OpenApiTypes.STR, None
        if isinstance(filter_, django_filters.ChoiceFilter):
            if tuple(filter_.extra["choices"]) == BOOLEAN_CHOICES:
                kind = OpenApiTypes.BOOL  # `true` / `false` exactly, as clients send booleans
            else:
                enum = [value for value, _ in filter_.extra["choices"]]
        elif isinstance(filter_, django_filters.NumberFilter):
            kind = _PRICE_SCHEMA
        elif max_length := filter_.extra.get("max_length"):
            kind = {"type": "string", "maxLength": max_length}
        parameters.append(
            OpenApiParameter(name, kind, enum=enum, description=DESCRIPTIONS.get(name, ""))
        )
    return parameters


FILTER_NAMES = frozenset(ProductFilter.base_filters)
_NARROWING = FILTER_NAMES - {"ordering"}


def plain_ordering(params) -> tuple[str, ...] | None:
    """The ORDER BY of a request that filters nothing (a valid `ordering` at most), else None."""
    if not _NARROWING.isdisjoint(params):
        return None
    return ORDERINGS.get(params.get("ordering", "-created_at"))


def filter_products(queryset, params, *, request=None, drop: tuple[str, ...] = ()):
    """`queryset` narrowed by the query `params` (minus `drop`); invalid values → 400 invalid."""
    if FILTER_NAMES.difference(drop).isdisjoint(params):
        return queryset  # nothing to filter or validate (a plain page): skip the form machinery
    data = params.copy()
    for name in drop:
        data.pop(name, None)
    filterset = ProductFilter(data=data, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    return filterset.qs
