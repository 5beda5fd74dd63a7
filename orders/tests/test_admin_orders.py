"""Staff move orders in the admin only through the status service."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group

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

    chosen = {"action": "move_to_cancelled", "_selected_action": [order.pk]}

    ask = staff_client.post(CHANGELIST, chosen)  # the reason first: the customer reads it
    assert ask.status_code == 200 and 'name="reason"' in ask.content.decode()
    assert order.order_number in ask.content.decode()
    empty = staff_client.post(CHANGELIST, chosen | {"apply": "1", "reason": ""})
    assert empty.status_code == 200 and empty.context["form"].errors
    assert Order.objects.get(pk=order.pk).status == "pending"

    response = staff_client.post(CHANGELIST, chosen | {"apply": "1", "reason": "Out of stock"})

    assert response.status_code == 302
    cancelled = Order.objects.get(pk=order.pk)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "Out of stock")
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


# --------------------------------------------------------------------------- the order page


def _page(order) -> str:
    return f"{CHANGELIST}{order.pk}/change/"


def _status_url(order) -> str:
    return f"{CHANGELIST}{order.pk}/status/"


def press(client, order, to_status: str, note: str = "", *, seen: str | None = None, **kwargs):
    """A status button pressed on the order page, which showed status `seen` (default: now)."""
    if seen is None:
        seen = Order.objects.get(pk=order.pk).status
    data = {"to_status": to_status, "note": note, "from_status": seen}
    return client.post(_status_url(order), data, **kwargs)


def _staff_in(group_name: str, phone: str) -> User:
    user = User.objects.create_user(phone, "pw-123456", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


def test_the_order_page_offers_the_moves_the_order_can_make_and_no_save(staff_client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order

    html = staff_client.get(_page(order)).content.decode()

    assert 'id="status-panel"' in html
    assert 'name="to_status" value="confirmed"' in html and "Confirm</button>" in html
    assert 'name="to_status" value="cancelled"' in html and "Cancel order</button>" in html
    for impossible in ("shipped", "delivered", "processing", "pending"):
        assert f'name="to_status" value="{impossible}"' not in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html


def test_a_button_moves_the_order_with_the_note_and_is_audited(staff_client, staff, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order

    response = press(staff_client, order, "confirmed", "We will call before delivery")

    assert response.status_code == 302 and response["Location"] == _page(order)
    assert Order.objects.get(pk=order.pk).status == "confirmed"
    row = OrderStatusHistory.objects.filter(order=order).last()
    assert (row.from_status, row.to_status, row.changed_by, row.note) == (
        "pending",
        "confirmed",
        staff,
        "We will call before delivery",
    )
    entry = LogEntry.objects.get(object_id=str(order.pk))
    assert entry.user == staff and entry.is_change()
    assert entry.change_message == "Status pending → confirmed: We will call before delivery"
    page = staff_client.get(_page(order)).content.decode()
    assert f"{order.order_number} is now confirmed." in page
    assert (
        'name="to_status" value="processing"' in page
        and 'name="to_status" value="confirmed"' not in page
    )


def test_cancel_and_resume_buttons_move_stock_through_the_service(staff_client, customer):
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 2))
    order = checkout(customer).order
    assert SKU.objects.get(pk=sku.pk).stock == 3

    press(staff_client, order, "cancelled", "Out of town")
    cancelled = Order.objects.get(pk=order.pk)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "Out of town")
    assert SKU.objects.get(pk=sku.pk).stock == 5
    assert 'name="to_status" value="pending"' in staff_client.get(_page(order)).content.decode()

    press(staff_client, order, "pending", "")
    resumed = Order.objects.get(pk=order.pk)
    assert (resumed.status, resumed.cancel_reason, resumed.cancelled_at) == ("pending", "", None)
    assert SKU.objects.get(pk=sku.pk).stock == 3


def test_a_refused_move_is_reported_on_the_page_and_changes_nothing(staff_client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order

    page = press(staff_client, order, "delivered", "x", follow=True).content.decode()
    assert "Not changed: An order that is pending cannot become delivered." in page

    bogus = press(staff_client, order, "lost", follow=True)
    assert "Not changed: choose a status." in bogus.content.decode()

    assert Order.objects.get(pk=order.pk).status == "pending"
    assert OrderStatusHistory.objects.filter(order=order).count() == 1
    assert not LogEntry.objects.filter(object_id=str(order.pk)).exists()


def test_a_resume_without_stock_is_refused_and_stays_cancelled(staff_client, customer):
    sku = priced_sku(stock=1)
    fill_cart(customer, (sku, 1))
    order = checkout(customer).order
    press(staff_client, order, "cancelled", "Duplicate")
    SKU.objects.filter(pk=sku.pk).update(stock=0)  # sold to someone else meanwhile

    page = press(staff_client, order, "pending", follow=True).content.decode()

    assert "Not changed:" in page
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert SKU.objects.get(pk=sku.pk).stock == 0


def test_only_staff_allowed_to_change_orders_see_and_use_the_buttons(client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    support = _staff_in("Support", "+996700000097")
    desk = _staff_in("Order desk", "+996700000098")

    client.force_login(support)
    page = client.get(_page(order)).content.decode()
    assert "You may look at this order but not move it." in page
    assert 'name="to_status"' not in page
    assert press(client, order, "confirmed").status_code == 403
    assert Order.objects.get(pk=order.pk).status == "pending"

    client.force_login(desk)
    assert 'name="to_status" value="confirmed"' in client.get(_page(order)).content.decode()
    press(client, order, "confirmed", "ok")
    assert OrderStatusHistory.objects.filter(order=order).last().changed_by == desk


def test_the_status_url_takes_only_a_post_for_an_existing_order(staff_client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    assert staff_client.get(_status_url(order)).status_code == 405
    missing = staff_client.post(
        f"{CHANGELIST}999999/status/", {"to_status": "confirmed", "from_status": "pending"}
    )
    assert missing.status_code == 404
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_a_delivered_order_has_no_buttons_left(staff_client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    for status in ("confirmed", "processing", "shipped", "delivered"):
        press(staff_client, order, status)
    assert Order.objects.get(pk=order.pk).status == "delivered"
    page = staff_client.get(_page(order)).content.decode()
    assert "No move left to make here: it is delivered." in page
    assert 'name="to_status"' not in page


def test_a_page_left_open_does_not_act_on_an_order_that_moved_on(staff_client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    press(staff_client, order, "confirmed", "By phone")  # in another tab
    press(staff_client, order, "processing")

    page = press(staff_client, order, "cancelled", "Too late", seen="pending", follow=True)

    assert "Not changed: it is processing now, not pending: look at it again." in (
        page.content.decode()
    )
    assert Order.objects.get(pk=order.pk).status == "processing"
    assert LogEntry.objects.filter(object_id=str(order.pk)).count() == 2


def test_a_cancellation_needs_its_reason_and_a_long_note_is_refused(staff_client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order

    empty = press(staff_client, order, "cancelled", "  ", follow=True).content.decode()
    assert "Not changed: Cancel order needs a note." in empty
    long = press(staff_client, order, "confirmed", "x" * 501, follow=True).content.decode()
    assert "Not changed: the note: Ensure this value has at most 500 characters" in long

    assert Order.objects.get(pk=order.pk).status == "pending"
    assert not LogEntry.objects.filter(object_id=str(order.pk)).exists()


def test_staff_without_order_rights_learn_nothing_from_the_status_url(client, customer):
    fill_cart(customer, (priced_sku(), 1))
    order = checkout(customer).order
    client.force_login(_staff_in("Catalogue editor", "+996700000099"))
    assert press(client, order, "confirmed").status_code == 403
    missing = client.post(
        f"{CHANGELIST}999999/status/", {"to_status": "confirmed", "from_status": "pending"}
    )
    assert missing.status_code == 403
    assert Order.objects.get(pk=order.pk).status == "pending"
