"""PreparedValues returns what its `.values()` queryset returns, with new values each call."""

from decimal import Decimal

import pytest

from main.prepared import PreparedValues
from products.models import Listing
from products.tests.factories import ProductFactory, ProductPriceFactory

pytestmark = pytest.mark.django_db

FIELDS = (
    "product_id",
    "slug",
    "price",
    "original_price",
    "in_stock",
    "created_at",
    "category__name",
)


def listing_by_slug(market, slug):
    return Listing.objects.filter(market=market, slug=slug).values(*FIELDS)


def test_rows_equal_the_querysets_with_converted_values():
    prepared = PreparedValues(listing_by_slug, texts=("market", "slug"))
    for slug, original in (("a", Decimal("120.00")), ("b", None)):
        product = ProductFactory(slug=slug)
        ProductPriceFactory(
            product=product, market="KG", price=Decimal("99.90"), original_price=original
        )

    for market, slug in (("KG", "a"), ("KG", "b"), ("US", "a"), ("KG", "missing")):
        assert prepared(market=market, slug=slug) == list(listing_by_slug(market, slug))
    row = prepared(market="KG", slug="a")[0]
    assert row["price"] == Decimal("99.90") and isinstance(row["in_stock"], bool)


def test_a_parameter_that_is_not_bound_is_refused():
    # A value the query never binds (here: ignored) would silently be the sentinel.
    prepared = PreparedValues(
        lambda market, category_id: Listing.objects.filter(market=market).values("slug"),
        texts=("market",),
        ints=("category_id",),
    )
    with pytest.raises(ValueError, match="category_id"):
        prepared(market="KG", category_id=3)
