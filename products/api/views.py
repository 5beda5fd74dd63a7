"""Catalogue API: categories and products. Views parse, call a selector, serialize.

Every view here inherits `CatalogueViewSet`, which resolves the viewer's market
(`request.market`, 400 on an invalid one), allows anonymous access, and adds
the HTTP caching headers (ETag/304, Cache-Control, Vary). Response bodies that
depend only on market and query are kept in the server-side cache. Their reads
may go to the read replica (docs/REPLICA.md).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from main.db_router import ReplicaReadsMixin
from main.http_cache import VERSION_KEY, HttpCacheMixin, cached_data
from main.markets import market_config
from main.pagination import PageNumberPagination, paginated_rows
from main.request_market import MarketContextMixin
from products.api.serializers import (
    CategoryOutput,
    FacetsOutput,
    ProductDetailOutput,
    ProductListOutput,
    category_row,
    product_page,
    product_row,
)
from products.filters import (
    FACET_PARAMS,
    PRICE_PARAMS,
    filter_parameters,
    filter_products,
    plain_ordering,
)
from products.selectors import catalogue

# The query parameters of products/ and products/facets/, for the OpenAPI schema.
PRODUCT_FILTER_PARAMETERS = filter_parameters()
# Parameters that choose a page or an order, not which products: one total serves them all.
PAGE_PARAMS = ("page", "page_size", "ordering")


class CatalogueViewSet(
    ReplicaReadsMixin, MarketContextMixin, HttpCacheMixin, viewsets.GenericViewSet
):
    """The one base of every public catalogue view: market, anonymous access, HTTP caching.

    GETs read the replica, anonymous or signed in (catalogue data is written by staff
    only; a user who just wrote, e.g. to their wishlist, is pinned to the primary).
    The fence: a body cached under a new catalogue version is never built from a
    replica that has not replayed the change that moved it.
    """

    replica_fence_key = VERSION_KEY
    permission_classes = (AllowAny,)
    replay_anonymous = True
    pagination_class = PageNumberPagination
    filter_backends = ()
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    # action → output serializer; also what the OpenAPI schema documents.
    output_serializers: dict = {}

    def get_serializer_class(self):
        # OPTIONS and schema introspection may ask outside a known action.
        return self.output_serializers.get(self.action) or self.output_serializers["list"]

    def cached(self, build, *, namespace: str = "", **options):
        return cached_data(
            self.request,
            market=self.request.market,
            build=build,
            namespace=f"{type(self).__name__}.{self.action}.{namespace}",
            **options,
        )


class CategoryViewSet(CatalogueViewSet):
    """`categories/`: every visible category (not paginated); `categories/{slug}/`."""

    pagination_class = None
    output_serializers = {"list": CategoryOutput, "retrieve": CategoryOutput}

    @extend_schema(
        summary="Categories of the market, with their subcategories",
        description="Every visible category, in display order; not paginated.",
    )
    def list(self, request):
        def build():
            rows = catalogue.category_rows(market=request.market)
            return [category_row(row, request) for row in rows]

        return Response(self.cached(build))

    @extend_schema(summary="One category by slug, with its subcategories")
    def retrieve(self, request, slug=None):
        def build():
            category = catalogue.category_get(market=request.market, slug=slug)
            return CategoryOutput(category, context=self.get_serializer_context()).data

        return Response(self.cached(build))


class ProductViewSet(CatalogueViewSet):
    output_serializers = {
        "list": ProductListOutput,
        "retrieve": ProductDetailOutput,
        "facets": FacetsOutput,
    }

    @extend_schema(
        summary="Products of the market: filtered, ordered, paginated",
        parameters=PRODUCT_FILTER_PARAMETERS,
    )
    def list(self, request):
        currency = market_config(request.market).currency

        def build():
            params = request.query_params
            order_by = plain_ordering(params)
            if order_by is not None:  # no filter: the kept total, a prepared page query
                rows = catalogue.ListingPage(market=request.market, order_by=order_by)
                count = rows.count
            else:
                listings = filter_products(catalogue.listing_list(market=request.market), params)
                rows = listings.values(*catalogue.LIST_ROW_FIELDS)

                def count():  # memoised per market and filter: every page and order shares it
                    return self.cached(
                        listings.count,
                        namespace="count",
                        ignore=PAGE_PARAMS,
                        timeout=settings.CATALOGUE_COUNT_CACHE_SECONDS,
                    )

            return paginated_rows(
                self,
                rows,
                count=count,
                shape=lambda row: product_row(row, request, currency),
            ).data

        return Response(self.cached(build))

    @extend_schema(
        summary="The product page: gallery, sizes, stars, fit and related products",
        description="`in_wishlist` is true when a signed-in customer has wished the product.",
    )
    def retrieve(self, request, slug=None):
        market = request.market

        def build():
            row = catalogue.listing_detail_get(market=market, slug=slug)
            stars = {str(star): row[f"product__rating_{star}_count"] for star in range(1, 6)}
            return product_page(
                row,
                rating=catalogue.rating_summary(stars),
                related=catalogue.listing_related(market=market, row=row),
                request=request,
                currency=market_config(market).currency,
            )

        data = self.cached(build)
        if request.user.is_authenticated:
            # Per-user data: only the user's own cache may keep this body.
            self.cache_private = True
            in_wishlist = catalogue.product_in_wishlist(user=request.user, product_id=data["id"])
            data = {**data, "in_wishlist": in_wishlist}
        return Response(data)

    @extend_schema(
        summary="Filter choices with product counts for the current filters",
        description="Each facet ignores its own filter, so choosing `size=S` still lists "
        "the other sizes; `price` ignores `min_price`/`max_price`.",
        responses=FacetsOutput,
        parameters=PRODUCT_FILTER_PARAMETERS,
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def facets(self, request):
        def build():
            listed = catalogue.listing_list(market=request.market)
            params = request.query_params
            querysets = {
                name: filter_products(listed, params, drop=drop)
                for name, drop in FACET_PARAMS.items()
            }
            querysets["price"] = filter_products(listed, params, drop=PRICE_PARAMS)
            facets = catalogue.product_facets(
                market=request.market,
                listed=listed,
                querysets=querysets,
                base=filter_products(listed, params),
            )
            return FacetsOutput(facets, context=self.get_serializer_context()).data

        return Response(self.cached(build))
