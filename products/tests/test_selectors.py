from decimal import Decimal

import pytest

from main.markets import CatalogMarket
from products.selectors import catalogue
from products.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductPriceFactory,
    SKUFactory,
    SubcategoryFactory,
)

pytestmark = pytest.mark.django_db


def priced(market=CatalogMarket.ALL, **kwargs):
    product = ProductFactory(market=market, **kwargs)
    ProductPriceFactory(product=product, market="KG", price=Decimal("100.00"))
    ProductPriceFactory(
        product=product,
        market="US",
        price=Decimal("5.00"),
        original_price=Decimal("8.00"),
    )
    return product


def test_product_list_one_row_per_product_with_market_price():
    priced(slug="a")
    SKUFactory(product=priced(slug="b"), stock=1)

    kg = {p.slug: p for p in catalogue.product_list(market="KG")}
    us = {p.slug: p for p in catalogue.product_list(market="US")}
    assert set(kg) == set(us) == {"a", "b"}
    assert kg["a"].price == Decimal("100.00") and kg["a"].original_price is None
    assert us["a"].price == Decimal("5.00") and us["a"].original_price == Decimal("8.00")
    assert (kg["a"].in_stock, kg["b"].in_stock) == (False, True)
    assert catalogue.product_list(market="KG").count() == 2


def test_category_list_counts_in_one_query(django_assert_num_queries):
    category = CategoryFactory()
    SubcategoryFactory(category=category)
    for _ in range(3):
        priced(category=category)
    priced(category=category, is_active=False)

    with django_assert_num_queries(2):
        rows = list(catalogue.category_list(market="KG"))
        assert [len(row.subcategories.all()) for row in rows] == [1]
    assert rows[0].product_count == 3


def test_related_falls_back_to_category_without_subcategory():
    category = CategoryFactory()
    product = priced(category=category)
    sibling = priced(category=category)
    priced()  # another category
    assert [p.pk for p in catalogue.product_related(market="KG", product=product)] == [sibling.pk]


def test_rating_summary_without_reviews():
    summary = catalogue.product_rating_summary(product=priced())
    assert summary == {
        "average": "0.00",
        "count": 0,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
    }


def test_in_wishlist_is_false_for_anonymous():
    from django.contrib.auth.models import AnonymousUser

    assert catalogue.product_in_wishlist(user=AnonymousUser(), product_id=1) is False


def test_sizes_sort_in_wearing_order_then_numbers_then_names():
    sizes = ["one size", "32", "XL", "28", "s", "M", "XS", "10.5"]
    assert sorted(sizes, key=catalogue.size_sort_key) == [
        "XS",
        "s",
        "M",
        "XL",
        "10.5",
        "28",
        "32",
        "one size",
    ]
