from decimal import Decimal

import pytest

from main.markets import CatalogMarket
from products.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductPriceFactory,
    SubcategoryFactory,
)

URL = "/api/v1/categories/"

pytestmark = pytest.mark.django_db


def make_product(category, *, market=CatalogMarket.ALL, prices=("KG",), **kwargs):
    product = ProductFactory(category=category, market=market, **kwargs)
    for price_market in prices:
        ProductPriceFactory(product=product, market=price_market, price=Decimal("10.00"))
    return product


def test_categories_market_filtered_and_ordered(api_client):
    CategoryFactory(slug="b", name="B", sort_order=2)
    CategoryFactory(slug="a", name="A", sort_order=2)
    CategoryFactory(slug="first", name="Z", sort_order=1, market=CatalogMarket.KG)
    CategoryFactory(slug="us", market=CatalogMarket.US, sort_order=3)
    CategoryFactory(slug="off", is_active=False)

    kg = [c["slug"] for c in api_client.get(URL).json()]
    assert kg == ["first", "a", "b"]
    us = [c["slug"] for c in api_client.get(URL, HTTP_X_MARKET="US").json()]
    assert us == ["a", "b", "us"]


def test_invalid_market_is_400(api_client):
    response = api_client.get(URL, HTTP_X_MARKET="xx")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_market"


def test_active_subcategories_and_visible_product_counts(api_client):
    category = CategoryFactory(slug="c")
    SubcategoryFactory(category=category, slug="z", sort_order=2)
    SubcategoryFactory(category=category, slug="y", sort_order=1)
    SubcategoryFactory(category=category, slug="off", is_active=False)
    make_product(category, prices=("KG", "US"))
    make_product(category, prices=("KG",))
    make_product(category, prices=("US",))  # unpriced in KG
    make_product(category, is_active=False)
    make_product(category, market=CatalogMarket.US, prices=("KG", "US"))

    kg = api_client.get(URL).json()[0]
    assert [s["slug"] for s in kg["subcategories"]] == ["y", "z"]
    assert kg["product_count"] == 2
    us = api_client.get(URL, HTTP_X_MARKET="US").json()[0]
    assert us["product_count"] == 3


def test_category_detail_and_404_for_other_market(api_client):
    category = CategoryFactory(slug="kg-cat", market=CatalogMarket.KG)
    make_product(category)
    body = api_client.get(f"{URL}kg-cat/").json()
    assert body["slug"] == "kg-cat" and body["product_count"] == 1
    response = api_client.get(f"{URL}kg-cat/", HTTP_X_MARKET="US")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert api_client.get(f"{URL}missing/").status_code == 404


def test_categories_query_count_does_not_grow(api_client, django_assert_max_num_queries):
    for _ in range(30):
        category = CategoryFactory()
        SubcategoryFactory(category=category)
        make_product(category, prices=("KG", "US"))
    # categories with counts + subcategories prefetch
    with django_assert_max_num_queries(2):
        assert len(api_client.get(URL).json()) == 30
