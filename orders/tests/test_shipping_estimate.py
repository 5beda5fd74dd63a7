"""The cart's shipping estimate and the markets' shipping rules agree with checkout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.tests.helpers import checkout, priced_sku

pytestmark = pytest.mark.django_db

CART = "/api/v1/cart/"
ITEMS = "/api/v1/cart/items/"


@pytest.mark.parametrize(
    ("quantity", "shipping", "left"),
    [(1, "200.00", "3710.00"), (3, "200.00", "1130.00"), (4, "0.00", "0.00")],
)
def test_the_cart_estimates_shipping_as_checkout_charges_it(
    customer, customer_client, settings, quantity, shipping, left
):
    settings.SHIPPING = {
        "KG": {"cost": Decimal("200.00"), "free_from": Decimal("5000.00")},
        "US": {"cost": Decimal("9.99"), "free_from": Decimal("100.00")},
    }
    sku = priced_sku(price="1290.00", stock=10)
    customer_client.post(ITEMS, {"sku_id": sku.id, "quantity": quantity}, format="json")

    cart = customer_client.get(CART).json()

    subtotal = Decimal("1290.00") * quantity
    assert (cart["subtotal"], cart["shipping_cost"], cart["left_to_free_shipping"]) == (
        f"{subtotal:.2f}", shipping, left,
    )  # fmt: skip
    assert cart["total"] == f"{subtotal + Decimal(shipping):.2f}"
    order = checkout(customer, expected_total=Decimal(cart["total"])).order
    assert (order.shipping_cost, order.total) == (Decimal(shipping), Decimal(cart["total"]))


def test_markets_list_their_shipping_rule_and_return_window(api_client):
    markets = {m["code"]: m for m in api_client.get("/api/v1/markets/").json()["markets"]}

    assert markets["KG"]["shipping"] == {"cost": "200.00", "free_from": "5000.00"}
    assert markets["US"]["shipping"] == {"cost": "9.99", "free_from": "100.00"}
    assert (markets["KG"]["return_window_days"], markets["US"]["return_window_days"]) == (14, 30)
