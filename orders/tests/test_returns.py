"""Returns and exchanges from the customer's side, and the status machine (SPEC §10).

Each test drives the API or the service and checks what a customer, a manager
or the stock would show: the return's status and lines, held and returned
units, the replacement order, the refund. Every refusal is a 4xx with a stable
code and leaves everything as it was.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from conftest import authenticate
from orders.models import (
    Order,
    OrderStatus,
    Refund,
    ReturnImage,
    ReturnItem,
    ReturnRequest,
    ReturnStatusHistory,
)
from orders.services import returns
from orders.services.checkout import ORDER_NUMBER_ALPHABET
from orders.services.payments import payment_refund
from orders.services.transitions import order_transition
from orders.tests.helpers import checkout, fill_cart
from orders.tests.returns_support import deliver, delivered_order, line, sizes
from orders.tests.test_payments import authorize, placed
from products.models import SKU
from products.tests.factories import SKUFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RETURNS = "/api/v1/returns/"


@pytest.fixture
def shirt():
    """Sizes S, M, L of one product sold in KG, 10 units each."""
    return sizes()


@pytest.fixture
def bought(customer, shirt):
    """The customer's delivered order: 2 x S and 1 x M."""
    small, medium, _ = shirt
    return delivered_order(customer, (small, 2), (medium, 1))


def post_return(client, order, *items, note="", **extra):
    body = {"order_number": order.order_number, "items": list(items), "note": note, **extra}
    return client.post(RETURNS, body, format="json")


def stock_of(sku) -> int:
    return SKU.objects.get(pk=sku.pk).stock


def nothing_changed(stock_before: dict) -> None:
    assert ReturnRequest.objects.count() == 0
    assert ReturnItem.objects.count() == 0
    assert {sku.pk: stock_of(sku) for sku in stock_before} == {
        sku.pk: units for sku, units in stock_before.items()
    }


def approve(ret):
    return returns.return_transition(ret=ret, to_status="approved", actor=None)


def receipt(ret, received=None, damaged=0):
    return [
        {
            "id": item.pk,
            "received_quantity": item.quantity if received is None else received,
            "damaged_quantity": damaged,
        }
        for item in ret.items.all()
    ]


# --------------------------------------------------------------------------- requesting


def test_a_return_request_answers_201_with_an_unguessable_number(
    customer_client, bought, shirt, django_capture_on_commit_callbacks
):
    small, _, _ = shirt
    with django_capture_on_commit_callbacks(execute=True):
        response = post_return(customer_client, bought, line(bought, small, 2), note="too tight")

    assert response.status_code == 201, response.json()
    body = response.json()
    number = body["return_number"]
    assert number.startswith("R-") and len(number) == 10
    assert set(number[2:]) <= set(ORDER_NUMBER_ALPHABET)
    assert body["status"] == "requested"
    assert body["order_number"] == bought.order_number
    assert body["note"] == "too tight"
    assert body["can_cancel"] is True
    (item,) = body["items"]
    assert (item["sku_code"], item["quantity"], item["reason"]) == (small.code, 2, "size_too_small")
    assert item["unit_price"] == "1290.00" and item["exchange"] is None
    assert [h["to_status"] for h in body["status_history"]] == ["requested"]
    history = ReturnStatusHistory.objects.get()
    assert history.changed_by == bought.user and history.from_status is None
    # A plain return holds nothing: stock moves only when the parcel arrives.
    assert stock_of(small) == 8


def test_numbers_differ_between_returns(customer_client, bought, shirt):
    small, medium, _ = shirt
    first = post_return(customer_client, bought, line(bought, small, 1)).json()["return_number"]
    second = post_return(customer_client, bought, line(bought, medium, 1)).json()["return_number"]
    assert first != second


def test_an_exchange_holds_the_other_size_at_once(customer_client, bought, shirt):
    small, medium, large = shirt

    response = post_return(customer_client, bought, line(bought, small, 2, exchange=medium))

    assert response.status_code == 201, response.json()
    exchange = response.json()["items"][0]["exchange"]
    assert exchange == {"sku_id": medium.pk, "sku_code": medium.code, "size": "M",
                        "color": "Black"}  # fmt: skip
    assert stock_of(medium) == 10 - 1 - 2  # one sold with the order, two held
    assert stock_of(large) == 10


def test_another_customers_order_is_404_and_changes_nothing(api_client, bought, shirt):
    small, _, _ = shirt
    stranger = authenticate(api_client, UserFactory(phone="+996700999888"))

    response = post_return(stranger, bought, line(bought, small, 1))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    nothing_changed({small: 8})


def test_an_order_not_delivered_is_409_invalid_transition(customer, customer_client, shirt):
    small, _, _ = shirt
    fill_cart(customer, (small, 1))
    order = checkout(customer).order

    response = post_return(customer_client, order, line(order, small, 1))

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["status"] == "pending"
    nothing_changed({small: 9})


def test_the_window_closes_per_market(customer_client, customer, shirt, settings):
    small, _, _ = shirt
    settings.RETURN_WINDOW_DAYS = {"KG": 14, "US": 30}
    order = delivered_order(customer, (small, 1), at=timezone.now() - timedelta(days=15))

    response = post_return(customer_client, order, line(order, small, 1))

    assert response.status_code == 409
    assert response.json()["code"] == "return_window_closed"
    nothing_changed({small: 9})
    settings.RETURN_WINDOW_DAYS = {"KG": 16, "US": 30}
    assert post_return(customer_client, order, line(order, small, 1)).status_code == 201


@pytest.mark.parametrize("quantity", [3, 10_000])
def test_never_more_than_bought(customer_client, bought, shirt, quantity):
    small, _, _ = shirt

    response = post_return(customer_client, bought, line(bought, small, quantity))

    assert response.status_code == 400
    assert response.json()["code"] == "return_quantity_exceeded"
    nothing_changed({small: 8})


def test_units_in_live_returns_count_and_withdrawn_ones_come_free(customer, customer_client,
                                                                  bought, shirt):  # fmt: skip
    small, _, _ = shirt
    first = post_return(customer_client, bought, line(bought, small, 2)).json()["return_number"]

    again = post_return(customer_client, bought, line(bought, small, 1))
    assert again.status_code == 400
    assert again.json()["code"] == "return_quantity_exceeded"
    assert again.json()["returnable"] == 0

    returns.return_cancel_by_customer(user=customer, return_number=first)
    assert post_return(customer_client, bought, line(bought, small, 2)).status_code == 201


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda body, other: body.update(order_item_id=other), id="foreign-item"),
        pytest.param(lambda body, other: body.update(reason="too_ugly"), id="bad-reason"),
        pytest.param(lambda body, other: body.update(quantity=0), id="zero"),
        pytest.param(lambda body, other: body.update(order_item_id="x"), id="not-an-id"),
    ],
)
def test_bad_lines_are_400_invalid(customer, customer_client, bought, shirt, mutate):
    small, medium, _ = shirt
    other_order = delivered_order(customer, (medium, 1))
    body = line(bought, small, 1)
    mutate(body, other_order.items.get().pk)

    response = post_return(customer_client, bought, body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    nothing_changed({small: 8, medium: 8})


def test_an_item_named_twice_is_400(customer_client, bought, shirt):
    small, _, _ = shirt
    response = post_return(customer_client, bought, line(bought, small, 1), line(bought, small, 1))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    nothing_changed({small: 8})


def test_no_items_is_400(customer_client, bought):
    response = post_return(customer_client, bought)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_an_exchange_must_be_another_sku_of_the_same_product_sold_here(
    customer_client, bought, shirt
):
    small, medium, _ = shirt
    elsewhere = SKUFactory(stock=5)  # another product
    inactive = SKUFactory(product=small.product, size="XL", color="Black", stock=5, is_active=False)
    for wanted in (small, elsewhere, inactive):
        response = post_return(customer_client, bought, line(bought, small, 1, exchange=wanted))
        assert response.status_code in (400, 409), response.json()
        assert response.json()["code"] in ("exchange_invalid", "out_of_stock")
    assert post_return(
        customer_client, bought, line(bought, small, 1, exchange=small)
    ).json()["code"] == "exchange_invalid"  # fmt: skip
    nothing_changed({small: 8, medium: 9, elsewhere: 5, inactive: 5})


def test_an_exchange_without_stock_is_409_and_creates_nothing(customer, customer_client):
    small, medium, _ = sizes(stocks=(10, 1, 10))
    order = delivered_order(customer, (small, 2))  # M still has 1 unit

    response = post_return(customer_client, order, line(order, small, 2, exchange=medium))

    assert response.status_code == 409
    assert response.json()["code"] == "out_of_stock"
    assert response.json()["skus"] == [medium.code]
    nothing_changed({small: 8, medium: 1})


def test_photos_are_cleaned_and_at_most_five(customer_client, bought, shirt):
    small, _, _ = shirt

    def photo(name="a.jpg"):
        buffer = io.BytesIO()
        exif = Image.Exif()
        exif[0x010E] = "secret description"
        Image.new("RGB", (64, 48), "red").save(buffer, format="JPEG", exif=exif)
        buffer.seek(0)
        buffer.name = name
        return buffer

    body = {
        "order_number": bought.order_number,
        "items": json.dumps([line(bought, small, 1)]),
        "note": "see the photos",
    }
    too_many = customer_client.post(
        RETURNS, {**body, "images": [photo() for _ in range(6)]}, format="multipart"
    )
    assert too_many.status_code == 400
    not_an_image = io.BytesIO(b"not an image at all")
    not_an_image.name = "x.jpg"
    refused = customer_client.post(RETURNS, {**body, "images": [not_an_image]}, format="multipart")
    assert refused.status_code == 400
    nothing_changed({small: 8})

    response = customer_client.post(
        RETURNS, {**body, "images": [photo(), photo("b.jpg")]}, format="multipart"
    )

    assert response.status_code == 201, response.json()
    assert len(response.json()["images"]) == 2
    stored = ReturnImage.objects.first()
    with stored.image.open("rb") as file, Image.open(file) as image:
        assert image.size == (64, 48)
        assert not image.getexif()


def test_multipart_items_must_be_json(customer_client, bought):
    response = customer_client.post(
        RETURNS, {"order_number": bought.order_number, "items": "[{"}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


# --------------------------------------------------------------------------- reading


def test_customers_read_only_their_own_returns(api_client, customer_client, bought, shirt):
    small, _, _ = shirt
    number = post_return(customer_client, bought, line(bought, small, 1)).json()["return_number"]
    stranger = authenticate(api_client, UserFactory(phone="+996700999777"))

    assert stranger.get(f"{RETURNS}{number}/").status_code == 404
    assert stranger.get(RETURNS).json()["count"] == 0
    mine = customer_client.get(RETURNS).json()
    assert [r["return_number"] for r in mine["results"]] == [number]
    assert customer_client.get(f"{RETURNS}{number.lower()}/").json()["return_number"] == number
    assert customer_client.get(RETURNS, {"status": "approved"}).json()["count"] == 0
    assert customer_client.get(RETURNS, {"status": "lost"}).status_code == 400


def test_the_list_costs_the_same_queries_for_one_return_or_many(customer, customer_client, shirt):
    small, medium, large = shirt

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = customer_client.get(RETURNS)
        assert response.status_code == 200
        return len(queries)

    order = delivered_order(customer, (small, 1))
    returns.return_request_create(user=customer, order_number=order.order_number,
                                  items=[line(order, small, 1)])  # fmt: skip
    one = count_queries()
    for _ in range(4):
        order = delivered_order(customer, (small, 1), (medium, 1), (large, 1))
        returns.return_request_create(
            user=customer,
            order_number=order.order_number,
            items=[line(order, small, 1), line(order, medium, 1, exchange=large)],
        )
    assert customer_client.get(RETURNS).json()["count"] == 5
    assert count_queries() == one


# --------------------------------------------------------------------------- the machine


def test_the_customer_cancels_while_requested_and_held_units_return(
    customer, customer_client, bought, shirt
):
    small, medium, _ = shirt
    number = post_return(
        customer_client, bought, line(bought, small, 2, exchange=medium)
    ).json()["return_number"]  # fmt: skip
    assert stock_of(medium) == 7

    response = customer_client.post(f"{RETURNS}{number}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["can_cancel"] is False
    assert stock_of(medium) == 9
    again = customer_client.post(f"{RETURNS}{number}/cancel/")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"
    assert stock_of(medium) == 9


def test_an_approved_return_is_no_longer_the_customers_to_cancel(customer_client, bought, shirt):
    small, _, _ = shirt
    number = post_return(customer_client, bought, line(bought, small, 1)).json()["return_number"]
    approve(ReturnRequest.objects.get(return_number=number))

    response = customer_client.post(f"{RETURNS}{number}/cancel/")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert ReturnRequest.objects.get().status == "approved"


@pytest.mark.parametrize(
    ("path", "to_status"),
    [
        (("requested",), "received"),
        (("requested",), "refunded"),
        (("requested", "approved"), "approved"),
        (("requested", "approved"), "rejected"),
        (("requested", "approved"), "cancelled"),
        (("requested", "rejected"), "approved"),
        (("requested", "cancelled"), "approved"),
    ],
)
def test_moves_outside_the_machine_are_409(customer, bought, shirt, path, to_status):
    small, _, _ = shirt
    ret = returns.return_request_create(
        user=customer, order_number=bought.order_number, items=[line(bought, small, 1)]
    )
    for status in path[1:]:
        ret = returns.return_transition(ret=ret, to_status=status, actor=None)
    rows = ReturnStatusHistory.objects.count()

    if to_status == "received":
        move = lambda: returns.return_receive(ret=ret, actor=None, items=receipt(ret))  # noqa: E731
    elif to_status == "refunded":
        move = lambda: returns.return_refund(ret=ret, actor=None)  # noqa: E731
    else:
        move = lambda: returns.return_transition(ret=ret, to_status=to_status, actor=None)  # noqa: E731

    with pytest.raises(returns.ReturnInvalidTransition) as refused:
        move()

    assert refused.value.status_code == 409
    assert ReturnRequest.objects.get().status == path[-1]
    assert ReturnStatusHistory.objects.count() == rows


def test_rejection_keeps_the_reason_and_releases_the_hold(customer, bought, shirt):
    small, medium, _ = shirt
    manager = UserFactory(phone="+996700555444", is_staff=True)
    ret = returns.return_request_create(
        user=customer,
        order_number=bought.order_number,
        items=[line(bought, small, 1, exchange=medium)],
    )
    assert stock_of(medium) == 8

    ret = returns.return_transition(ret=ret, to_status="rejected", actor=manager, note="worn")

    assert (ret.status, ret.reject_reason) == ("rejected", "worn")
    assert ret.closed_at is not None
    assert stock_of(medium) == 9
    last = ReturnStatusHistory.objects.last()
    assert (last.from_status, last.to_status, last.changed_by, last.note) == (
        "requested", "rejected", manager, "worn",
    )  # fmt: skip


def test_receiving_puts_only_sound_units_back(customer, bought, shirt):
    small, _, _ = shirt
    ret = approve(
        returns.return_request_create(
            user=customer, order_number=bought.order_number, items=[line(bought, small, 2)]
        )
    )

    ret = returns.return_receive(ret=ret, actor=None, items=receipt(ret, received=2, damaged=1))

    assert ret.status == "received" and ret.received_at is not None
    assert stock_of(small) == 8 + 1
    item = ret.items.get()
    assert (item.received_quantity, item.damaged_quantity) == (2, 1)
    assert ret.replacement_order is None


@pytest.mark.parametrize(
    "counts",
    [
        {"received_quantity": 3},
        {"received_quantity": 1, "damaged_quantity": 2},
        {"received_quantity": -1},
    ],
)
def test_a_receipt_outside_the_lines_is_400(customer, bought, shirt, counts):
    small, _, _ = shirt
    ret = approve(
        returns.return_request_create(
            user=customer, order_number=bought.order_number, items=[line(bought, small, 2)]
        )
    )
    body = [{"id": ret.items.get().pk, "damaged_quantity": 0, **counts}]

    with pytest.raises(returns.InvalidInput):
        returns.return_receive(ret=ret, actor=None, items=body)
    with pytest.raises(returns.InvalidInput):
        returns.return_receive(ret=ret, actor=None, items=[])

    assert ReturnRequest.objects.get().status == "approved"
    assert stock_of(small) == 8


def test_a_received_exchange_ships_in_a_replacement_order(
    customer, bought, shirt, django_capture_on_commit_callbacks
):
    small, medium, _ = shirt
    ret = approve(
        returns.return_request_create(
            user=customer,
            order_number=bought.order_number,
            items=[line(bought, small, 2, exchange=medium)],
        )
    )
    assert stock_of(medium) == 7

    with django_capture_on_commit_callbacks(execute=True):
        ret = returns.return_receive(ret=ret, actor=None, items=receipt(ret, received=1))

    # One S came back sound; one M ships; the M held for the S that never came is back.
    assert stock_of(small) == 9
    assert stock_of(medium) == 8
    assert ret.status == "exchanged" and ret.closed_at is not None
    replacement = ret.replacement_order
    assert replacement.is_replacement
    assert (replacement.status, replacement.total, replacement.subtotal) == (
        OrderStatus.CONFIRMED, Decimal("0.00"), Decimal("0.00"),
    )  # fmt: skip
    assert replacement.user == customer and replacement.market == bought.market
    assert replacement.shipping_street == bought.shipping_street
    (item,) = replacement.items.all()
    assert (item.sku_id, item.quantity, item.size, item.unit_price) == (
        medium.pk, 1, "M", Decimal("0.00"),
    )  # fmt: skip
    assert [h.to_status for h in ret.status_history.all()] == [
        "requested", "approved", "received", "exchanged",
    ]  # fmt: skip
    # The replacement moves through the ordinary status machine, with nothing to pay.
    shipped = deliver(Order.objects.get(pk=replacement.pk))
    assert shipped.status == "delivered" and shipped.payment_status == "paid"
    # A replacement is not returned again through the API.
    with pytest.raises(returns.ReturnInvalidTransition):
        returns.return_request_create(
            user=customer, order_number=shipped.order_number, items=[line(shipped, medium, 1)]
        )


def test_a_mixed_return_waits_for_its_refund(customer, bought, shirt):
    small, medium, large = shirt
    ret = approve(
        returns.return_request_create(
            user=customer,
            order_number=bought.order_number,
            items=[line(bought, small, 1, exchange=large), line(bought, medium, 1, "defective")],
        )
    )

    ret = returns.return_receive(ret=ret, actor=None, items=receipt(ret))

    assert ret.status == "received"
    assert ret.replacement_order.items.get().sku_id == large.pk
    assert returns.refund_due(ret) == Decimal("1290.00")


# --------------------------------------------------------------------------- refunds


def received_return(customer, order, *lines):
    ret = approve(
        returns.return_request_create(
            user=customer, order_number=order.order_number, items=list(lines)
        )
    )
    return returns.return_receive(ret=ret, actor=None, items=receipt(ret))


def test_a_cash_refund_defaults_to_the_received_units(customer, bought, shirt):
    small, _, _ = shirt
    ret = received_return(customer, bought, line(bought, small, 2))

    refund = returns.return_refund(ret=ret, actor=None, method="bank_transfer")

    assert (refund.amount, refund.method) == (Decimal("2580.00"), "bank_transfer")
    ret.refresh_from_db()
    assert (ret.status, ret.refunded_amount) == ("refunded", Decimal("2580.00"))
    bought.refresh_from_db()
    assert bought.payment_status == "partially_refunded"


def test_never_a_refund_above_what_was_paid(customer, bought, shirt):
    small, medium, _ = shirt
    first = received_return(customer, bought, line(bought, small, 2))
    returns.return_refund(ret=first, actor=None, amount=Decimal("3000.00"))  # 2 x S + shipping
    second = received_return(customer, bought, line(bought, medium, 1))
    paid = bought.total  # 3 x 1290 + 200 shipping

    with pytest.raises(returns.ApplicationError) as too_much:
        returns.return_refund(ret=second, actor=None, amount=Decimal("1290.00"))

    assert too_much.value.code == "refund_exceeds_paid"
    assert ReturnRequest.objects.get(pk=second.pk).status == "received"
    # The default is capped at what is left; then nothing is left.
    refund = returns.return_refund(ret=second, actor=None)
    assert refund.amount == paid - Decimal("3000.00")
    assert sum(Refund.objects.values_list("amount", flat=True)) == paid
    bought.refresh_from_db()
    assert bought.payment_status == "refunded"


def test_a_parcel_that_never_came_releases_the_hold_and_settles_at_zero(customer, bought, shirt):
    small, medium, _ = shirt
    ret = approve(
        returns.return_request_create(
            user=customer,
            order_number=bought.order_number,
            items=[line(bought, small, 1, exchange=medium), line(bought, medium, 1, "other")],
        )
    )
    assert stock_of(medium) == 8

    ret = returns.return_receive(ret=ret, actor=None, items=receipt(ret, received=0))

    assert (ret.status, ret.replacement_order) == ("received", None)
    assert stock_of(medium) == 9  # the held unit is back; nothing came back to restock
    assert stock_of(small) == 8
    with pytest.raises(returns.NotRefundable):
        returns.return_refund(ret=ret, actor=None)
    assert returns.return_refund(ret=ret, actor=None, amount=Decimal("0.00")) is None
    ret.refresh_from_db()
    assert (ret.status, ret.refunded_amount) == ("refunded", Decimal("0.00"))
    assert Refund.objects.count() == 0


def test_an_exchange_settles_a_return_whose_refund_lines_never_came(customer, bought, shirt):
    small, medium, large = shirt
    ret = approve(
        returns.return_request_create(
            user=customer,
            order_number=bought.order_number,
            items=[line(bought, small, 1, exchange=large), line(bought, medium, 1, "defective")],
        )
    )
    counts = [
        {"id": item.pk, "received_quantity": 1 if item.exchange_sku_id else 0}
        for item in ret.items.all()
    ]

    ret = returns.return_receive(ret=ret, actor=None, items=counts)

    assert ret.status == "exchanged"
    assert stock_of(medium) == 9  # nothing came back of it


def test_a_fully_refunded_order_has_nothing_left_for_its_return(customer, bought, shirt):
    small, _, _ = shirt
    ret = received_return(customer, bought, line(bought, small, 1))
    payment_refund(order=bought, amount=None, reason="goodwill", method="cash", actor=None)

    with pytest.raises(returns.NotRefundable):
        returns.return_refund(ret=ret, actor=None)
    with pytest.raises(returns.NotRefundable):
        returns.return_refund(ret=ret, actor=None, amount=Decimal("1.00"))
    assert ReturnRequest.objects.get().status == "received"

    returns.return_refund(ret=ret, actor=None, amount=Decimal("0"), reason="refunded already")

    assert ReturnRequest.objects.get().status == "refunded"


def test_a_card_return_is_refunded_at_stripe(fake_stripe, us_customer, api_client):
    client = authenticate(api_client, us_customer)
    order, payment, sku = placed(client, us_customer, price="120.00", quantity=2, stock=5)
    authorize(client, fake_stripe, payment)
    for status in ("confirmed", "processing", "shipped", "delivered"):
        order = order_transition(order=order, to_status=status, actor=None, by_manager=True)
    ret = received_return(us_customer, order, line(order, sku, 1, "not_as_pictured"))

    refund = returns.return_refund(ret=ret, actor=None)

    assert (refund.amount, refund.method, refund.status) == (Decimal("120.00"), "card",
                                                              "succeeded")  # fmt: skip
    assert fake_stripe.refunded(payment.provider_ref) == 12000
    order.refresh_from_db()
    assert order.payment_status == "partially_refunded"
    with pytest.raises(returns.ApplicationError):
        returns.return_refund(ret=ret, actor=None, method="cash")  # refunded already: 409
    assert fake_stripe.refunded(payment.provider_ref) == 12000


def test_the_order_says_until_when_it_can_be_returned(customer_client, bought, settings):
    settings.RETURN_WINDOW_DAYS = {"KG": 14, "US": 30}
    body = customer_client.get(f"/api/v1/orders/{bought.order_number}/").json()

    until = bought.delivered_at + timedelta(days=14)
    assert body["returnable_until"] == until.isoformat().replace("+00:00", "Z")
    assert body["is_replacement"] is False


def test_a_refund_stripe_declines_leaves_the_return_received(fake_stripe, us_customer, api_client):
    client = authenticate(api_client, us_customer)
    order, payment, sku = placed(client, us_customer, price="50.00", quantity=1, stock=5)
    authorize(client, fake_stripe, payment)
    for status in ("confirmed", "processing", "shipped", "delivered"):
        order = order_transition(order=order, to_status=status, actor=None, by_manager=True)
    ret = received_return(us_customer, order, line(order, sku, 1, "defective"))
    fake_stripe.fail_next("POST", "/v1/refunds", "card_declined")

    with pytest.raises(returns.ApplicationError) as refused:
        returns.return_refund(ret=ret, actor=None)

    assert refused.value.status_code == 409
    ret.refresh_from_db()
    assert (ret.status, ret.refunded_amount) == ("received", Decimal("0.00"))
    assert Refund.objects.count() == 0
    assert fake_stripe.refunded(payment.provider_ref) == 0


def test_a_refused_request_leaves_no_photo_behind(customer, customer_client):
    small, medium, _ = sizes(stocks=(10, 0, 10))
    order = delivered_order(customer, (small, 1))
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "blue").save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "p.png"
    body = {
        "order_number": order.order_number,
        "items": json.dumps([line(order, small, 1, exchange=medium)]),
        "images": [buffer],
    }

    def stored():
        if not default_storage.exists("returns"):
            return set()
        return set(default_storage.listdir("returns")[1])

    before = stored()

    response = customer_client.post(RETURNS, body, format="multipart")

    assert response.status_code == 409
    assert stored() == before


def test_a_phone_photo_of_several_megabytes_is_taken(customer_client, bought, shirt):
    small, _, _ = shirt
    buffer = io.BytesIO()
    noise = Image.effect_noise((1400, 1000), 90).convert("RGB")
    noise.save(buffer, format="PNG")
    assert 1024 * 1024 < buffer.tell() < 5 * 1024 * 1024
    buffer.seek(0)
    buffer.name = "phone.png"
    body = {
        "order_number": bought.order_number.lower(),
        "items": json.dumps([line(bought, small, 1)]),
        "images": [buffer],
    }

    response = customer_client.post(RETURNS, body, format="multipart")

    assert response.status_code == 201, response.json()
    assert len(response.json()["images"]) == 1


def test_deeply_nested_multipart_items_are_400(customer_client, bought):
    body = {"order_number": bought.order_number, "items": "[" * 5000}

    response = customer_client.post(RETURNS, body, format="multipart")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
