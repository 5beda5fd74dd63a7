"""Checkout (`POST /api/v1/orders/`): SPEC §4 request/response, totals, errors, idempotency."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import authenticate
from main.http_cache import VERSION_KEY
from orders.models import IdempotencyKey, Order, OrderItem, OrderStatusHistory
from orders.services import checkout
from orders.tests.helpers import INLINE_KG, INLINE_US, fill_cart, priced_sku
from products.models import SKU, CartItem, Product, ProductPrice
from store_manager.models import ManagerNotification, ManagerSettings, StoreManager
from users.models import Address, Notification
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
ORDER_KEYS = {
    "order_number", "status", "payment_method", "payment_status", "market", "currency",
    "items", "item_count", "subtotal", "shipping_cost", "discount", "total", "can_cancel",
    "created_at", "shipping_address", "comment", "status_history", "confirmed_at",
    "shipped_at", "delivered_at", "cancelled_at", "cancel_reason", "payment", "is_replacement",
    "returnable_until",
}  # fmt: skip
ITEM_KEYS = {
    "product_id", "product_name", "product_slug", "sku_id", "sku_code", "size", "color",
    "image", "unit_price", "quantity", "line_total",
}  # fmt: skip


def body(**overrides):
    data = {"address": INLINE_KG, "payment_method": "cash_on_delivery"}
    data.update(overrides)
    return data


def manager(phone, **flags):
    user = UserFactory(phone=phone)
    return StoreManager.objects.create(user=user, **flags)


def test_checkout_creates_the_order_spec_shape(customer, customer_client):
    sku = priced_sku(price="1290.00", stock=5)
    other = priced_sku(price="4000.00", stock=3)
    fill_cart(customer, (sku, 2), (other, 1))

    response = customer_client.post(ORDERS, body(comment="call before delivery"), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) == ORDER_KEYS
    assert re.fullmatch(r"KG-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}", data["order_number"])
    assert data["status"] == "pending"
    assert data["payment_method"] == "cash_on_delivery"
    assert data["payment_status"] == "unpaid"
    assert (data["market"], data["currency"]) == ("KG", "KGS")
    # 2 x 1290 + 4000 = 6580: at or above 5000 KGS shipping is free.
    assert (data["subtotal"], data["shipping_cost"], data["total"]) == (
        "6580.00",
        "0.00",
        "6580.00",
    )
    assert data["discount"] == "0.00"
    assert [set(item) for item in data["items"]] == [ITEM_KEYS, ITEM_KEYS]
    line = next(item for item in data["items"] if item["sku_id"] == sku.id)
    assert line["unit_price"] == "1290.00"
    assert line["quantity"] == 2
    assert line["line_total"] == "2580.00"
    assert line["product_slug"] == sku.product.slug
    assert data["shipping_address"]["city"] == "Bishkek"
    assert data["shipping_address"]["phone"] == "+996700123456"
    assert data["comment"] == "call before delivery"
    assert data["status_history"] == [
        {
            "from_status": None,
            "to_status": "pending",
            "note": "",
            "created_at": data["status_history"][0]["created_at"],
        }
    ]
    assert data["can_cancel"] is True
    # Stock taken, cart emptied, one history row.
    assert SKU.objects.get(pk=sku.pk).stock == 3
    assert SKU.objects.get(pk=other.pk).stock == 2
    assert not CartItem.objects.filter(cart__user=customer).exists()
    assert OrderStatusHistory.objects.filter(order__order_number=data["order_number"]).count() == 1
    assert Product.objects.get(pk=sku.product_id).sales_count == 2


def test_shipping_is_charged_below_the_free_threshold(customer, customer_client):
    fill_cart(customer, (priced_sku(price="1290.00"), 1))
    data = customer_client.post(ORDERS, body(), format="json").json()
    assert (data["subtotal"], data["shipping_cost"], data["total"]) == (
        "1290.00",
        "200.00",
        "1490.00",
    )


def test_us_order_is_in_dollars_with_us_shipping(us_customer):
    client = authenticate(APIClient(), us_customer)
    fill_cart(us_customer, (priced_sku(market="US", price="25.50"), 2))
    response = client.post(ORDERS, body(address=INLINE_US), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["market"], data["currency"]) == ("US", "USD")
    assert data["order_number"].startswith("US-")
    assert (data["subtotal"], data["shipping_cost"], data["total"]) == ("51.00", "9.99", "60.99")


def test_saved_address_is_snapshotted(customer, customer_client):
    address = Address.objects.create(
        user=customer, recipient_name="Bakyt", phone="+996555000111", city="Osh",
        street="Lenin", building="7",
    )  # fmt: skip
    fill_cart(customer, (priced_sku(), 1))
    response = customer_client.post(
        ORDERS, {"address_id": address.id, "payment_method": "cash_on_delivery"}, format="json"
    )
    assert response.status_code == 201
    address.city = "Bishkek"
    address.save()
    order = Order.objects.get()
    assert (order.shipping_city, order.shipping_recipient) == ("Osh", "Bakyt")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"payment_method": "cash_on_delivery"}, "address"),
        ({"payment_method": "cash_on_delivery", "address": INLINE_KG, "address_id": 1}, "address"),
        ({"payment_method": "cash_on_delivery", "address_id": 999999}, "address_id"),
        ({"payment_method": "cash_on_delivery", "address": {"city": "Osh"}}, "address"),
        (body(expected_total="abc"), "expected_total"),
        (body(comment="x" * 1001), "comment"),
    ],
)
def test_invalid_checkout_is_400_and_changes_nothing(customer, customer_client, payload, field):
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 1))
    response = customer_client.post(ORDERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert not Order.objects.exists()
    assert SKU.objects.get(pk=sku.pk).stock == 5
    assert CartItem.objects.filter(cart__user=customer).count() == 1


@pytest.mark.parametrize("method", ["bitcoin", "card", ""])
def test_a_method_the_market_does_not_offer_is_400_and_changes_nothing(
    customer, customer_client, method
):
    # KG offers cash on delivery only (PAYMENT_METHODS); "" is a missing method.
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 1))
    response = customer_client.post(ORDERS, body(payment_method=method), format="json")
    assert response.status_code == 400
    expected = "invalid" if method == "" else "payment_method_unavailable"
    assert response.json()["code"] == expected
    assert not Order.objects.exists()
    assert SKU.objects.get(pk=sku.pk).stock == 5
    assert CartItem.objects.filter(cart__user=customer).count() == 1


def test_someone_elses_address_is_refused(customer, customer_client):
    stranger = UserFactory(phone="+996700555666")
    address = Address.objects.create(
        user=stranger,
        recipient_name="X",
        phone="+996700555666",
        city="Osh",
        street="S",
        building="1",
    )
    fill_cart(customer, (priced_sku(), 1))
    response = customer_client.post(
        ORDERS, {"address_id": address.id, "payment_method": "cash_on_delivery"}, format="json"
    )
    assert response.status_code == 400
    assert "address_id" in response.json()["errors"]


def test_inline_phone_of_another_market_is_refused(customer, customer_client):
    fill_cart(customer, (priced_sku(), 1))
    response = customer_client.post(ORDERS, body(address=INLINE_US), format="json")
    assert response.status_code == 400
    assert not Order.objects.exists()


def test_empty_cart_is_400(customer_client):
    response = customer_client.post(ORDERS, body(), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "cart_empty"


def test_out_of_stock_names_the_skus_and_changes_nothing(customer, customer_client):
    short = priced_sku(stock=1, code="SHORT-1")
    fine = priced_sku(stock=9, code="FINE-1")
    gone = priced_sku(stock=5, code="GONE-1", is_active=False)
    fill_cart(customer, (short, 2), (fine, 1), (gone, 1))

    response = customer_client.post(ORDERS, body(), format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "out_of_stock"
    assert response.json()["skus"] == ["GONE-1", "SHORT-1"]
    assert [s.stock for s in SKU.objects.order_by("pk")] == [1, 9, 5]
    assert CartItem.objects.filter(cart__user=customer).count() == 3
    assert not Order.objects.exists()


def test_sku_not_sold_in_the_market_is_refused(customer, customer_client):
    us_only = priced_sku(market="US", product_market="US")
    fill_cart(customer, (us_only, 1))
    response = customer_client.post(ORDERS, body(), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "market_mismatch"
    assert SKU.objects.get(pk=us_only.pk).stock == 10


def test_expected_total_guards_against_price_changes(customer, customer_client):
    sku = priced_sku(price="1290.00", stock=5)
    fill_cart(customer, (sku, 1))
    ProductPrice.objects.filter(product=sku.product).update(price=Decimal("1390.00"))

    response = customer_client.post(ORDERS, body(expected_total="1490.00"), format="json")

    assert response.status_code == 409
    assert response.json() == {
        "code": "price_changed",
        "detail": response.json()["detail"],
        "subtotal": "1390.00",
        "shipping_cost": "200.00",
        "discount": "0.00",
        "total": "1590.00",
    }
    assert not Order.objects.exists()
    assert SKU.objects.get(pk=sku.pk).stock == 5
    assert CartItem.objects.filter(cart__user=customer).exists()

    response = customer_client.post(ORDERS, body(expected_total="1590.00"), format="json")
    assert response.status_code == 201
    assert response.json()["total"] == "1590.00"


def test_order_keeps_its_prices_when_the_catalogue_changes(customer, customer_client):
    sku = priced_sku(price="1290.00")
    fill_cart(customer, (sku, 1))
    number = customer_client.post(ORDERS, body(), format="json").json()["order_number"]
    ProductPrice.objects.filter(product=sku.product).update(price=Decimal("9999.00"))
    Product.objects.filter(pk=sku.product_id).update(name="Renamed")
    data = customer_client.get(f"{ORDERS}{number}/").json()
    assert data["items"][0]["unit_price"] == "1290.00"
    assert data["items"][0]["product_name"] != "Renamed"


def test_side_effects_run_after_commit(
    customer, customer_client, django_capture_on_commit_callbacks
):
    kg_manager = manager("+996700000201", can_manage_kg=True)
    muted = manager("+996700000202", can_manage_kg=True)
    ManagerSettings.objects.create(manager=muted, notify_new_orders=False)
    manager("+996700000203", can_manage_us=True)  # another market
    manager("+996700000204", can_manage_kg=True, is_active=False)
    admin = manager("+996700000205", role="admin")
    fill_cart(customer, (priced_sku(stock=1), 1))  # the last unit: the SKU sells out
    cache.set(VERSION_KEY, "before")

    with django_capture_on_commit_callbacks(execute=True):
        number = customer_client.post(ORDERS, body(), format="json").json()["order_number"]

    note = Notification.objects.get(user=customer)
    assert note.type == "order_status"
    assert number in note.body
    notified = set(ManagerNotification.objects.values_list("manager_id", flat=True))
    assert notified == {kg_manager.pk, admin.pk}
    assert ManagerNotification.objects.filter(type="new_order").count() == 2
    assert cache.get(VERSION_KEY) != "before"


def test_nothing_is_notified_when_checkout_fails(
    customer, customer_client, django_capture_on_commit_callbacks
):
    fill_cart(customer, (priced_sku(stock=0), 1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert customer_client.post(ORDERS, body(), format="json").status_code == 409
    assert callbacks == []
    assert not Notification.objects.exists()


def test_failure_midway_leaves_everything_as_before(customer):
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 2))
    with (
        mock.patch.object(OrderItem.objects, "bulk_create", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        checkout.order_checkout(user=customer, payment_method="cash_on_delivery", address=INLINE_KG)
    assert SKU.objects.get(pk=sku.pk).stock == 5
    assert Product.objects.get(pk=sku.product_id).sales_count == 0
    assert CartItem.objects.get(cart__user=customer).quantity == 2
    assert not Order.objects.exists()
    assert not OrderStatusHistory.objects.exists()


def test_order_number_collision_retries_with_a_new_number(customer, customer_client):
    fill_cart(customer, (priced_sku(), 1))
    first = customer_client.post(ORDERS, body(), format="json").json()["order_number"]
    fill_cart(customer, (priced_sku(), 1))
    numbers = iter([first, "KG-ZZZZZZZZ"])
    with mock.patch.object(checkout, "new_order_number", side_effect=lambda market: next(numbers)):
        response = customer_client.post(ORDERS, body(), format="json")
    assert response.status_code == 201
    assert response.json()["order_number"] == "KG-ZZZZZZZZ"


def test_order_numbers_are_not_sequential():
    numbers = {checkout.new_order_number("KG") for _ in range(500)}
    assert len(numbers) == 500


# --- Idempotency -----------------------------------------------------------------------------


def test_same_key_returns_the_first_order(customer, customer_client):
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 1))
    headers = {"HTTP_IDEMPOTENCY_KEY": "checkout-1"}
    first = customer_client.post(ORDERS, body(), format="json", **headers)
    again = customer_client.post(ORDERS, body(), format="json", **headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Order.objects.count() == 1
    assert SKU.objects.get(pk=sku.pk).stock == 4


def test_same_key_different_body_is_422(customer, customer_client):
    fill_cart(customer, (priced_sku(), 1))
    headers = {"HTTP_IDEMPOTENCY_KEY": "checkout-2"}
    assert customer_client.post(ORDERS, body(), format="json", **headers).status_code == 201
    fill_cart(customer, (priced_sku(), 1))
    response = customer_client.post(ORDERS, body(comment="other"), format="json", **headers)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_conflict"
    assert Order.objects.count() == 1
    assert CartItem.objects.filter(cart__user=customer).count() == 1


def test_keys_belong_to_their_user(customer, customer_client):
    other = UserFactory(phone="+996700444555")
    fill_cart(customer, (priced_sku(), 1))
    fill_cart(other, (priced_sku(), 1))
    headers = {"HTTP_IDEMPOTENCY_KEY": "shared"}
    mine = customer_client.post(ORDERS, body(), format="json", **headers).json()["order_number"]
    client = authenticate(APIClient(), other)
    theirs = client.post(ORDERS, body(), format="json", **headers)
    assert theirs.status_code == 201
    assert theirs.json()["order_number"] != mine


def test_key_expires_after_its_ttl(customer, customer_client):
    fill_cart(customer, (priced_sku(), 1))
    headers = {"HTTP_IDEMPOTENCY_KEY": "old-key"}
    first = customer_client.post(ORDERS, body(), format="json", **headers).json()["order_number"]
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    fill_cart(customer, (priced_sku(), 1))
    second = customer_client.post(ORDERS, body(), format="json", **headers)
    assert second.status_code == 201
    assert second.json()["order_number"] != first
    assert IdempotencyKey.objects.count() == 1


def test_expired_keys_are_cleaned_up(customer, customer_client):
    from orders.tasks import delete_expired_idempotency_keys

    fill_cart(customer, (priced_sku(), 1))
    customer_client.post(ORDERS, body(), format="json", HTTP_IDEMPOTENCY_KEY="a")
    assert delete_expired_idempotency_keys() == 0
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert delete_expired_idempotency_keys() == 1
    assert Order.objects.count() == 1


@pytest.mark.parametrize("key", ["x" * 256, ""])
def test_bad_idempotency_key_is_400(customer, customer_client, key):
    fill_cart(customer, (priced_sku(), 1))
    response = customer_client.post(ORDERS, body(), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert not Order.objects.exists()


def test_anonymous_checkout_is_401(api_client):
    response = api_client.post(ORDERS, body(), format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
