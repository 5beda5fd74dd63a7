"""The storefront's fast path equals the model-based serializers, byte for byte.

The catalogue endpoints read the read model (`Listing`, `ListingFacet`) as plain
rows shaped by plain functions (`product_row`, `product_page`, `category_row`).
The promise is that every body is exactly what the model-based path writes:
`catalogue.product_list` / `product_detail_get` / `product_related` /
`category_list` through `ProductListOutput` / `ProductDetailOutput` /
`CategoryOutput`. These tests build one varied catalogue with model saves (so
the read model follows through its signals) and compare rendered bytes for
every ordering, several page sizes and pages, the filters, every product page,
the categories and the facets, in both markets. Reference querysets are
narrowed with explicit Django lookups written here from the filters'
documented meaning, not with `products.filters`.

Comparisons collect every mismatch of a test and fail once, naming the case
and the first differing field with both values.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from main.http_cache import catalogue_cache_invalidate
from main.markets import CatalogMarket, market_config
from main.pagination import PageNumberPagination
from main.renderers import JSONRenderer
from products.api.serializers import CategoryOutput, ProductDetailOutput, ProductListOutput
from products.filters import ORDERINGS
from products.models import (
    SKU,
    Category,
    Product,
    ProductFeature,
    ProductImage,
    ProductPrice,
    Subcategory,
)
from products.selectors import catalogue
from products.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductPriceFactory,
    SKUFactory,
    SubcategoryFactory,
)

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/products/"
FACETS_URL = "/api/v1/products/facets/"
CATEGORIES_URL = "/api/v1/categories/"
MARKETS = ("KG", "US")
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

# The public orderings in plain Django lookups on the product (the tie-breaker is its id).
REFERENCE_ORDERINGS = {
    None: ("-created_at", "-id"),
    "price": ("price", "id"),
    "-price": ("-price", "-id"),
    "-created_at": ("-created_at", "-id"),
    "-sales_count": ("-sales_count", "-id"),
    "-rating_avg": ("-rating_avg", "-reviews_count", "-id"),
}

BLACK_RU = "\u0427\u0451\u0440\u043d\u044b\u0439"  # "Black" in Russian: a non-ASCII colour
BRANDS = ("Acme", "acme", "BOLT", "Bolt", "", "\u00c9l\u00e9gance")


def url(slug: str) -> str:
    return f"/api/v1/products/{slug}/"


# --- The catalogue -----------------------------------------------------------------------------


def _image(name: str) -> ContentFile:
    return ContentFile(b"x", name=name)


def _skus(i: int) -> list[tuple[str, str, str, int, bool]]:
    """(size, colour, hex, stock, active) of generated product `i`: six patterns."""
    low = settings.LOW_STOCK_THRESHOLD
    plenty = low + 20
    return [
        [],
        [("XS", "Black", "#000000", 0, True), ("M", "Black", "#1A1A1A", low, True)],
        [
            ("M", "Red", "#FF0000", plenty, True),
            ("42", "Red", "", 0, True),
            ("L", "Blue", "#0000FF", plenty, False),
        ],
        [("XS", BLACK_RU, "#0A0A0A", 0, True), ("44", "Blue", "#0000FF", low + 1, True)],
        [
            ("42", "Black", "#000000", 1, True),
            ("One Size", "Blue", "", plenty, True),
            ("XL", "Black", "#000000", plenty, False),  # XL exists only inactive
        ],
        [
            ("S", "Black", "", plenty, True),
            ("M", "Black", "#222222", low, True),
            ("XXL", "Red", "#FF0000", 0, False),
        ],
    ][i % 6]


def _prices(product: Product, kg, kg_was, us, us_was) -> None:
    if kg is not None:
        ProductPriceFactory(product=product, market="KG", price=kg, original_price=kg_was)
    if us is not None:
        ProductPriceFactory(product=product, market="US", price=us, original_price=us_was)


def build_catalogue() -> dict:
    """A varied catalogue, written with model saves so `Listing` follows by signals."""
    men = CategoryFactory(name="Men", slug="men", sort_order=1, image=_image("men.png"))
    women = CategoryFactory(
        name="\u0416\u0435\u043d\u0449\u0438\u043d\u0430\u043c", slug="women", sort_order=1
    )
    kg_only = CategoryFactory(name="Kalpak", slug="kg-only", market=CatalogMarket.KG)
    us_only = CategoryFactory(name="Denim", slug="us-only", market=CatalogMarket.US, sort_order=2)
    hidden = CategoryFactory(name="Archive", slug="hidden", is_active=False)
    bare_category = CategoryFactory(name="Solo", slug="solo", sort_order=3)
    subs = {
        men.pk: [
            SubcategoryFactory(category=men, name="Shirts", slug="shirts"),
            SubcategoryFactory(
                category=men, name="Trousers", slug="trousers", image=_image("trousers.png")
            ),
            SubcategoryFactory(category=men, name="Accessories", slug="accessories", sort_order=1),
        ],
        women.pk: [
            SubcategoryFactory(category=women, name="Shirts", slug="shirts", is_active=False),
            SubcategoryFactory(category=women, name="Dresses", slug="dresses", sort_order=2),
        ],
        kg_only.pk: [SubcategoryFactory(category=kg_only, name="Outerwear", slug="outerwear")],
        us_only.pk: [SubcategoryFactory(category=us_only, name="Outerwear", slug="outerwear")],
        hidden.pk: [],
    }
    categories = (men, women, kg_only, us_only, hidden)
    markets = (CatalogMarket.ALL, CatalogMarket.ALL, CatalogMarket.KG, CatalogMarket.US)
    names = (
        "Linen shirt",
        "Wool coat",
        "\u0424\u0443\u0442\u0431\u043e\u043b\u043a\u0430",  # a Russian T-shirt
        "Caf\u00e9 cr\u00e8me",
    )
    descriptions = (
        "Pure linen, breathable.",
        "",
        "\u041c\u044f\u0433\u043a\u0438\u0439 \u0445\u043b\u043e\u043f\u043e\u043a\u2028line two",
    )
    ratings = (("0.00", 0), ("4.50", 10), ("4.50", 10), ("3.25", 4), ("5.00", 1))
    for i in range(30):
        category = categories[i % 5]
        options = subs[category.pk]
        kg = Decimal(900 + (i % 5) * 350) + (Decimal("0.50") if i % 3 == 0 else 0)
        kg = None if i % 7 == 4 else kg
        us = None if i % 5 == 2 else Decimal("9.99") + Decimal(5 * (i % 4))
        rating, reviews = ratings[i % 5]
        product = ProductFactory(
            slug=f"p-{i:02d}",
            name=f"{names[i % 4]} {i}",
            description=descriptions[i % 3],
            brand=BRANDS[i % 6],
            market=markets[i % 4] if i % 9 else CatalogMarket.ALL,
            category=category,
            subcategory=None if i % 3 == 0 or not options else options[(i // 5) % len(options)],
            is_active=i % 13 != 5,
            is_featured=i % 3 == 1,
            main_image=_image(f"p{i}.png") if i % 4 in (0, 3) else "",
            rating_avg=Decimal(rating),
            reviews_count=reviews,
            sales_count=(i * 7) % 5 * 10,
            rating_1_count=i % 2,
            rating_3_count=i % 3,
            rating_4_count=(i // 2) % 4,
            rating_5_count=i % 5,
            fit_runs_small_count=i % 3,
            fit_true_to_size_count=i % 4,
            fit_runs_large_count=i % 2,
            returned_too_small_count=(i // 2) % 3,
            returned_too_large_count=i % 4 // 3,
        )
        _prices(
            product,
            kg,
            # A discount, a "was" price equal to the price, or none.
            {0: kg + Decimal("123.45") * (i % 3 + 1), 1: kg}.get(i % 4) if kg else None,
            us,
            {2: us * 2, 3: us + Decimal("0.01"), 0: us}.get(i % 4) if us else None,
        )
        for size, color, hex_, stock, active in _skus(i):
            SKUFactory(
                product=product,
                size=size,
                color=color,
                color_hex=hex_,
                stock=stock,
                is_active=active,
            )
        if i % 4 in (1, 3):  # a gallery; sort_order ties broken by id
            orders = (2, 0, 0) if i % 4 == 1 else (0,)
            for n, order in enumerate(orders):
                ProductImage.objects.create(
                    product=product,
                    image=_image(f"g{i}-{n}.png"),
                    alt_text=f"View {n}",
                    sort_order=order,
                )
        if i % 3 == 0:
            ProductFeature.objects.create(product=product, name="Material", value="Linen")
            ProductFeature.objects.create(product=product, name="Care", value="Hand wash")
        # Equal timestamps in groups, so the id decides; a model save copies them.
        product.created_at = T0 if i % 4 < 2 else T0 - timedelta(hours=i % 7)
        product.save()

    # A product page with much of everything, and nine siblings to relate to.
    trousers = subs[men.pk][1]
    rich = ProductFactory(
        slug="rich",
        name="Rich",
        brand="Acme",
        category=men,
        subcategory=trousers,
        main_image=_image("rich.png"),
        rating_5_count=3,
        rating_2_count=1,
    )
    _prices(rich, Decimal("2500.00"), Decimal("3000.00"), Decimal("40.00"), None)
    for n in range(5):
        ProductImage.objects.create(product=rich, image=_image(f"rich{n}.png"), sort_order=n % 2)
        ProductFeature.objects.create(product=rich, name=f"F{n}", value=f"V{n}", sort_order=1)
    for n, size in enumerate(("XS", "S", "M", "L", "42", "44")):
        SKUFactory(product=rich, size=size, color="Black", stock=n)
    for n in range(9):
        sibling = ProductFactory(
            slug=f"sibling-{n}", category=men, subcategory=trousers, sales_count=n % 3
        )
        _prices(sibling, Decimal("1800.00"), None, Decimal("25.00"), Decimal("25.00"))
    # A product page with nothing: no image, SKU, feature or related product.
    bare = ProductFactory(slug="bare", name="Bare", brand="", category=bare_category)
    _prices(bare, Decimal("100.00"), None, Decimal("1.00"), None)
    return {"rich": rich.slug, "bare": bare.slug}


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker):
    """The catalogue, built once for the module (about 40 products, some 4,000 queries).

    Committed outside the tests' transactions, so every test (each rolled back
    on its own) reads it, and deleted at the end of the module.
    """
    with django_db_blocker.unblock(), transaction.atomic():  # one commit, not thousands
        before = set(Category.objects.values_list("pk", flat=True))
        data = build_catalogue()
    yield data
    with django_db_blocker.unblock():
        created = Category.objects.exclude(pk__in=before)
        Product.objects.filter(category__in=created).delete()
        Subcategory.objects.filter(category__in=created).delete()
        created.delete()


@pytest.fixture
def fresh(shop):
    """The catalogue with no body cached from before."""
    catalogue_cache_invalidate()
    return shop


# --- The references: the model-based path, narrowed with explicit lookups ---------------------


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _has_active_sku(**lookups) -> Exists:
    return Exists(SKU.objects.filter(product=OuterRef("pk"), is_active=True, **lookups))


def reference_products(market: str, params: dict, drop: tuple[str, ...] = ()):
    """`catalogue.product_list` narrowed and ordered as `products.filters` documents."""
    params = {name: value for name, value in params.items() if name not in drop}
    queryset = catalogue.product_list(market=market)
    if params.get("category"):
        queryset = queryset.filter(category__slug=params["category"])
    if params.get("subcategory"):
        queryset = queryset.filter(
            subcategory__slug=params["subcategory"], subcategory__is_active=True
        )
    if brands := _csv(params.get("brand", "")):
        any_brand = Q()
        for brand in brands:
            any_brand |= Q(brand__iexact=brand)
        queryset = queryset.filter(any_brand)
    if sizes := _csv(params.get("size", "")):
        queryset = queryset.filter(_has_active_sku(size__in=sizes))
    if colors := _csv(params.get("color", "")):
        queryset = queryset.filter(_has_active_sku(color__in=colors))
    if params.get("min_price"):
        queryset = queryset.filter(price__gte=Decimal(params["min_price"]))
    if params.get("max_price"):
        queryset = queryset.filter(price__lte=Decimal(params["max_price"]))
    if "in_stock" in params:
        in_stock = _has_active_sku(stock__gt=0)
        queryset = queryset.filter(in_stock if params["in_stock"] == "true" else ~in_stock)
    if "is_featured" in params:
        queryset = queryset.filter(is_featured=params["is_featured"] == "true")
    if search := params.get("search", "").strip():
        words = Q(name__icontains=search) | Q(brand__icontains=search)
        words |= Q(description__icontains=search)
        if connection.vendor == "postgresql":  # typo-tolerant there
            words |= Q(name__trigram_word_similar=search) | Q(brand__trigram_word_similar=search)
        queryset = queryset.filter(words)
    return queryset.order_by(*REFERENCE_ORDERINGS[params.get("ordering") or None])


def _first_difference(actual, expected, path: str = "$") -> str | None:
    """Where two JSON values first differ, with both values."""
    if type(actual) is not type(expected):
        return f"{path}: fast path {actual!r} != serializer {expected!r}"
    if isinstance(actual, dict):
        if list(actual) != list(expected):
            return f"{path} keys: fast path {list(actual)} != serializer {list(expected)}"
        for key in actual:
            if found := _first_difference(actual[key], expected[key], f"{path}.{key}"):
                return found
        return None
    if isinstance(actual, list):
        for index, (a, e) in enumerate(zip(actual, expected, strict=False)):
            if found := _first_difference(a, e, f"{path}[{index}]"):
                return found
        if len(actual) != len(expected):
            return f"{path}: fast path {len(actual)} items != serializer {len(expected)}"
        return None
    if actual != expected:
        return f"{path}: fast path {actual!r} != serializer {expected!r}"
    return None


def mismatch(label: str, response, expected) -> str | None:
    """None when the response body is `expected` rendered, byte for byte; else what differs."""
    body = JSONRenderer().render(expected)
    if response.status_code == 200 and response.content == body:
        return None
    if response.status_code != 200:
        return f"{label}: status {response.status_code}: {response.content[:300]!r}"
    found = _first_difference(json.loads(response.content), json.loads(body))
    return f"{label}: {found or f'bytes {response.content[:200]!r} != {body[:200]!r}'}"


def not_found(label: str, response) -> str | None:
    if response.status_code == 404 and response.json().get("code") == "not_found":
        return None
    return f"{label}: expected 404 not_found, got {response.status_code} {response.content[:200]!r}"


def check_list(api_client, market: str, params: dict) -> str | None:
    """The products/ body for `params` against DRF's paginator over the reference."""
    query = {name: str(value) for name, value in params.items() if value is not None}
    response = api_client.get(LIST_URL, query, HTTP_X_MARKET=market)
    label = f"list {market} {query}"
    request = Request(response.wsgi_request)  # same host, path and query string
    paginator = PageNumberPagination()
    try:
        page = paginator.paginate_queryset(reference_products(market, params), request)
    except NotFound:
        return not_found(label, response)
    rows = ProductListOutput(page, many=True, context={"request": request, "market": market})
    return mismatch(label, response, paginator.get_paginated_response(rows.data).data)


def _last_page(market: str, params: dict, page_size: int) -> int:
    count = reference_products(market, params).count()
    return max(1, math.ceil(count / page_size))


# --- Product lists -----------------------------------------------------------------------------

# (page_size, page); None: the parameter is not sent. "last" is resolved from the reference.
PAGES = [
    (None, None),
    (1, 1),
    (1, 2),
    (1, "last"),
    (3, 1),
    (3, 2),
    (3, "last"),
    (3, "past"),
    (100, 1),
    (500, 1),  # capped at 100
]


def test_orderings_are_the_documented_ones():
    assert set(REFERENCE_ORDERINGS) - {None} == set(ORDERINGS)


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize(
    ("params", "pages"),
    [
        ({}, PAGES),
        ({"category": "men"}, [(None, None), (3, 2), (3, "last"), (100, 1)]),
        ({"in_stock": "true", "brand": "acme,bolt"}, [(1, 2), (3, "last"), (3, "past")]),
    ],
    ids=["all", "category", "filtered"],
)
def test_list_every_ordering_page_size_and_page(api_client, fresh, market, params, pages):
    problems = []
    for ordering in REFERENCE_ORDERINGS:
        for page_size, page in pages:
            case = {**params, "ordering": ordering, "page_size": page_size, "page": page}
            if page == "last":
                case["page"] = _last_page(market, params, page_size)
            elif page == "past":
                case["page"] = _last_page(market, params, page_size) + 1
            problems.append(check_list(api_client, market, case))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)


LIST_FILTERS = [
    {"ordering": ""},  # an empty choice: the default order
    {"market": "kg"},  # a `market` query parameter too (the X-Market header wins)
    {"category": "men"},
    {"category": "women"},
    {"category": "kg-only"},  # a KG category: its ALL products still sell in US
    {"category": "hidden"},  # an inactive category: its products are still sellable
    {"category": "nowhere"},
    {"subcategory": "shirts"},  # active under men, inactive under women
    {"subcategory": "outerwear"},  # in two categories
    {"category": "men", "subcategory": "shirts"},
    {"category": "women", "subcategory": "shirts"},  # inactive: nothing
    {"category": "women", "subcategory": "trousers"},  # another category's slug
    {"brand": "acme"},
    {"brand": "ACME,bolt"},
    {"brand": " Bolt , ,\u00e9l\u00e9gance"},
    {"brand": "\u00c9L\u00c9GANCE"},
    {"brand": ","},
    {"brand": "nobody"},
    {"size": "M"},
    {"size": "XS,42"},
    {"size": "XL"},  # inactive SKUs only
    {"size": "m"},
    {"size": "One Size, 44"},
    {"color": "Black"},
    {"color": "Red,Blue"},
    {"color": BLACK_RU},
    {"min_price": "1500"},
    {"max_price": "14.99"},
    {"min_price": "10", "max_price": "1250.50"},
    {"min_price": "0"},
    {"in_stock": "true"},
    {"in_stock": "false"},
    {"is_featured": "true"},
    {"is_featured": "false"},
    {"search": "linen"},
    {"search": "ACME"},
    {"search": "\u0424\u0443\u0442\u0431\u043e\u043b"},
    {"search": "\u0444\u0443\u0442\u0431\u043e\u043b"},
    {"search": "caf\u00e9"},
    {"search": "   "},
    {"category": "men", "size": "M,L", "in_stock": "true", "brand": "acme,Bolt"},
    {"subcategory": "trousers", "color": "Black", "max_price": "2000", "is_featured": "false"},
]


@pytest.mark.parametrize("market", MARKETS)
def test_list_every_filter(api_client, fresh, market):
    orderings = list(REFERENCE_ORDERINGS)
    problems = []
    for n, params in enumerate(LIST_FILTERS):
        problems.append(check_list(api_client, market, {**params, "page_size": 100}))
        ordered = {**params, "ordering": orderings[n % len(orderings)], "page_size": 3}
        problems.append(check_list(api_client, market, {**ordered, "page": 2}))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)


# --- Product pages -----------------------------------------------------------------------------


def check_detail(api_client, market: str, slug: str) -> str | None:
    response = api_client.get(url(slug), HTTP_X_MARKET=market)
    label = f"detail {market} {slug}"
    product = catalogue.product_detail_get(market=market, slug=slug)
    context = {
        "request": response.wsgi_request,
        "market": market,
        "rating": catalogue.product_rating_summary(product=product),
        "related": catalogue.product_related(market=market, product=product),
    }
    expected = {**ProductDetailOutput(product, context=context).data, "in_wishlist": False}
    return mismatch(label, response, expected)


@pytest.mark.parametrize("market", MARKETS)
def test_every_product_page(api_client, fresh, market):
    sellable = set(Product.objects.sellable_in(market).values_list("slug", flat=True))
    problems = []
    for slug in Product.objects.order_by("pk").values_list("slug", flat=True):
        if slug in sellable:
            problems.append(check_detail(api_client, market, slug))
        else:  # inactive, of the other market, or without a price here
            response = api_client.get(url(slug), HTTP_X_MARKET=market)
            problems.append(not_found(f"detail {market} {slug}", response))
    problems.append(not_found("no such slug", api_client.get(url("no-such"))))
    assert len(sellable) > 20
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)


# --- Categories and facets ---------------------------------------------------------------------


@pytest.mark.parametrize("market", MARKETS)
def test_categories(api_client, fresh, market):
    response = api_client.get(CATEGORIES_URL, HTTP_X_MARKET=market)
    context = {"request": response.wsgi_request, "market": market}
    categories = catalogue.category_list(market=market)
    expected = CategoryOutput(categories, many=True, context=context).data
    assert not mismatch(f"categories {market}", response, expected)
    # `category_list` counts on the read model too: hold its counts to the source tables.
    sellable = Product.objects.sellable_in(market)
    counts = {row["slug"]: row["product_count"] for row in response.json()}
    assert counts == {
        category.slug: sellable.filter(category=category).count() for category in categories
    }
    assert "hidden" not in counts


def _db_order(values, field: str, model) -> list[str]:
    """`values` in the database's collation order (as ORDER BY sorts them)."""
    ordered = model.objects.order_by(field).values_list(field, flat=True).distinct()
    position = {value: n for n, value in enumerate(ordered)}
    return sorted(values, key=position.__getitem__)


def expected_facets(market: str, params: dict) -> dict:
    """The facets body computed from the source tables (`product_facets` semantics)."""

    def ids(*drop: str) -> set[int]:
        return set(reference_products(market, params, drop).values_list("pk", flat=True))

    skus = SKU.objects.filter(is_active=True).values_list(
        "product_id", "size", "color", "color_hex"
    )
    size_ids, color_ids = ids("size"), ids("color")
    by_size, by_color, hexes = defaultdict(set), defaultdict(set), defaultdict(str)
    for product_id, size, color, color_hex in skus:
        if product_id in size_ids:
            by_size[size].add(product_id)
        if product_id in color_ids:
            by_color[color].add(product_id)
            hexes[color] = max(hexes[color], color_hex)
    brands = defaultdict(int)
    for brand in reference_products(market, params, ("brand",)).values_list("brand", flat=True):
        if brand:
            brands[brand] += 1
    prices = [
        product.price for product in reference_products(market, params, ("min_price", "max_price"))
    ]
    return {
        "sizes": [
            {"value": size, "count": len(by_size[size])}
            for size in sorted(by_size, key=catalogue.size_sort_key)
        ],
        "colors": [
            {"value": color, "count": len(by_color[color]), "color_hex": hexes[color]}
            for color in _db_order(by_color, "color", SKU)
        ],
        "brands": [
            {"value": brand, "count": brands[brand]}
            for brand in _db_order(brands, "brand", Product)
        ],
        "price": {
            "min": f"{min(prices):.2f}" if prices else None,
            "max": f"{max(prices):.2f}" if prices else None,
        },
        "count": reference_products(market, params).count(),
        "currency": market_config(market).currency,
    }


FACET_FILTERS = [
    {},
    {"size": "M"},
    {"brand": "acme", "size": "M,42"},
    {"color": "Black", "min_price": "1000"},
    {"category": "men", "in_stock": "true"},
    {"subcategory": "shirts", "max_price": "20"},
    {"search": "linen", "is_featured": "false"},
    {"brand": "Bolt", "color": "Red,Blue", "size": "XS"},
    {"category": "nowhere"},
    {"min_price": "1000000"},
]


@pytest.mark.parametrize("market", MARKETS)
def test_facets(api_client, fresh, market):
    problems = []
    for params in FACET_FILTERS:
        response = api_client.get(FACETS_URL, params, HTTP_X_MARKET=market)
        expected = expected_facets(market, params)
        problems.append(mismatch(f"facets {market} {params}", response, expected))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)


# --- The read model follows model saves --------------------------------------------------------


def test_edits_reach_the_fast_path(api_client, shop):
    """Price, SKU, gallery, visibility, subcategory and counters changed with model saves."""
    price = ProductPrice.objects.filter(market="KG", original_price__isnull=False).first()
    price.price, price.original_price = Decimal("1.00"), None
    price.save()
    sku = SKU.objects.filter(is_active=True, stock__gt=0).first()
    sku.is_active = False
    sku.save()
    image = ProductImage.objects.filter(product__main_image="").order_by("sort_order", "id").first()
    image.delete()  # its product's list image becomes the next gallery image
    ProductPrice.objects.filter(market="US", product__market=CatalogMarket.ALL).first().delete()
    listed = Product.objects.sellable_in("KG").order_by("pk")
    hidden = listed.first()
    hidden.is_active = False
    hidden.save()
    moved = listed.filter(subcategory__isnull=False).last()
    moved.subcategory = None
    moved.rating_avg, moved.reviews_count, moved.rating_5_count = Decimal("4.99"), 7, 7
    moved.save()
    catalogue_cache_invalidate()

    problems = []
    for market in MARKETS:
        for ordering in REFERENCE_ORDERINGS:
            problems.append(
                check_list(api_client, market, {"ordering": ordering, "page_size": 100})
            )
        pages = Product.objects.sellable_in(market).filter(
            Q(pk__in=(price.product_id, sku.product_id, image.product_id, moved.pk))
            | Q(category=moved.category_id)  # their related products changed too
        )
        for slug in pages.values_list("slug", flat=True):
            problems.append(check_detail(api_client, market, slug))
        response = api_client.get(FACETS_URL, HTTP_X_MARKET=market)
        problems.append(mismatch(f"facets {market}", response, expected_facets(market, {})))
    problems.append(not_found("deactivated", api_client.get(url(hidden.slug))))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)


# --- Query counts ------------------------------------------------------------------------------


def _queries(api_client, path: str, params: dict, market: str) -> tuple[int, dict]:
    catalogue_cache_invalidate()  # build the body (and the memoised total) again
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(path, params, HTTP_X_MARKET=market)
    assert response.status_code == 200, response.content[:300]
    return len(queries), response.json()


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize(
    "params",
    [{}, {"min_price": "0.01", "ordering": "-price"}, {"category": "men", "size": "M,42"}],
    ids=["plain", "filtered", "narrow"],
)
def test_list_queries_do_not_grow_with_page_size(api_client, shop, market, params):
    counts = {}
    for page_size in (1, 20, 100):
        counts[page_size], body = _queries(
            api_client, LIST_URL, {**params, "page_size": page_size}, market
        )
        assert len(body["results"]) == min(page_size, body["count"])
    if "category" not in params:
        assert body["count"] > 20  # the three pages really differ in size
    assert len(set(counts.values())) == 1, counts


@pytest.mark.parametrize("market", MARKETS)
def test_detail_queries_do_not_grow_with_images_skus_features_or_related(api_client, shop, market):
    rich_count, rich = _queries(api_client, url(shop["rich"]), {}, market)
    bare_count, bare = _queries(api_client, url(shop["bare"]), {}, market)
    assert (len(rich["images"]), len(rich["skus"]), len(rich["features"])) == (5, 6, 5)
    assert len(rich["related"]) == catalogue.RELATED_PRODUCTS_LIMIT
    assert (bare["images"], bare["skus"], bare["features"], bare["related"]) == ([], [], [], [])
    assert rich_count == bare_count, (rich_count, bare_count)


# --- The catalogue is as varied as it claims ---------------------------------------------------


@pytest.mark.parametrize("market", MARKETS)
def test_the_catalogue_is_varied(shop, market):
    rows = list(catalogue.product_list(market=market).select_related("subcategory"))
    skus = list(SKU.objects.filter(product__in=rows))
    low = settings.LOW_STOCK_THRESHOLD
    assert {row.original_price is None for row in rows} == {True, False}
    assert any(row.original_price == row.price for row in rows)
    assert any(row.original_price and row.original_price > row.price for row in rows)
    assert {row.in_stock for row in rows} == {True, False}
    assert {row.is_featured for row in rows} == {True, False}
    assert {bool(row.main_image.name) for row in rows} == {True, False}
    assert any(not row.main_image and row.first_image for row in rows)
    assert any(not row.main_image and not row.first_image for row in rows)
    assert any(row.subcategory is None for row in rows)
    assert any(row.subcategory and not row.subcategory.is_active for row in rows)
    assert {row.brand for row in rows} >= {"", "Acme", "acme", "BOLT", "Bolt"}
    assert any(not row.name.isascii() for row in rows)
    assert {row.market for row in rows} == {market, CatalogMarket.ALL}
    assert len({row.created_at for row in rows}) < len(rows)  # ties
    assert len({row.price for row in rows}) < len(rows)
    assert len({row.sales_count for row in rows}) > 1
    assert len({row.rating_avg for row in rows}) > 1
    stocks = {(sku.is_active, sku.stock == 0, 0 < sku.stock <= low) for sku in skus}
    assert stocks >= {(True, True, False), (True, False, True), (True, False, False)}
    assert any(not sku.is_active for sku in skus)
    assert {sku.size for sku in skus} >= {"XS", "M", "42"}
    unlisted = Product.objects.exclude(pk__in=[row.pk for row in rows])
    assert unlisted.filter(is_active=False).exists()
    assert unlisted.filter(is_active=True, market__in=(market, "ALL")).exists()  # no price here
