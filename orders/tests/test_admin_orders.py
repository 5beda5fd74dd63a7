"""Staff move orders in the admin only through the status service."""

import pytest

from orders.models import Order, OrderStatusHistory
from orders.tests.helpers import checkout, fill_cart, priced_sku
from products.models import SKU
from users.models import User

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("+996700000096", "pw-123456")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_cancel_action_returns_stock_and_writes_history(staff_client, staff, customer):
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 2))
    order = checkout(customer).order

    response = staff_client.post(
        CHANGELIST, {"action": "move_to_cancelled", "_selected_action": [order.pk]}
    )

    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert SKU.objects.get(pk=sku.pk).stock == 5
    row = OrderStatusHistory.objects.filter(order=order).last()
    assert (row.to_status, row.changed_by) == ("cancelled", staff)


def test_an_invalid_move_is_reported_and_changes_nothing(staff_client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    response = staff_client.post(
        CHANGELIST,
        {"action": "move_to_delivered", "_selected_action": [order.pk]},
        follow=True,
    )
    assert "Not changed" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert OrderStatusHistory.objects.filter(order=order).count() == 1


def test_orders_are_found_by_number_and_phone(staff_client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    for term in (order.order_number, customer.phone):
        page = staff_client.get(CHANGELIST, {"q": term})
        assert page.context["cl"].result_count == 1
    assert staff_client.get(CHANGELIST, {"q": "KG-NOTHING"}).context["cl"].result_count == 0
    filtered = staff_client.get(CHANGELIST, {"market": "US"})
    assert filtered.context["cl"].result_count == 0
