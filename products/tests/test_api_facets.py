from decimal import Decimal

import pytest

from main.markets import CatalogMarket
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory

URL = "/api/v1/products/facets/"

pytestmark = pytest.mark.django_db


def make_product(*, kg="100.00", us="10.00", market=CatalogMarket.ALL, **kwargs):
    product = ProductFactory(market=market, **kwargs)
    if kg:
        ProductPriceFactory(product=product, market="KG", price=Decimal(kg))
    if us:
        ProductPriceFactory(product=product, market="US", price=Decimal(us))
    return product


@pytest.fixture
def catalogue():
    a = make_product(brand="Acme", kg="100.00", us="5.00")
    b = make_product(brand="Acme", kg="300.00", us="7.00")
    c = make_product(brand="Bolt", kg="200.00", us="9.00")
    us_only = make_product(brand="Yank", market=CatalogMarket.US, kg=None, us="99.00")
    SKUFactory(product=a, size="S", color="Red", color_hex="#FF0000")
    SKUFactory(product=a, size="M", color="Red", color_hex="#FF0000")
    SKUFactory(product=b, size="M", color="Blue", color_hex="#0000FF")
    SKUFactory(product=c, size="L", color="Blue", color_hex="#0000FF")
    SKUFactory(product=c, size="XL", color="Blue", is_active=False)
    SKUFactory(product=us_only, size="XXL", color="Green")


def test_facets_counts_for_the_whole_market(api_client, catalogue):
    body = api_client.get(URL).json()
    assert body["sizes"] == [
        {"value": "S", "count": 1},
        {"value": "M", "count": 2},
        {"value": "L", "count": 1},
    ]
    assert body["colors"] == [
        {"value": "Blue", "color_hex": "#0000FF", "count": 2},
        {"value": "Red", "color_hex": "#FF0000", "count": 1},
    ]
    assert body["brands"] == [{"value": "Acme", "count": 2}, {"value": "Bolt", "count": 1}]
    assert body["price"] == {"min": "100.00", "max": "300.00"}
    assert body["currency"] == "KGS"
    assert body["count"] == 3


def test_facets_follow_the_current_filter_except_their_own(api_client, catalogue):
    body = api_client.get(URL, {"brand": "Acme", "size": "M"}).json()
    # sizes ignore `size` (so other sizes stay selectable) but keep `brand`
    assert [s["value"] for s in body["sizes"]] == ["S", "M"]
    # brands ignore `brand` but keep `size`
    assert body["brands"] == [{"value": "Acme", "count": 2}]
    assert body["colors"] == [
        {"value": "Blue", "color_hex": "#0000FF", "count": 1},
        {"value": "Red", "color_hex": "#FF0000", "count": 1},
    ]
    assert body["count"] == 2

    priced = api_client.get(URL, {"min_price": "150"}).json()
    assert priced["price"] == {"min": "100.00", "max": "300.00"}  # range ignores the range
    assert priced["count"] == 2


def test_facets_are_market_isolated(api_client, catalogue):
    body = api_client.get(URL, HTTP_X_MARKET="US").json()
    assert "XXL" in [s["value"] for s in body["sizes"]]
    assert body["price"] == {"min": "5.00", "max": "99.00"}
    assert body["currency"] == "USD"
    kg = api_client.get(URL).json()
    assert "Yank" not in [b["value"] for b in kg["brands"]]


def test_facets_invalid_filter_is_400(api_client):
    response = api_client.get(URL, {"max_price": "cheap"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_facets_empty_catalogue(api_client):
    body = api_client.get(URL).json()
    assert body["price"] == {"min": None, "max": None}
    assert body["count"] == 0


@pytest.mark.parametrize("page_size", [1, 100])
def test_facets_query_count_is_constant(api_client, django_assert_max_num_queries, page_size):
    for index in range(100):
        product = make_product(brand=f"B{index % 7}")
        SKUFactory(product=product, size=f"S{index % 5}")
    with django_assert_max_num_queries(5):
        response = api_client.get(URL, {"page_size": page_size, "brand": "B1,B2"})
    assert response.status_code == 200
