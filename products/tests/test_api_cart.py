"""The cart API contract (SPEC §4 shape, §5 status codes)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from conftest import authenticate
from products.models import CartItem
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CART = "/api/v1/cart/"
ITEMS = "/api/v1/cart/items/"

LINE_KEYS = {
    "id", "sku_id", "sku_code", "size", "color", "product_id", "product_name",
    "product_slug", "image", "quantity", "unit_price", "line_total", "is_available",
    "price_changed",
}  # fmt: skip


def priced_sku(*, market="KG", price="1290.00", stock=10, product_market="ALL", **kwargs):
    product = ProductFactory(market=product_market)
    ProductPriceFactory(product=product, market=market, price=Decimal(price))
    return SKUFactory(product=product, stock=stock, **kwargs)


def item(path_id) -> str:
    return f"{ITEMS}{path_id}/"


def test_anonymous_is_401(api_client):
    for method, url in (("get", CART), ("post", ITEMS), ("delete", CART), ("patch", item(1))):
        response = getattr(api_client, method)(url, {}, format="json")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


def test_empty_cart(customer_client):
    response = customer_client.get(CART)
    assert response.status_code == 200
    assert response.json() == {
        "items": [],
        "item_count": 0,
        "subtotal": "0.00",
        "shipping_cost": "0.00",
        "total": "0.00",
        "free_shipping_from": "5000.00",
        "left_to_free_shipping": "5000.00",
        "currency": "KGS",
    }


def test_add_then_increase(customer_client):
    sku = priced_sku()
    response = customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 2}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body["items"][0]) == LINE_KEYS
    line = body["items"][0]
    assert line["sku_id"] == sku.id
    assert line["sku_code"] == sku.code
    assert line["product_slug"] == sku.product.slug
    assert line["quantity"] == 2
    assert line["unit_price"] == "1290.00"
    assert line["line_total"] == "2580.00"
    assert line["is_available"] is True
    assert line["price_changed"] is False
    assert body["item_count"] == 2
    assert body["subtotal"] == "2580.00"
    assert body["currency"] == "KGS"

    response = customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 3}, format="json")
    assert response.status_code == 200
    assert response.json()["items"][0]["quantity"] == 5
    assert CartItem.objects.count() == 1
    sku.refresh_from_db()
    assert sku.stock == 10  # no reservation


def test_totals_in_usd_for_us_customer(us_customer):
    client = authenticate(APIClient(), us_customer)
    sku = priced_sku(market="US", price="19.99")
    other = priced_sku(market="US", price="5.50")
    client.post(ITEMS, {"sku_id": sku.id, "quantity": 3}, format="json")
    body = client.post(ITEMS, {"sku_id": other.id}, format="json").json()
    assert body["currency"] == "USD"
    assert body["subtotal"] == "65.47"
    assert body["item_count"] == 4


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"quantity": 1},
        {"sku_id": "abc", "quantity": 1},
        {"sku_id": 1, "quantity": 0},
        {"sku_id": 1, "quantity": "abc"},
        {"sku_id": 1, "quantity": -1},
        {"sku_id": None, "quantity": 1},
        {"sku_id": 10**20, "quantity": 1},
        {"sku_id": 1, "quantity": 10**20},
    ],
)
def test_bad_input_is_400(customer_client, payload):
    response = customer_client.post(ITEMS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_quantity_above_max_line(customer_client):
    sku = priced_sku(stock=50)
    response = customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 11}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "quantity" in response.json()["errors"]
    customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 8}, format="json")
    response = customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 3}, format="json")
    assert response.status_code == 400
    assert CartItem.objects.get().quantity == 8


@override_settings(MAX_LINE_QTY=3)
def test_max_line_qty_is_a_setting(customer_client):
    sku = priced_sku()
    response = customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 4}, format="json")
    assert response.status_code == 400


def test_unknown_sku_is_400(customer_client):
    response = customer_client.post(ITEMS, {"sku_id": 999999, "quantity": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "sku_id" in response.json()["errors"]


def test_above_stock_is_409_naming_the_item_never_the_units_left(customer_client):
    sku = priced_sku(stock=2)
    response = customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 7}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "out_of_stock"
    assert body["skus"] == [sku.code]
    # Product, size and colour, as the customer knows the item; not its code or stock.
    for shown in (sku.product.name, sku.size, sku.color):
        assert shown in body["detail"]
    assert sku.code not in body["detail"]
    assert "2" not in body["detail"].replace(sku.product.name, "").replace(sku.size, "")
    assert not CartItem.objects.exists()


@pytest.mark.parametrize("inactive", ["sku", "product"])
def test_inactive_is_409_out_of_stock(customer_client, inactive):
    sku = priced_sku()
    target = sku if inactive == "sku" else sku.product
    target.is_active = False
    target.save()
    response = customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 1}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "out_of_stock"


def test_market_isolation(us_customer):
    client = authenticate(APIClient(), us_customer)
    kg_only = priced_sku(market="KG", product_market="KG")
    response = client.post(ITEMS, {"sku_id": kg_only.id, "quantity": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "market_mismatch"
    # An ALL product with no US price is not sellable in the US either.
    unpriced = priced_sku(market="KG", product_market="ALL")
    response = client.post(ITEMS, {"sku_id": unpriced.id, "quantity": 1}, format="json")
    assert response.json()["code"] == "market_mismatch"
    assert not CartItem.objects.exists()


def test_patch_and_delete_line(customer_client):
    sku = priced_sku(stock=4)
    line_id = customer_client.post(ITEMS, {"sku_id": sku.id}, format="json").json()["items"][0][
        "id"
    ]
    response = customer_client.patch(item(line_id), {"quantity": 4}, format="json")
    assert response.status_code == 200
    assert response.json()["items"][0]["quantity"] == 4
    assert customer_client.patch(item(line_id), {"quantity": 5}, format="json").status_code == 409
    for bad in (0, 11, "abc", None):
        response = customer_client.patch(item(line_id), {"quantity": bad}, format="json")
        assert response.status_code == 400, bad
        assert response.json()["code"] == "invalid"
    assert customer_client.patch(item(line_id), {}, format="json").status_code == 400
    assert customer_client.delete(item(line_id)).status_code == 204
    assert customer_client.delete(item(line_id)).status_code == 404
    assert customer_client.get(CART).json()["items"] == []


def test_non_integer_path_id_is_400(customer_client):
    for url in (item("abc"), item("1.5"), item("9" * 30), item("-1")):
        assert customer_client.patch(url, {"quantity": 1}, format="json").status_code == 400
        response = customer_client.delete(url)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"


def test_other_users_line_is_404(customer_client):
    other = authenticate(APIClient(), UserFactory())
    sku = priced_sku()
    line_id = other.post(ITEMS, {"sku_id": sku.id}, format="json").json()["items"][0]["id"]
    response = customer_client.patch(item(line_id), {"quantity": 2}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert customer_client.delete(item(line_id)).status_code == 404
    assert CartItem.objects.get(pk=line_id).quantity == 1


def test_clear_cart(customer_client):
    customer_client.post(ITEMS, {"sku_id": priced_sku().id}, format="json")
    customer_client.post(ITEMS, {"sku_id": priced_sku().id}, format="json")
    assert customer_client.delete(CART).status_code == 204
    assert customer_client.get(CART).json()["item_count"] == 0
    assert customer_client.delete(CART).status_code == 204  # an empty or missing cart too


def test_price_changed_flag(customer_client):
    sku = priced_sku(price="100.00")
    customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 2}, format="json")
    sku.product.prices.filter(market="KG").update(price=Decimal("120.00"))
    line = customer_client.get(CART).json()
    assert line["items"][0]["price_changed"] is True
    assert line["items"][0]["unit_price"] == "120.00"
    assert line["subtotal"] == "240.00"


@pytest.mark.parametrize("change", ["stock", "product", "sku", "price_removed", "market"])
def test_unavailable_lines_are_flagged_and_not_totalled(customer_client, change):
    kept = priced_sku(price="10.00")
    sku = priced_sku(price="100.00", stock=5)
    customer_client.post(ITEMS, {"sku_id": kept.id}, format="json")
    customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": 3}, format="json")
    if change == "stock":
        sku.stock = 2
        sku.save()
    elif change == "product":
        sku.product.is_active = False
        sku.product.save()
    elif change == "sku":
        sku.is_active = False
        sku.save()
    elif change == "price_removed":
        sku.product.prices.all().delete()
    else:
        sku.product.market = "US"
        sku.product.save()
    body = customer_client.get(CART).json()
    flagged = {line["sku_id"]: line["is_available"] for line in body["items"]}
    assert flagged == {kept.id: True, sku.id: False}
    assert body["subtotal"] == "10.00"
    assert body["item_count"] == 4


@pytest.mark.parametrize("lines", [1, 30])
def test_cart_query_count_is_constant(
    customer, customer_client, lines, django_assert_max_num_queries
):
    from products.models import Cart

    cart = Cart.objects.create(user=customer)
    for _ in range(lines):
        CartItem.objects.create(cart=cart, sku=priced_sku(), quantity=1)
    with django_assert_max_num_queries(3):
        body = customer_client.get(CART).json()
    assert len(body["items"]) == lines
