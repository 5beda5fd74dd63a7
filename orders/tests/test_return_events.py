"""The customer hears of every step of a return, once (SPEC §10, docs/EVENTS.md).

Each test moves a return through `orders.services.returns` with the outbox's
after-commit hand-over running (so the subscribers run as they would in a
worker) and reads the customer's notifications, as the app would.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders import tasks
from orders.events import RETURN_STATUS_CHANGED
from orders.models import ReturnStatusHistory
from orders.services import returns
from orders.tests.returns_support import delivered_order, line, sizes
from users.models import Notification
from users.services.accounts import notify_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def shirt():
    return sizes()


@pytest.fixture
def bought(customer, shirt):
    small, medium, _ = shirt
    return delivered_order(customer, (small, 2), (medium, 1))


@pytest.fixture
def run_events(django_capture_on_commit_callbacks):
    """Run `move()` and the subscribers of what it published (after its commit)."""

    def run(move):
        with django_capture_on_commit_callbacks(execute=True):
            return move()

    return run


def return_notes(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, type="return").order_by("id"))


def received_items(ret, received=None) -> list[dict]:
    return [
        {"id": item.pk, "received_quantity": item.quantity if received is None else received,
         "damaged_quantity": 0}
        for item in ret.items.all()
    ]  # fmt: skip


def request(customer, order, *lines):
    return returns.return_request_create(
        user=customer, order_number=order.order_number, items=list(lines)
    )


def test_a_request_tells_the_customer_it_arrived(customer, bought, shirt, run_events):
    small, _, _ = shirt
    ret = run_events(lambda: request(customer, bought, line(bought, small, 1)))

    [note] = return_notes(customer)
    history = ReturnStatusHistory.objects.get(return_request=ret)
    assert note.title == f"Return {ret.return_number}: request received"
    assert f"We received your return request {ret.return_number}" in note.body
    assert bought.order_number in note.body
    assert note.data == {
        "return_number": ret.return_number,
        "order_number": bought.order_number,
        "status": "requested",
        "return_event": history.pk,
    }


def test_approval_says_what_to_do_next(customer, bought, shirt, run_events):
    small, _, _ = shirt
    ret = request(customer, bought, line(bought, small, 1))
    run_events(lambda: returns.return_transition(ret=ret, to_status="approved", actor=None))

    [note] = return_notes(customer)
    assert note.title == f"Return {ret.return_number}: approved"
    assert "send it to us" in note.body and f"mark the parcel with {ret.return_number}" in note.body
    assert note.data["status"] == "approved"


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("Worn and washed", "was not accepted: Worn and washed."),
        ("", "was not accepted: contact us if you would like to know more."),
    ],
)
def test_a_rejection_gives_the_reason(customer, bought, shirt, run_events, reason, said):
    small, _, _ = shirt
    ret = request(customer, bought, line(bought, small, 1))
    run_events(
        lambda: returns.return_transition(ret=ret, to_status="rejected", actor=None, note=reason)
    )

    [note] = return_notes(customer)
    assert note.title == f"Return {ret.return_number}: not accepted"
    assert note.body == f"Your return {ret.return_number} {said}"


def test_a_cancellation_is_confirmed(customer, bought, shirt, run_events):
    small, _, _ = shirt
    ret = request(customer, bought, line(bought, small, 1))
    run_events(
        lambda: returns.return_cancel_by_customer(user=customer, return_number=ret.return_number)
    )

    [note] = return_notes(customer)
    assert note.title == f"Return {ret.return_number}: cancelled"
    assert note.data["status"] == "cancelled"


def test_receipt_and_refund_with_amount_and_currency(customer, bought, shirt, run_events):
    small, _, _ = shirt
    ret = returns.return_transition(
        ret=request(customer, bought, line(bought, small, 2)), to_status="approved", actor=None
    )
    run_events(lambda: returns.return_receive(ret=ret, actor=None, items=received_items(ret)))
    run_events(lambda: returns.return_refund(ret=ret, actor=None, method="cash"))

    received, refunded = return_notes(customer)
    assert received.title == f"Return {ret.return_number}: parcel received"
    assert refunded.title == f"Return {ret.return_number}: refunded"
    assert refunded.body == (
        f"We refunded 2580.00 KGS for your return {ret.return_number} "
        f"(order {bought.order_number})."
    )
    assert (refunded.data["amount"], refunded.data["currency"]) == ("2580.00", "KGS")
    assert Decimal(refunded.data["amount"]) == 2 * Decimal("1290.00")


def test_an_exchange_names_the_replacement_order(customer, bought, shirt, run_events):
    small, medium, _ = shirt
    ret = returns.return_transition(
        ret=request(customer, bought, line(bought, small, 1, exchange=medium)),
        to_status="approved",
        actor=None,
    )
    ret = run_events(lambda: returns.return_receive(ret=ret, actor=None, items=received_items(ret)))

    received, exchanged = return_notes(customer)
    replacement = ret.replacement_order.order_number
    assert received.data["status"] == "received"
    assert exchanged.title == f"Return {ret.return_number}: exchange on its way"
    assert exchanged.body == (
        f"Your exchange for return {ret.return_number} ships in order {replacement}."
    )
    assert exchanged.data["replacement_order_number"] == replacement


def test_every_step_notifies_once_however_often_its_event_is_delivered(
    customer, bought, shirt, run_events
):
    small, _, _ = shirt
    ret = run_events(lambda: request(customer, bought, line(bought, small, 1)))
    run_events(lambda: returns.return_transition(ret=ret, to_status="approved", actor=None))
    assert len(return_notes(customer)) == 2

    # The outbox may deliver a message twice: every redelivery finds its notification.
    for history in ReturnStatusHistory.objects.filter(return_request=ret):
        run_events(
            lambda history=history: tasks.notify_return_status_changed(
                return_id=ret.pk,
                event_id=history.pk,
                order_id=ret.order_id,
                from_status=history.from_status,
                to_status=history.to_status,
            )
        )
    assert [n.data["status"] for n in return_notes(customer)] == ["requested", "approved"]


def test_an_order_event_with_the_same_number_does_not_silence_a_return_event(
    customer, bought, shirt
):
    """Order and return history rows are numbered apart: the keys must not mix."""
    small, _, _ = shirt
    ret = request(customer, bought, line(bought, small, 1))
    history = ReturnStatusHistory.objects.get(return_request=ret)
    notify_user(user=customer, title="Order news", data={"event": history.pk})

    tasks.notify_return_status_changed(return_id=ret.pk, event_id=history.pk)

    assert len(return_notes(customer)) == 1


def test_an_event_that_does_not_belong_to_the_return_tells_nobody(customer, bought, shirt):
    small, _, _ = shirt
    ret = request(customer, bought, line(bought, small, 1))
    history = ReturnStatusHistory.objects.get(return_request=ret)

    tasks.notify_return_status_changed(return_id=ret.pk + 1, event_id=history.pk)
    tasks.notify_return_status_changed(return_id=ret.pk, event_id=history.pk + 1000)

    assert return_notes(customer) == []


def test_the_frame_goes_first_then_the_notification_then_the_fit():
    """docs/EVENTS.md lists the subscribers in the order their messages are sent."""
    subscribers = RETURN_STATUS_CHANGED.subscribers
    mine = [
        "realtime.tasks.push_return_status_changed",
        "orders.tasks.notify_return_status_changed",
        "reviews.tasks.refresh_fit_from_returns",
    ]
    assert subscribers[0] == mine[0]
    assert [name for name in subscribers if name in mine] == mine
