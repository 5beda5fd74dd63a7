"""Staff read returns in the admin and move them only through the returns service (SPEC §10)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group

from orders.models import ReturnImage, ReturnItem, ReturnRequest, ReturnStatusHistory
from orders.services import returns
from orders.tests.returns_support import delivered_order, line, sizes
from products.models import SKU
from users.models import Notification, User

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/returnrequest/"


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("+996700000093", "pw-123456")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def shirt():
    return sizes()


@pytest.fixture
def requested(customer, shirt):
    """A requested return of one S, exchanged for an M (one M held)."""
    small, medium, _ = shirt
    order = delivered_order(customer, (small, 1))
    return returns.return_request_create(
        user=customer,
        order_number=order.order_number,
        items=[line(order, small, 1, exchange=medium)],
    )


def status_of(ret) -> str:
    return ReturnRequest.objects.get(pk=ret.pk).status


def last_history(ret) -> ReturnStatusHistory:
    return ReturnStatusHistory.objects.filter(return_request=ret).order_by("id").last()


def test_returns_are_found_by_return_number_order_number_and_phone(
    staff_client, customer, requested
):
    other = User.objects.create_user("+996700333444")
    small, _, _ = sizes()
    order = delivered_order(other, (small, 1))
    returns.return_request_create(
        user=other, order_number=order.order_number, items=[line(order, small, 1)]
    )

    page = staff_client.get(CHANGELIST)
    assert page.status_code == 200 and page.context["cl"].result_count == 2
    for term in (requested.return_number, requested.order.order_number, customer.phone):
        found = staff_client.get(CHANGELIST, {"q": term}).context["cl"]
        assert [ret.pk for ret in found.result_list] == [requested.pk], term
    assert staff_client.get(CHANGELIST, {"q": "R-NOTHING"}).context["cl"].result_count == 0
    assert staff_client.get(CHANGELIST, {"market": "US"}).context["cl"].result_count == 0
    assert staff_client.get(CHANGELIST, {"status": "requested"}).context["cl"].result_count == 2
    assert staff_client.get(CHANGELIST, {"status": "approved"}).context["cl"].result_count == 0


def test_the_change_page_shows_lines_photos_and_history_read_only(staff_client, requested):
    ReturnImage.objects.create(return_request=requested, image="returns/front.jpg")
    page = staff_client.get(f"{CHANGELIST}{requested.pk}/change/")
    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields) == []
    html = page.content.decode()
    assert '<img src="/media/returns/front.jpg"' in html
    item = requested.items.get().order_item
    assert f"{item.product_name} ({item.size}, {item.color})" in html
    shown = {
        inline.formset.model: len(inline.formset.forms)
        for inline in page.context["inline_admin_formsets"]
    }
    assert shown == {ReturnItem: 1, ReturnImage: 1, ReturnStatusHistory: 1}


def test_approve_moves_through_the_service_with_the_staff_user_as_actor(
    staff_client, staff, customer, requested, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST, {"action": "approve", "_selected_action": [requested.pk]}, follow=True
        )

    assert response.status_code == 200
    assert "1 return request now approved." in response.content.decode()
    assert status_of(requested) == "approved"
    history = last_history(requested)
    assert (history.from_status, history.to_status, history.changed_by) == (
        "requested", "approved", staff,
    )  # fmt: skip
    assert ReturnRequest.objects.get(pk=requested.pk).approved_at is not None
    # The service published the event: the customer is told.
    assert Notification.objects.filter(user=customer, type="return",
                                       data__status="approved").exists()  # fmt: skip


def test_a_refused_move_is_reported_and_changes_nothing(staff_client, customer, requested):
    returns.return_cancel_by_customer(user=customer, return_number=requested.return_number)
    rows = ReturnStatusHistory.objects.count()

    response = staff_client.post(
        CHANGELIST, {"action": "approve", "_selected_action": [requested.pk]}, follow=True
    )

    assert response.status_code == 200
    assert f"Not changed: {requested.return_number}" in response.content.decode()
    assert status_of(requested) == "cancelled"
    assert ReturnStatusHistory.objects.count() == rows


def test_reject_asks_for_the_reason_then_rejects_through_the_service(
    staff_client, staff, requested, shirt
):
    _, medium, _ = shirt
    held = SKU.objects.get(pk=medium.pk).stock
    chosen = {"action": "reject", "_selected_action": [requested.pk]}

    ask = staff_client.post(CHANGELIST, chosen)
    assert ask.status_code == 200
    assert requested.return_number in ask.content.decode()
    assert 'name="reason"' in ask.content.decode()
    assert status_of(requested) == "requested"

    empty = staff_client.post(CHANGELIST, chosen | {"apply": "1", "reason": ""})
    assert empty.status_code == 200 and empty.context["form"].errors
    assert status_of(requested) == "requested"

    done = staff_client.post(
        CHANGELIST, chosen | {"apply": "1", "reason": "Worn and washed"}, follow=True
    )
    assert "1 return request now rejected." in done.content.decode()
    ret = ReturnRequest.objects.get(pk=requested.pk)
    assert (ret.status, ret.reject_reason) == ("rejected", "Worn and washed")
    history = last_history(ret)
    assert (history.to_status, history.changed_by, history.note) == (
        "rejected", staff, "Worn and washed",
    )  # fmt: skip
    assert SKU.objects.get(pk=medium.pk).stock == held + 1  # the held M is back


def test_list_columns_and_filters_fit_a_screen():
    model_admin = admin.site.get_model_admin(ReturnRequest)
    assert len(model_admin.list_display) <= 8
    assert {"status", "market"} <= set(model_admin.list_filter)
    assert set(model_admin.search_fields) == {
        "return_number", "order__order_number", "user__phone",
    }  # fmt: skip


# --------------------------------------------------------------------------- the return page


def _page(ret) -> str:
    return f"{CHANGELIST}{ret.pk}/change/"


def _status_url(ret) -> str:
    return f"{CHANGELIST}{ret.pk}/status/"


def press(client, ret, to_status: str, note: str = "", **kwargs):
    """A status button pressed on the return page, which showed the status it has now."""
    seen = ReturnRequest.objects.get(pk=ret.pk).status
    data = {"to_status": to_status, "note": note, "from_status": seen}
    return client.post(_status_url(ret), data, **kwargs)


def test_the_return_page_offers_approve_and_reject_and_says_where_receipt_is(
    staff_client, requested
):
    html = staff_client.get(_page(requested)).content.decode()
    assert "Approve</button>" in html and "Reject</button>" in html
    assert 'name="to_status" value="cancelled"' not in html  # the customer's own step
    assert "done in the manager app" in html
    assert 'name="_save"' not in html


def test_reject_button_needs_a_reason_then_releases_the_held_unit(
    staff_client, staff, requested, shirt, django_capture_on_commit_callbacks
):
    _, medium, _ = shirt
    held = SKU.objects.get(pk=medium.pk).stock

    empty = press(staff_client, requested, "rejected", follow=True)
    assert "Not changed: Reject needs a note." in empty.content.decode()
    assert status_of(requested) == "requested"

    with django_capture_on_commit_callbacks(execute=True):
        done = press(staff_client, requested, "rejected", "Worn", follow=True)
    assert f"{requested.return_number} is now rejected." in done.content.decode()
    ret = ReturnRequest.objects.get(pk=requested.pk)
    assert (ret.status, ret.reject_reason) == ("rejected", "Worn")
    assert SKU.objects.get(pk=medium.pk).stock == held + 1
    row = last_history(requested)
    assert (row.to_status, row.changed_by, row.note) == ("rejected", staff, "Worn")
    assert "No move left to make here" in done.content.decode()


def test_approve_button_and_a_stale_second_press(staff_client, requested):
    press(staff_client, requested, "approved", "Send it back")
    assert status_of(requested) == "approved"
    again = press(staff_client, requested, "approved", follow=True)
    assert "Not changed:" in again.content.decode()
    assert ReturnStatusHistory.objects.filter(return_request=requested).count() == 2
    # A status the page never offers is refused before the service.
    receive = press(staff_client, requested, "received", follow=True)
    assert "Not changed: choose a status." in receive.content.decode()
    assert status_of(requested) == "approved"


def test_a_support_user_reads_the_return_page_but_cannot_move_it(client, requested):
    support = User.objects.create_user("+996700000094", "pw-123456", is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client.force_login(support)
    assert "You may look at this return request" in client.get(_page(requested)).content.decode()
    assert press(client, requested, "approved").status_code == 403
    assert status_of(requested) == "requested"
