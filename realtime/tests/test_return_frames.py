"""`return.status_changed` frames on the real ASGI application (SPEC §9, §10).

The customer whose return moved and the managers of the return's market (active
market, `can_view_orders`) hear each step; nobody else does.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from orders.models import ReturnStatusHistory
from orders.services import returns
from orders.tests.returns_support import delivered_order, line, sizes
from realtime.tests.support import frames, of_type, run, socket_of
from store_manager.tests.manager_api_support import customer_of, make_manager

pytestmark = pytest.mark.django_db(transaction=True)


def bought_in(market: str):
    """A customer of `market`, its delivered order of two units of one size, a return line."""
    customer = customer_of(market)
    small, _, _ = sizes(market=market, price="1290.00" if market == "KG" else "40.00")
    order = delivered_order(customer, (small, 2))
    return customer, order, line(order, small, 1)


def test_the_customer_and_the_markets_managers_hear_every_step_of_a_return():
    customer, order, one = bought_in("KG")
    stranger = customer_of("KG")
    with_money = make_manager(market="KG", can_view_orders=True, can_view_revenue=True)
    orders_only = make_manager("viewer", market="KG", can_view_orders=True)
    blind = make_manager(market="KG", can_view_orders=False)
    us_manager = make_manager(market="US", can_view_orders=True, can_view_revenue=True)
    admin_on_us = make_manager("admin", market="US")  # may manage KG, but watches US

    async def scenario():
        sockets = {
            who: await socket_of(getattr(who, "user", who))
            for who in (customer, stranger, with_money, orders_only, blind, us_manager, admin_on_us)
        }
        ret = await sync_to_async(returns.return_request_create)(
            user=customer, order_number=order.order_number, items=[one]
        )
        await sync_to_async(returns.return_transition)(ret=ret, to_status="approved", actor=None)
        history = await sync_to_async(
            lambda: list(
                ReturnStatusHistory.objects.filter(return_request=ret).values_list("pk", flat=True)
            )
        )()

        expected = [
            {"return_number": ret.return_number, "order_number": order.order_number,
             "status": status}
            for status in ("requested", "approved")
        ]  # fmt: skip
        for who in (customer, with_money, orders_only):
            heard = of_type(await frames(sockets[who]), "return.status_changed")
            assert [frame["data"] for frame in heard] == expected, who
            assert [frame["id"] for frame in heard] == [
                f"return.status_changed:{pk}" for pk in history
            ]
        for who in (stranger, blind, us_manager, admin_on_us):
            assert of_type(await frames(sockets[who]), "return.status_changed") == [], who

    run(scenario)


def test_the_customer_also_gets_the_notification_of_each_step():
    customer, order, one = bought_in("US")

    async def scenario():
        socket = await socket_of(customer)
        ret = await sync_to_async(returns.return_request_create)(
            user=customer, order_number=order.order_number, items=[one]
        )
        received = await frames(socket)
        [notice] = of_type(received, "notification.created")
        assert notice["data"]["type"] == "return"
        assert ret.return_number in notice["data"]["title"]
        assert [f["data"]["status"] for f in of_type(received, "return.status_changed")] == [
            "requested"
        ]

    run(scenario)


def test_a_us_return_reaches_us_managers_only():
    customer, order, one = bought_in("US")
    kg = make_manager(market="KG", can_view_orders=True)
    us = make_manager(market="US", can_view_orders=True)

    async def scenario():
        kg_socket, us_socket = await socket_of(kg.user), await socket_of(us.user)
        await sync_to_async(returns.return_request_create)(
            user=customer, order_number=order.order_number, items=[one]
        )
        [heard] = of_type(await frames(us_socket), "return.status_changed")
        assert heard["data"]["status"] == "requested"
        assert of_type(await frames(kg_socket), "return.status_changed") == []

    run(scenario)
