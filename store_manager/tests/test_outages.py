"""Outages played on a private Redis: the broker or the cache stops mid-test.

Each test starts its own `redis-server` on a spare loopback port
(`main.testing.PrivateRedis`) and stops it by its PID; CI's shared Redis and
PostgreSQL are never touched. What a client sees is checked (normal answers,
never a 500), then what the system does once Redis is back (nothing lost).
They live here, in the top app, because they drive every layer: catalogue,
sign-in, checkout, the customer's and the manager's order actions.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from decimal import Decimal

import pytest
from django.conf import settings as conf
from django.db import connections
from django.utils import timezone

from main.testing import PrivateRedis, celery_on_broker, needs_redis_server
from orders.events import ORDER_CREATED, ORDER_STATUS_CHANGED
from orders.models import Order, OrderStatus
from orders.tests.helpers import INLINE_KG, fill_cart, priced_sku
from outbox.models import OutboxMessage
from outbox.services import outbox_relay
from store_manager import analytics
from store_manager.models import RevenueSnapshot
from store_manager.tests.helpers import raw_figures
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    make_manager,
    order_in,
)
from users.models import Notification, VerificationCode
from users.services.auth import otp_hash
from users.tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, needs_redis_server, pytest.mark.slow]

ORDERS = "/api/v1/orders/"
VERIFY = "/api/v1/auth/otp/verify/"
MANAGER_ORDERS = BASE + "orders/"


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


# The order actions below publish 7 order events; each writes one message per subscriber.
ORDER_EVENTS = 7
ORDER_SUBSCRIBERS = {*ORDER_CREATED.subscribers, *ORDER_STATUS_CHANGED.subscribers}
PER_EVENT = len(ORDER_CREATED.subscribers)
assert len(ORDER_STATUS_CHANGED.subscribers) == PER_EVENT
REACTIONS = ORDER_EVENTS * PER_EVENT


def _drain(server: PrivateRedis) -> list[str]:
    """Run every task message waiting in the private broker's queues, queue by queue, in order.

    Stands in for a worker: the message is decoded as a worker would (the task
    name from the headers, arguments from the JSON body) and the task run here.
    """
    from main.celery import app

    client, ran = server.client(), []
    for queue in conf.WORKER_QUEUES:
        while raw := client.rpop(queue):
            message = json.loads(raw)
            args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            headers = message["headers"]
            name = headers["task"]
            app.tasks[name].apply(args=args, kwargs=kwargs, headers=headers).get()
            ran.append(name)
    return ran


def _queued(server: PrivateRedis) -> int:
    """Task messages waiting in the private broker, every queue the worker consumes."""
    client = server.client()
    return sum(client.llen(queue) for queue in conf.WORKER_QUEUES)


def _post(client, path, data=None, capture=None):
    with capture(execute=True):
        return client.post(path, data or {}, format="json")


class OrderActions:
    """Checkout, customer cancel, manager status change, cancel, resume and bulk status."""

    def __init__(self, customer, customer_client, capture) -> None:
        self.customer, self.client, self.capture = customer, customer_client, capture
        self.staff = client_of(make_manager("manager", **ALL_FLAGS))
        self.sku = priced_sku(stock=5)
        self.confirm, self.cancel = order_in("KG"), order_in("KG")
        self.bulk = [order_in("KG"), order_in("KG")]
        self.resume = order_in("KG", status=OrderStatus.CANCELLED, stock=3)
        # What the setup itself announced (a new manager row makes its sockets recheck
        # their access) is not what these tests count: only the order actions' messages.
        OutboxMessage.objects.all().delete()

    def run(self) -> list:
        fill_cart(self.customer, (self.sku, 2))
        placed = _post(
            self.client,
            ORDERS,
            {"address": INLINE_KG, "payment_method": "cash_on_delivery"},
            self.capture,
        )
        self.number = placed.json().get("order_number")
        staff, capture = self.staff, self.capture
        return [
            placed,
            _post(self.client, f"{ORDERS}{self.number}/cancel/", {"reason": "changed"}, capture),
            _post(
                staff,
                f"{MANAGER_ORDERS}{self.confirm.order_number}/status/",
                {"status": "confirmed"},
                capture,
            ),
            _post(
                staff,
                f"{MANAGER_ORDERS}{self.cancel.order_number}/cancel/",
                {"reason": "fraud"},
                capture,
            ),
            _post(staff, f"{MANAGER_ORDERS}{self.resume.order_number}/resume/", {}, capture),
            _post(
                staff,
                f"{MANAGER_ORDERS}bulk-status/",
                {"order_numbers": [o.order_number for o in self.bulk], "status": "confirmed"},
                capture,
            ),
        ]

    def assert_committed_once(self) -> None:
        assert Order.objects.filter(user=self.customer).count() == 1
        self.sku.refresh_from_db()
        assert self.sku.stock == 5  # taken by the checkout, given back by the cancel
        statuses = dict(Order.objects.values_list("order_number", "status"))
        assert statuses[self.number] == statuses[self.cancel.order_number] == "cancelled"
        assert statuses[self.confirm.order_number] == OrderStatus.CONFIRMED
        assert statuses[self.resume.order_number] == OrderStatus.PENDING
        assert {statuses[o.order_number] for o in self.bulk} == {OrderStatus.CONFIRMED}


def test_broker_outage_every_order_action_answers_normally_and_nothing_is_lost(
    private_redis, customer, customer_client, django_capture_on_commit_callbacks, settings
):
    actions = OrderActions(customer, customer_client, django_capture_on_commit_callbacks)

    with celery_on_broker(private_redis.url):
        private_redis.stop()  # the broker goes down
        answers = actions.run()
        assert [a.status_code for a in answers] == [201, 200, 200, 200, 200, 200], [
            a.content for a in answers
        ]
        actions.assert_committed_once()

        # Seven events, a message per subscriber each, all waiting for the broker.
        waiting = OutboxMessage.objects.filter(sent_at__isnull=True)
        assert waiting.count() == REACTIONS
        assert not Notification.objects.filter(user=customer).exists()

        # The broker comes back (empty, like a restarted Redis without persistence).
        private_redis.start()
        settings.OUTBOX_RELAY_GRACE_SECONDS = 0
        assert outbox_relay() == REACTIONS
        assert not waiting.exists()
        assert _queued(private_redis) == REACTIONS

        # …and goes down again before a worker took them: the queue is lost.
        private_redis.stop()
        private_redis.start()
        assert _queued(private_redis) == 0
        assert outbox_relay() == 0  # they may still be running somewhere: not yet
        OutboxMessage.objects.update(
            sent_at=timezone.now()
            - timezone.timedelta(seconds=settings.OUTBOX_REDELIVER_AFTER_SECONDS + 1)
        )
        assert outbox_relay() == REACTIONS  # not done after the redelivery delay: sent again

    relayed = set(OutboxMessage.objects.values_list("pk", flat=True))
    ran = _drain(private_redis)
    assert len([name for name in ran if name in ORDER_SUBSCRIBERS]) == REACTIONS
    # Each marked done by its header. (The notifications they wrote announce themselves
    # in turn: those new messages wait for their own after-commit send.)
    assert not OutboxMessage.objects.filter(pk__in=relayed, completed_at__isnull=True).exists()
    assert ran.count("store_manager.tasks.recompute_order_periods") == 7
    # 0 lost notifications: the customer heard of the order and of its cancellation.
    assert Notification.objects.filter(user=customer).count() == 2
    # 0 stale snapshots: today's KG figures equal the raw orders, with no nightly run.
    today = analytics.period_bounds("KG", "daily", timezone.now())
    snapshot = RevenueSnapshot.objects.get(market="KG", period="daily", period_start=today.start)
    expected = raw_figures("KG", today.start, today.end)
    assert snapshot.revenue == expected["revenue"] > Decimal("0")
    assert (snapshot.orders_count, snapshot.cancelled_count) == (
        expected["orders_count"],
        expected["cancelled_count"],
    )


def _cache_on(settings, server: PrivateRedis) -> None:
    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.5},
        }
    }


def test_redis_outage_as_cache_and_broker_every_order_action_answers_normally(
    private_redis, settings, customer, customer_client, django_capture_on_commit_callbacks
):
    """Production runs the cache and the broker on one Redis: both go down together."""
    _cache_on(settings, private_redis)
    actions = OrderActions(customer, customer_client, django_capture_on_commit_callbacks)
    with celery_on_broker(private_redis.url):
        private_redis.stop()
        answers = actions.run()
        assert [a.status_code for a in answers] == [201, 200, 200, 200, 200, 200], [
            a.content for a in answers
        ]
        actions.assert_committed_once()
        # Every reaction waits in the outbox (a message per event and subscriber); none is lost.
        assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == REACTIONS


def test_cache_outage_slows_the_store_but_breaks_nothing(
    private_redis,
    settings,
    api_client,
    customer,
    customer_client,
    django_capture_on_commit_callbacks,
):
    _cache_on(settings, private_redis)
    sku = priced_sku(stock=6)
    product = sku.product
    listing = api_client.get("/api/v1/products/", HTTP_X_MARKET="KG")
    assert listing.status_code == 200  # cached while Redis is up
    assert private_redis.client().dbsize() > 0

    private_redis.stop()
    # Browsing answers from the database.
    for path in (
        "/api/v1/products/",
        f"/api/v1/products/{product.slug}/",
        "/api/v1/categories/",
        "/api/v1/banners/",
    ):
        response = api_client.get(path, HTTP_X_MARKET="KG")
        assert response.status_code == 200, (path, response.content)
    assert api_client.get("/api/v1/products/", HTTP_X_MARKET="KG").json() == listing.json()

    # A code cannot be sent: its limits live in Redis. 503 with Retry-After, nothing sent.
    request = api_client.post(
        "/api/v1/auth/otp/request/", {"phone": "+996700555001"}, format="json"
    )
    assert request.status_code == 503
    assert request.json()["code"] == "service_unavailable"
    assert int(request["Retry-After"]) > 0
    assert not VerificationCode.objects.filter(phone="+996700555001").exists()

    # A code already sent can still be used: verify works from the database.
    VerificationCode.objects.create(
        phone="+996700555002",
        code_hash=otp_hash(phone="+996700555002", code="123456"),
        expires_at=timezone.now() + timezone.timedelta(minutes=5),
    )
    verify = api_client.post(
        "/api/v1/auth/otp/verify/", {"phone": "+996700555002", "code": "123456"}, format="json"
    )
    assert verify.status_code == 200, verify.content
    assert verify.json()["access"]
    wrong = api_client.post(
        "/api/v1/auth/otp/verify/", {"phone": "+996700555002", "code": "000000"}, format="json"
    )
    assert wrong.status_code == 400  # a wrong code is still refused

    # A checkout that makes a SKU low on stock (a cache invalidation) still answers 201.
    fill_cart(customer, (sku, 2))
    with django_capture_on_commit_callbacks(execute=True):
        placed = customer_client.post(
            ORDERS, {"address": INLINE_KG, "payment_method": "cash_on_delivery"}, format="json"
        )
    assert placed.status_code == 201, placed.content
    sku.refresh_from_db()
    assert sku.stock == 4

    # The probe says what is down.
    ready = api_client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unavailable"}

    # Redis is back: the cache is used again.
    private_redis.start()
    assert api_client.get("/api/v1/products/", HTTP_X_MARKET="KG").status_code == 200
    assert private_redis.client().dbsize() > 0
    assert api_client.get("/readyz").status_code == 200


def test_cache_outage_phone_change_fails_closed_and_token_refresh_stays_open(
    private_redis, settings, api_client
):
    from users import sms

    _cache_on(settings, private_redis)
    user = UserFactory(phone="+996700555003")
    client = client_of(user)
    private_redis.stop()

    # Which account asked for a new number is kept in the cache: without it, 503.
    for path, body in (
        ("/api/v1/users/me/phone/", {"phone": "+996700555004"}),
        ("/api/v1/users/me/phone/confirm/", {"phone": "+996700555004", "code": "123456"}),
    ):
        response = client.post(path, body, format="json")
        assert response.status_code == 503, (path, response.content)
        assert response.json()["code"] == "service_unavailable"
        assert response["Retry-After"]
    assert sms.outbox == []
    user.refresh_from_db()
    assert user.phone == "+996700555003"

    # Token refresh rides the fail-open `auth` throttle: a bad token is still a 401.
    refresh = api_client.post("/api/v1/auth/token/refresh/", {"refresh": "nope"}, format="json")
    assert refresh.status_code == 401
    assert refresh.json()["code"] == "token_invalid"


def test_cache_outage_a_phone_locked_by_its_failures_stays_locked_from_the_database(
    private_redis, settings, api_client
):
    """The lock lives in Redis; without it, the failures in the database decide, honestly timed."""
    _cache_on(settings, private_redis)
    phone = "+996700555009"
    now = timezone.now()
    for hours_ago, attempts in ((20, 4), (10, 4), (1, 2)):  # 10 wrong codes in 24 h
        VerificationCode.objects.create(
            phone=phone,
            code_hash=otp_hash(phone=phone, code="111111"),
            expires_at=now - timezone.timedelta(hours=hours_ago) + timezone.timedelta(minutes=5),
            attempts=attempts,
        )
        VerificationCode.objects.filter(phone=phone, created_at__gt=now).update(
            created_at=now - timezone.timedelta(hours=hours_ago)
        )
    private_redis.stop()
    response = api_client.post(VERIFY, {"phone": phone, "code": "111111"}, format="json")
    assert response.status_code == 429
    # Under the limit once the 20-hour-old failures leave the window: in about 4 hours.
    assert 4 * 3600 - 60 <= int(response["Retry-After"]) <= 4 * 3600


@pytest.fixture
def silent_broker():
    """A TCP server that accepts connections and never answers (a paused or cut-off Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_never_answers_cannot_hold_a_placed_order(
    silent_broker, customer, customer_client
):
    """Without socket timeouts the after-commit publish would block the request for good."""
    fill_cart(customer, (priced_sku(stock=5), 1))
    answers: list = []

    def place() -> None:
        answers.append(
            customer_client.post(
                ORDERS, {"address": INLINE_KG, "payment_method": "cash_on_delivery"}, format="json"
            )
        )
        connections.close_all()

    with celery_on_broker(silent_broker):
        worker = threading.Thread(target=place, daemon=True)
        worker.start()
        worker.join(timeout=120)  # a liveness bound, not a speed claim
        assert not worker.is_alive(), "the checkout is still waiting on the silent broker"
    assert answers[0].status_code == 201
    waiting = OutboxMessage.objects.filter(sent_at__isnull=True)
    # The first publish failed; the rest were left to the relay.
    assert waiting.count() == PER_EVENT
    assert waiting.filter(attempts=1).count() == 1
