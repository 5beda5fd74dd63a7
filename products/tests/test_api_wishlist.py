"""The wishlist API contract (SPEC §5)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from conftest import authenticate
from products.models import WishlistItem
from products.tests.factories import ProductFactory, ProductPriceFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WISHLIST = "/api/v1/wishlist/"
ITEMS = "/api/v1/wishlist/items/"


def priced_product(*, market="KG", price="1290.00", product_market="ALL"):
    product = ProductFactory(market=product_market)
    ProductPriceFactory(product=product, market=market, price=Decimal(price))
    return product


def test_anonymous_is_401(api_client):
    assert api_client.get(WISHLIST).json()["code"] == "not_authenticated"
    assert api_client.post(ITEMS, {"product_id": 1}, format="json").status_code == 401
    assert api_client.delete(f"{ITEMS}1/").status_code == 401


def test_add_twice_is_one_row(customer_client):
    product = priced_product()
    response = customer_client.post(ITEMS, {"product_id": product.id}, format="json")
    assert response.status_code == 201
    assert response.json() == {"product_id": product.id}
    assert customer_client.post(ITEMS, {"product_id": product.id}, format="json").status_code == 200
    assert WishlistItem.objects.count() == 1


def test_list_shows_price_currency_image(customer_client):
    first, second = priced_product(price="100.00"), priced_product(price="200.00")
    customer_client.post(ITEMS, {"product_id": first.id}, format="json")
    customer_client.post(ITEMS, {"product_id": second.id}, format="json")
    body = customer_client.get(WISHLIST).json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [second.id, first.id]
    row = body["results"][0]
    assert row["price"] == "200.00"
    assert row["currency"] == "KGS"
    assert "main_image" in row


def test_list_hides_products_no_longer_sellable(customer_client):
    product = priced_product()
    customer_client.post(ITEMS, {"product_id": product.id}, format="json")
    product.is_active = False
    product.save()
    assert customer_client.get(WISHLIST).json()["count"] == 0


def test_market_mismatch(us_customer):
    client = authenticate(APIClient(), us_customer)
    kg_only = priced_product(product_market="KG")
    response = client.post(ITEMS, {"product_id": kg_only.id}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "market_mismatch"
    unpriced_in_us = priced_product(market="KG")
    response = client.post(ITEMS, {"product_id": unpriced_in_us.id}, format="json")
    assert response.json()["code"] == "market_mismatch"
    assert not WishlistItem.objects.exists()


@pytest.mark.parametrize(
    "payload", [{}, {"product_id": "abc"}, {"product_id": None}, {"product_id": 10**20}]
)
def test_bad_input(customer_client, payload):
    response = customer_client.post(ITEMS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_unknown_product_is_400(customer_client):
    response = customer_client.post(ITEMS, {"product_id": 999999}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_remove(customer_client):
    product = priced_product()
    customer_client.post(ITEMS, {"product_id": product.id}, format="json")
    assert customer_client.delete(f"{ITEMS}{product.id}/").status_code == 204
    response = customer_client.delete(f"{ITEMS}{product.id}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert customer_client.delete(f"{ITEMS}abc/").json()["code"] == "invalid"


def test_other_users_wishlist_is_isolated(customer_client):
    other = authenticate(APIClient(), UserFactory())
    product = priced_product()
    other.post(ITEMS, {"product_id": product.id}, format="json")
    assert customer_client.get(WISHLIST).json()["count"] == 0
    assert customer_client.delete(f"{ITEMS}{product.id}/").status_code == 404
    assert WishlistItem.objects.count() == 1


@pytest.mark.parametrize("rows", [1, 25])
def test_wishlist_query_count_is_constant(customer_client, rows, django_assert_max_num_queries):
    for _ in range(rows):
        customer_client.post(ITEMS, {"product_id": priced_product().id}, format="json")
    with django_assert_max_num_queries(4):
        assert customer_client.get(WISHLIST).status_code == 200


def test_product_wished_by_several_users_is_listed_once(customer_client):
    product = priced_product()
    for _ in range(3):
        authenticate(APIClient(), UserFactory()).post(
            ITEMS, {"product_id": product.id}, format="json"
        )
    customer_client.post(ITEMS, {"product_id": product.id}, format="json")
    body = customer_client.get(WISHLIST).json()
    assert body["count"] == 1
    assert [row["id"] for row in body["results"]] == [product.id]
