"""The events socket on the real ASGI application: tickets, scoping, permissions, access changes.

Each test is a user's view of SPEC §9: what a socket receives after a change
made the way the product makes it (checkout, the status service, the manager
API), and what it must never receive.
"""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError

from main.markets import Market
from orders.models import OrderStatus
from orders.services.transitions import order_transition
from orders.tests.helpers import checkout, fill_cart, priced_sku
from realtime import services
from realtime.groups import user_group
from realtime.tests.support import (
    close_code,
    frames,
    of_type,
    open_socket,
    run,
    settled,
    socket_of,
    ticket_for,
    types,
)
from store_manager.tests.manager_api_support import client_of, customer_of, make_manager
from users.services.accounts import notify_user

pytestmark = pytest.mark.django_db(transaction=True)


def place_order(user, *, stock: int = 20, quantity: int = 1):
    sku = priced_sku(
        market=user.market, stock=stock, price="1290.00" if user.market == "KG" else "40.00"
    )
    fill_cart(user, (sku, quantity))
    return checkout(user).order


# --- Tickets --------------------------------------------------------------------------------


def test_ticket_is_created_for_a_signed_in_user_only(api_client):
    assert api_client.post("/api/v1/realtime/ticket/").status_code == 401
    user = customer_of("KG")
    response = client_of(user).post("/api/v1/realtime/ticket/")
    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == 30
    assert len(body["ticket"]) >= 40


def test_a_ticket_opens_one_socket_only():
    user = customer_of("KG")
    ticket = ticket_for(user)

    async def scenario():
        first = await open_socket(ticket)
        await first.send_to(text_data='{"type": "ping"}')
        assert await first.receive_json_from(timeout=3) == {"type": "pong"}
        second = await open_socket(ticket)
        assert await close_code(second) == 4401
        await first.disconnect()

    run(scenario)


@pytest.mark.parametrize("query", [None, "", "not-a-ticket", "x" * 500])
def test_a_missing_or_unknown_ticket_closes_with_4401(query):
    async def scenario():
        socket = await open_socket(query)
        assert await close_code(socket) == 4401

    run(scenario)


def test_an_expired_ticket_closes_with_4401(monkeypatch):
    monkeypatch.setattr(services, "TICKET_SECONDS", 1)
    ticket = ticket_for(customer_of("KG"))
    time.sleep(1.2)

    async def scenario():
        assert await close_code(await open_socket(ticket)) == 4401

    run(scenario)


def test_a_ticket_of_a_deactivated_account_closes_with_4403():
    user = customer_of("KG")
    ticket = ticket_for(user)
    user.is_active = False
    user.save()

    async def scenario():
        assert await close_code(await open_socket(ticket)) == 4403

    run(scenario)


def test_the_cache_keeps_only_a_digest_of_the_ticket():
    from django.core.cache import cache

    ticket = ticket_for(customer_of("KG"))
    assert cache.get(f"realtime:ticket:{ticket}") is None


# --- The socket protocol --------------------------------------------------------------------


def test_ping_pong_and_what_else_a_client_may_send():
    user = customer_of("KG")

    async def scenario():
        socket = await socket_of(user)
        await socket.send_to(text_data='{"type": "subscribe"}')
        error = await socket.receive_json_from(timeout=3)
        assert error["type"] == "error" and error["code"] == "unknown_message"
        await socket.send_to(text_data="not json")
        assert (await socket.receive_json_from(timeout=3))["code"] == "unknown_message"
        await socket.send_to(text_data='{"type": "ping"}')
        assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
        await socket.send_to(text_data=" " * 2000)
        assert await close_code(socket) == 1009

        binary = await socket_of(user)
        await binary.send_to(bytes_data=b"\x00\x01")
        assert await close_code(binary) == 1003

    run(scenario)


def test_another_websocket_path_closes_with_4404():
    async def scenario():
        assert await close_code(await open_socket(None, path="/ws/v1/other/")) == 4404

    run(scenario)


def test_a_client_flooding_the_socket_is_closed_with_1008(settings):
    settings.REALTIME_CLIENT_FRAMES_PER_10S = 5
    user = customer_of("KG")

    async def scenario():
        socket = await socket_of(user)  # one ping so far
        for _ in range(4):
            await socket.send_to(text_data='{"type": "ping"}')
            assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
        await socket.send_to(text_data='{"type": "ping"}')
        assert await close_code(socket) == 1008

    run(scenario)


def test_a_socket_closes_with_4401_when_its_lifetime_is_up(settings):
    settings.REALTIME_SOCKET_MAX_SECONDS = 1
    user = customer_of("KG")

    async def scenario():
        socket = await socket_of(user)
        assert await close_code(socket, timeout=5) == 4401  # take a new ticket

    run(scenario)


def test_a_socket_rechecks_its_access_by_itself(settings):
    """Even a change that sent no recheck (a bulk UPDATE, a lost message) is caught."""
    from store_manager.models import StoreManager

    settings.REALTIME_RECHECK_SECONDS = 1
    manager = make_manager(market="KG", can_view_orders=True)

    async def scenario():
        socket = await socket_of(manager.user)
        await sync_to_async(StoreManager.objects.filter(pk=manager.pk).update)(is_active=False)
        assert await close_code(socket, timeout=5) == 4403

    run(scenario)


# --- Customers ------------------------------------------------------------------------------


def test_a_customer_hears_its_own_order_and_notifications_and_nobody_elses():
    alice, bob = customer_of("KG"), customer_of("KG")

    async def scenario():
        alice_socket, bob_socket = await socket_of(alice), await socket_of(bob)
        order = await sync_to_async(place_order)(alice)
        await sync_to_async(order_transition)(
            order=order, to_status=OrderStatus.CONFIRMED, actor=None
        )

        received = await frames(alice_socket)
        created = of_type(received, "notification.created")
        assert created and set(created[0]["data"]) == {"id", "type", "title"}
        assert order.order_number in created[0]["data"]["title"]
        changed = of_type(received, "order.status_changed")
        assert [frame["data"] for frame in changed] == [
            {
                "order_number": order.order_number,
                "status": "confirmed",
                "payment_status": "unpaid",
            }
        ]
        frame = changed[0]
        assert frame["id"].startswith("order.status_changed:") and frame["at"].endswith("Z")
        # Customers never hear manager events, and Bob hears nothing of Alice.
        assert "order.created" not in types(received)
        assert await frames(bob_socket) == []

    run(scenario)


def test_a_notification_reaches_every_open_socket_of_its_user():
    user = customer_of("US")

    async def scenario():
        phone, laptop = await socket_of(user), await socket_of(user)
        notification = await sync_to_async(notify_user)(user=user, title="Sale starts now")
        for socket in (phone, laptop):
            [frame] = await frames(socket)
            assert frame["type"] == "notification.created"
            assert frame["data"] == {
                "id": notification.pk,
                "type": "system",
                "title": "Sale starts now",
            }
            assert frame["id"] == f"notification.created:{notification.pk}"

    run(scenario)


# --- Managers -------------------------------------------------------------------------------


def test_managers_hear_new_orders_of_their_active_market_only_with_money_by_permission():
    kg_revenue = make_manager(market="KG", can_view_orders=True, can_view_revenue=True)
    kg_orders = make_manager("viewer", market="KG", can_view_orders=True)
    kg_blind = make_manager(market="KG", can_view_orders=False, can_view_revenue=True)
    us_manager = make_manager(market="US", can_view_orders=True, can_view_revenue=True)
    buyer = customer_of("KG")

    async def scenario():
        sockets = {
            m: await socket_of(m.user) for m in (kg_revenue, kg_orders, kg_blind, us_manager)
        }
        order = await sync_to_async(place_order)(buyer)

        with_money = of_type(await frames(sockets[kg_revenue]), "order.created")
        assert [frame["data"] for frame in with_money] == [
            {
                "order_number": order.order_number,
                "status": "pending",
                "currency": "KGS",
                "total": str(order.total),
            }
        ]
        without = of_type(await frames(sockets[kg_orders]), "order.created")
        assert [frame["data"] for frame in without] == [
            {"order_number": order.order_number, "status": "pending", "currency": "KGS"}
        ]
        assert await frames(sockets[kg_blind]) == []  # no can_view_orders: no manager events
        assert await frames(sockets[us_manager]) == []  # another market

    run(scenario)


def test_managers_hear_status_changes_and_cancellations_with_money_by_permission():
    revenue = make_manager(market="US", can_view_orders=True, can_view_revenue=True)
    plain = make_manager(market="US", can_view_orders=True)
    order = place_order(customer_of("US"))

    async def scenario():
        with_money, without = await socket_of(revenue.user), await socket_of(plain.user)
        await sync_to_async(order_transition)(
            order=order, to_status=OrderStatus.CANCELLED, actor=None, note="customer called"
        )
        for socket, money in ((with_money, True), (without, False)):
            received = await frames(socket)
            [changed] = of_type(received, "order.status_changed")
            assert changed["data"] == {
                "order_number": order.order_number,
                "status": "cancelled",
                "from_status": "pending",
                "payment_status": "unpaid",  # cash on delivery: nothing was taken
            }
            [cancelled] = of_type(received, "order.cancelled")
            assert ("total" in cancelled["data"]) is money
            assert all("total" not in f["data"] for f in received if f["type"] != "order.cancelled")

    run(scenario)


def test_a_manager_notification_reaches_its_manager_on_its_market():
    from store_manager.models import ManagerNotification, ManagerSettings

    kg = make_manager(market="KG", can_view_orders=True)
    opted_out = make_manager(market="KG", can_view_orders=True, can_view_revenue=True)
    ManagerSettings.objects.create(manager=opted_out, notify_new_orders=False)
    admin_on_us = make_manager("admin", market="US")  # admin manages both; active US

    async def scenario():
        sockets = [await socket_of(m.user) for m in (kg, opted_out, admin_on_us)]
        await sync_to_async(lambda: place_order(customer_of("KG")))()
        kg_frames, opted_out_frames, admin_frames = [await frames(s) for s in sockets]
        [notice] = of_type(kg_frames, "manager_notification.created")
        mine = await sync_to_async(ManagerNotification.objects.get)(manager=kg)
        assert notice["data"] == {
            "id": mine.pk,
            "type": "new_order",
            "title": mine.title,
            "priority": "normal",
        }
        # Same market and group, but not addressed: the order, not the notification.
        assert types(opted_out_frames) == ["order.created"]
        # The admin was notified too (in the database), but its socket watches US.
        assert admin_frames == []

    run(scenario)


def test_stock_falling_to_the_threshold_is_announced_once_to_managers_who_sell_it(settings):
    settings.LOW_STOCK_THRESHOLD = 5
    kg = make_manager(market="KG", can_view_orders=True)
    us = make_manager(market="US", can_view_orders=True)
    buyer = customer_of("KG")
    sku = priced_sku(market="KG", stock=7, product_market="KG")

    async def scenario():
        kg_socket, us_socket = await socket_of(kg.user), await socket_of(us.user)

        def buy(quantity):
            fill_cart(buyer, (sku, quantity))
            return checkout(buyer)

        await sync_to_async(buy)(1)  # 7 → 6: still above the threshold
        assert of_type(await frames(kg_socket), "stock.low") == []
        await sync_to_async(buy)(2)  # 6 → 4: crossed
        [low] = of_type(await frames(kg_socket), "stock.low")
        assert low["data"] == {
            "sku_code": sku.code,
            "product_slug": sku.product.slug,
            "stock": 4,
            "low_stock": True,
        }
        await sync_to_async(buy)(1)  # 4 → 3: already low, nothing new
        assert of_type(await frames(kg_socket), "stock.low") == []
        assert of_type(await frames(us_socket), "stock.low") == []  # a KG-only product

    run(scenario)


def test_a_new_daily_report_is_announced_to_the_markets_managers():
    from datetime import date

    from store_manager.services.reports import daily_report_build

    kg = make_manager(market="KG", can_view_orders=True)
    us = make_manager(market="US", can_view_orders=True)

    async def scenario():
        kg_socket, us_socket = await socket_of(kg.user), await socket_of(us.user)
        await sync_to_async(daily_report_build)(market="KG", report_date=date(2026, 11, 24))
        [ready] = of_type(await frames(kg_socket), "report.ready")
        assert ready["data"] == {"date": "2026-11-24"}
        assert await frames(us_socket) == []
        # Built again: nothing new to announce.
        await sync_to_async(daily_report_build)(market="KG", report_date=date(2026, 11, 24))
        assert of_type(await frames(kg_socket), "report.ready") == []

    run(scenario)


# --- Access changes -------------------------------------------------------------------------


def test_a_market_switch_moves_open_sockets():
    admin = make_manager("admin", market="KG")
    client = client_of(admin)

    async def scenario():
        socket = await socket_of(admin.user)
        response = await sync_to_async(client.patch)(
            "/api/v1/manager/me/", {"active_market": "US"}, format="json"
        )
        assert response.status_code == 200, response.content
        await settled(socket)
        kg_order = await sync_to_async(lambda: place_order(customer_of("KG")))()
        us_order = await sync_to_async(lambda: place_order(customer_of("US")))()
        heard = [f["data"]["order_number"] for f in of_type(await frames(socket), "order.created")]
        assert heard == [us_order.order_number]
        assert kg_order.order_number not in heard

    run(scenario)


def test_losing_revenue_permission_takes_money_off_open_sockets():
    manager = make_manager(market="KG", can_view_orders=True, can_view_revenue=True)

    async def scenario():
        socket = await socket_of(manager.user)

        def revoke():
            manager.can_view_revenue = False
            manager.save()

        await sync_to_async(revoke)()
        await settled(socket)
        await sync_to_async(lambda: place_order(customer_of("KG")))()
        [created] = of_type(await frames(socket), "order.created")
        assert "total" not in created["data"]

    run(scenario)


@pytest.mark.parametrize("what", ["manager", "account"])
def test_deactivation_closes_open_sockets_with_4403(what):
    manager = make_manager(market="KG", can_view_orders=True)

    async def scenario():
        socket = await socket_of(manager.user)
        row = manager if what == "manager" else manager.user

        def deactivate():
            row.is_active = False
            row.save()

        await sync_to_async(deactivate)()
        assert await close_code(socket) == 4403

    run(scenario)


def test_a_customer_socket_stays_open_when_an_unrelated_manager_changes():
    user = customer_of("KG")
    manager = make_manager(market="KG", can_view_orders=True)

    async def scenario():
        socket = await socket_of(user)

        def deactivate():
            manager.is_active = False
            manager.save()

        await sync_to_async(deactivate)()
        await socket.send_to(text_data='{"type": "ping"}')
        assert await socket.receive_json_from(timeout=3) == {"type": "pong"}

    run(scenario)


# --- Robustness -----------------------------------------------------------------------------


class _DeadLayer:
    async def group_send(self, group, message):
        raise ConnectionError("Redis is down")


def test_checkout_succeeds_when_the_channel_layer_is_down(monkeypatch, caplog):
    monkeypatch.setattr(services, "get_channel_layer", lambda: _DeadLayer())
    buyer = customer_of("KG")
    make_manager(market="KG", can_view_orders=True)
    with caplog.at_level("WARNING", logger="marque.realtime"):
        order = place_order(buyer)
    assert order.pk and order.status == OrderStatus.PENDING
    assert "not published" in caplog.text


def test_an_access_recheck_that_cannot_be_sent_is_sent_again_later(monkeypatch):
    """Frames may be lost; a revocation may not: its outbox message stays due."""
    from outbox.models import OutboxMessage

    manager = make_manager(market="KG", can_view_orders=True)
    monkeypatch.setattr(services, "get_channel_layer", lambda: _DeadLayer())
    manager.can_view_revenue = True
    manager.save()
    message = OutboxMessage.objects.filter(task="realtime.tasks.recheck_sockets").latest("pk")
    assert message.completed_at is None
    assert message.sent_at is None and "Redis is down" in message.last_error


def test_a_manager_row_cannot_be_handed_to_another_user_in_the_admin(rf):
    from django.contrib.admin.sites import site

    from store_manager.models import StoreManager

    admin = site._registry[StoreManager]
    manager = make_manager(market="KG")
    assert "user" in admin.get_readonly_fields(rf.get("/"), manager)
    assert "user" not in admin.get_readonly_fields(rf.get("/"), None)  # chosen when adding


def test_a_channel_layer_lost_under_open_sockets_closes_them_with_1013(monkeypatch, caplog):
    """Redis gone mid-socket: 'try again later', as for a ticket that cannot be read; not
    daphne's 1011 with a traceback (found by the fault drill, ops/faults.py)."""
    user = customer_of("KG")
    layer_class = type(get_channel_layer())
    original, lost = layer_class.receive, []

    async def receive(self, channel):
        if lost:
            raise RedisConnectionError("Connection closed by server.")
        return await original(self, channel)

    monkeypatch.setattr(layer_class, "receive", receive)

    async def scenario():
        socket = await socket_of(user)
        lost.append(True)
        # The next message the consumer takes from the layer ends its wait on it: the
        # consumer then asks the (now lost) layer for the one after.
        await sync_to_async(services.publish)(
            [(user_group(user.id), services.frame("x", key=1, data={}))]
        )
        received = await socket.receive_output(timeout=3)
        if received["type"] == "websocket.send":  # the frame itself, delivered first
            received = await socket.receive_output(timeout=3)
        assert received == {"type": "websocket.close", "code": 1013}

    with caplog.at_level("WARNING", logger="marque.realtime"):
        run(scenario)
    assert "channel layer is unavailable" in caplog.text


def test_publishing_to_an_unreachable_redis_is_logged_not_raised(settings, caplog):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": "redis://127.0.0.1:9/0", "socket_connect_timeout": 1}]
            },
        }
    }
    with caplog.at_level("WARNING", logger="marque.realtime"):
        sent = services.publish([("user.1", services.frame("x", key=1, data={}))])
    assert sent == 0
    assert "not published" in caplog.text


def test_markets_are_the_two_we_sell_in():
    # The manager groups are built per market: a new market needs its groups (groups.py).
    assert set(Market.values) == {"KG", "US"}


def test_only_saves_that_can_change_access_make_sockets_recheck():
    from outbox.models import OutboxMessage

    def rechecks() -> int:
        return OutboxMessage.objects.filter(task="realtime.tasks.recheck_sockets").count()

    user = customer_of("KG")  # a new account has no socket: nothing to recheck
    assert rechecks() == 0
    user.save(update_fields=["last_login"])  # every sign-in: nothing to recheck
    assert rechecks() == 0
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert rechecks() == 1
    make_manager(market="KG")  # a manager row: its user may have a socket open already
    assert rechecks() == 2


def test_a_manager_notification_about_no_market_reaches_the_manager_whatever_its_market():
    from store_manager.models import ManagerNotification

    kg, us = (
        make_manager(market="KG", can_view_orders=True),
        make_manager(market="US", can_view_orders=True),
    )

    async def scenario():
        kg_socket, us_socket = await socket_of(kg.user), await socket_of(us.user)
        await sync_to_async(ManagerNotification.objects.create)(
            manager=us, title="Maintenance at 2am"
        )

        def announce():
            from store_manager.events import manager_notifications_created

            manager_notifications_created(
                list(ManagerNotification.objects.values_list("pk", flat=True))
            )

        await sync_to_async(announce)()
        [notice] = await frames(us_socket)
        assert notice["data"]["title"] == "Maintenance at 2am"
        assert await frames(kg_socket) == []  # addressed to the US manager only

    run(scenario)
