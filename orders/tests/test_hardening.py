"""Edges found in review: after-commit failures, redelivered tasks, stale admin saves."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.admin.sites import site
from kombu.exceptions import OperationalError

from orders import tasks
from orders.models import Order, OrderStatusHistory
from orders.services.transitions import order_transition
from orders.tests.helpers import INLINE_KG, checkout, fill_cart, priced_sku
from outbox.models import OutboxMessage
from outbox.services import outbox_relay
from products.admin import ProductAdmin
from products.models import SKU, Product
from products.services import stock
from store_manager import tasks as manager_tasks
from store_manager.models import ManagerNotification, ManagerSettings, StoreManager
from users.models import Notification, User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"


def manager(phone, **fields):
    return StoreManager.objects.create(user=UserFactory(phone=phone), **fields)


def test_a_broker_outage_after_commit_still_answers_201_and_loses_nothing(
    customer, customer_client, django_capture_on_commit_callbacks, settings
):
    fill_cart(customer, (priced_sku(), 1))
    with (
        mock.patch.object(
            tasks.notify_order_created, "apply_async", side_effect=OperationalError("down")
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = customer_client.post(
            ORDERS, {"address": INLINE_KG, "payment_method": "cash_on_delivery"}, format="json"
        )
    assert response.status_code == 201
    assert Order.objects.count() == 1
    waiting = OutboxMessage.objects.get(sent_at__isnull=True)
    assert (waiting.task, waiting.attempts) == ("orders.tasks.notify_order_created", 1)
    assert "down" in waiting.last_error
    # The other message of the same commit still went out (snapshots recomputed).
    recompute = OutboxMessage.objects.get(task="store_manager.tasks.recompute_order_periods")
    assert recompute.completed_at is not None
    assert not Notification.objects.filter(user=customer).exists()

    # The broker is back: the relay sends what waited, and the customer is told.
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    assert outbox_relay() >= 1  # and, eagerly here, what the notification itself announces
    waiting.refresh_from_db()
    assert waiting.completed_at is not None
    assert Notification.objects.filter(user=customer).count() == 1
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


def test_notification_tasks_deliver_once_when_redelivered(
    customer, django_capture_on_commit_callbacks
):
    kg = manager("+996700000301", can_manage_kg=True)
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    created = OrderStatusHistory.objects.get(order=order)
    for _ in range(2):
        tasks.notify_order_created(order.pk, created.pk)
        manager_tasks.notify_managers_of_new_order(order.pk, created.pk)
    assert Notification.objects.filter(user=customer).count() == 1
    assert ManagerNotification.objects.filter(manager=kg, type="new_order").count() == 1

    order = order_transition(order=order, to_status="cancelled", actor=customer, note="late")
    cancelled = OrderStatusHistory.objects.get(order=order, to_status="cancelled")
    for _ in range(2):
        tasks.notify_order_status_changed(order.pk, cancelled.pk)
        manager_tasks.notify_managers_of_cancellation(
            order.pk, cancelled.pk, from_status="pending", to_status="cancelled"
        )
    assert Notification.objects.filter(user=customer).count() == 2
    note = ManagerNotification.objects.get(manager=kg, type="order_cancelled")
    assert (note.priority, note.message, note.data["market"]) == ("high", "late", "KG")


def test_cancellation_notice_respects_the_opt_out(customer, django_capture_on_commit_callbacks):
    wants = manager("+996700000302", can_manage_kg=True)
    muted = manager("+996700000303", can_manage_kg=True)
    ManagerSettings.objects.create(manager=muted, notify_cancellations=False)
    fill_cart(customer, (priced_sku(), 1))
    with django_capture_on_commit_callbacks(execute=True):
        order = checkout(customer).order
        order_transition(order=order, to_status="cancelled", actor=customer)
    cancelled = ManagerNotification.objects.filter(type="order_cancelled")
    assert list(cancelled.values_list("manager", flat=True)) == [wants.pk]
    assert ManagerNotification.objects.filter(manager=muted, type="new_order").exists()


@pytest.mark.parametrize("path", ["KG-%00AB/", "KG%20AB/", "x" * 40 + "/"])
def test_odd_order_numbers_are_404(customer_client, path):
    for method in ("get", "post"):
        url = f"{ORDERS}{path}" + ("cancel/" if method == "post" else "")
        response = getattr(customer_client, method)(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_lowercase_order_number_finds_the_order(customer, customer_client):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    response = customer_client.get(f"{ORDERS}{order.order_number.lower()}/")
    assert response.status_code == 200


def test_a_sku_deleted_before_the_lock_is_out_of_stock(customer):
    sku, other = priced_sku(code="GONE-9"), priced_sku()
    fill_cart(customer, (sku, 1), (other, 1))
    real = stock.lock_skus

    def delete_first(ids):
        SKU.objects.filter(pk=sku.pk).delete()
        return real(ids)

    with (
        mock.patch.object(stock, "lock_skus", side_effect=delete_first),
        pytest.raises(stock.OutOfStock) as error,
    ):
        checkout(customer)
    assert error.value.extra["skus"] == [f"#{sku.pk}"]
    assert SKU.objects.get(pk=other.pk).stock == 10


def test_cache_is_dropped_only_when_availability_changes(
    customer, settings, django_capture_on_commit_callbacks
):
    settings.LOW_STOCK_THRESHOLD = 5
    plenty, edge = priced_sku(stock=50), priced_sku(stock=6)
    with mock.patch("products.services.stock.catalogue_cache_invalidate_on_commit") as invalidate:
        fill_cart(customer, (plenty, 1))
        with django_capture_on_commit_callbacks(execute=True):
            checkout(customer)
        invalidate.assert_not_called()  # 50 → 49: still "in stock"
        fill_cart(customer, (edge, 1))
        with django_capture_on_commit_callbacks(execute=True):
            checkout(customer)
        invalidate.assert_called_once()  # 6 → 5: now "low stock"


def test_saving_an_order_page_never_writes_back_a_stale_status(rf, customer):
    fill_cart(customer, (priced_sku(stock=5), 2))
    order = checkout(customer).order
    stale = Order.objects.get(pk=order.pk)  # the page's copy
    order_transition(order=order, to_status="cancelled", actor=None)
    stale.payment_status = "paid"  # nothing on the page is editable; a forged form changes nothing
    request = rf.post("/admin/")
    request.user = User.objects.create_superuser("+996700000095", "pw-123456")
    site.get_model_admin(Order).save_model(request, stale, form=None, change=True)
    order.refresh_from_db()
    assert (order.status, order.payment_status) == ("cancelled", "unpaid")
    assert order.cancelled_at is not None


def test_the_product_page_never_writes_back_stale_counters(rf, customer):
    sku = priced_sku(stock=5)
    stale = Product.objects.get(pk=sku.product_id)  # the page's copy: sales_count 0
    fill_cart(customer, (sku, 2))
    checkout(customer)  # sells 2 while the page is open
    request = rf.post("/admin/")
    request.user = User.objects.create_superuser("+996700000094", "pw-123456")
    model_admin = ProductAdmin(Product, site)
    data = {"name": "Renamed", "slug": stale.slug, "category": stale.category_id,
            "market": stale.market}  # fmt: skip
    form = model_admin.get_form(request, stale)(data=data, instance=stale)
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    product = Product.objects.get(pk=stale.pk)
    assert (product.name, product.sales_count) == ("Renamed", 2)


def test_odd_order_numbers_never_reach_the_manager_views(api_client):
    for path in ("KG-%00AB/", "KG-%00AB/status/", "a%2Fb/cancel/"):
        response = api_client.get(f"/api/v1/manager/orders/{path}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_checkout_out_of_stock_names_products_never_units_left(customer, customer_client):
    short = priced_sku(stock=3)
    fill_cart(customer, (short, 3))
    SKU.objects.filter(pk=short.pk).update(stock=1)  # sold meanwhile
    response = customer_client.post(
        ORDERS, {"address": INLINE_KG, "payment_method": "cash_on_delivery"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["skus"] == [short.code]
    assert f"{short.product.name} ({short.size}, {short.color})" in body["detail"]
    assert short.code not in body["detail"]
    assert "1" not in body["detail"].replace(short.product.name, "").replace(short.size, "")
