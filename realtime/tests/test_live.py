"""End to end over real sockets, as production runs: gunicorn, two daphne processes, a Celery
worker and one Redis.

An order placed through the gunicorn process must reach manager sockets held by
either daphne process (the channels-redis layer fans it out), through the
outbox, the broker and the worker. A ticket taken on one process is spent for
all. A client that stops reading never holds back another. Skipped without
REDIS_URL or PostgreSQL (the processes need a database they can share).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import requests
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from orders.tests.helpers import INLINE_KG, fill_cart, priced_sku
from store_manager.tests.manager_api_support import customer_of, make_manager

pytestmark = [
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: a real channel layer"),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the server processes share the test database: PostgreSQL only",
    ),
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
]

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
WAIT = 20  # seconds for a frame through outbox → broker → worker → Redis → daphne


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _redis_url() -> str:
    """This test process's own Redis database (each xdist worker has one)."""
    return settings.CACHES["default"]["LOCATION"]


class Topology:
    def __init__(self) -> None:
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "main.settings.local",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": _redis_url(),
            "SECRET_KEY": settings.SECRET_KEY,  # the test's JWTs verify on the servers
            "CONN_MAX_AGE": "0",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
        self.web = _free_port()
        self.asgi = [_free_port(), _free_port()]
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        commands = [
            [BIN / "gunicorn", "main.wsgi:application", "-b", f"127.0.0.1:{self.web}", "-w", "1"],
            *(
                [BIN / "daphne", "-b", "127.0.0.1", "-p", str(port), "main.asgi:application"]
                for port in self.asgi
            ),
            [
                BIN / "celery",
                *("-A", "main", "worker", "--pool=solo", "--loglevel=WARNING"),
                f"--queues={','.join(settings.WORKER_QUEUES)}",
            ],
        ]
        for command in commands:
            self.processes.append(
                subprocess.Popen(
                    [str(part) for part in command],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 60
        for port in (self.web, *self.asgi):
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, f"nothing answers on port {port}"
                assert all(p.poll() is None for p in self.processes), "a server process died"
                time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:  # only the processes this test started, by PID
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def http(self, method: str, path: str, user, **kwargs) -> requests.Response:
        token = RefreshToken.for_user(user).access_token
        return requests.request(
            method,
            f"http://127.0.0.1:{self.web}{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            **kwargs,
        )

    def ticket(self, user) -> str:
        response = self.http("POST", "/api/v1/realtime/ticket/", user)
        assert response.status_code == 201, response.text
        return response.json()["ticket"]

    def socket_url(self, ticket: str, process: int) -> str:
        return f"ws://127.0.0.1:{self.asgi[process]}/ws/v1/events/?ticket={ticket}"


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker):
    topology = Topology()
    topology.start()
    yield topology
    topology.stop()


async def _ready(ws) -> None:
    await ws.send('{"type": "ping"}')
    assert orjson.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}


async def _first(ws, type: str, timeout: float = WAIT) -> dict:
    """The first frame of `type` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if frame["type"] == type:
            return frame


async def _nothing_of(ws, type: str, wait: float) -> bool:
    try:
        await _first(ws, type, timeout=wait)
    except TimeoutError:
        return True
    return False


def test_an_order_placed_through_gunicorn_reaches_sockets_on_both_asgi_processes(servers):
    first = make_manager(market="KG", can_view_orders=True, can_view_revenue=True)
    second = make_manager(market="KG", can_view_orders=True)
    elsewhere = make_manager(market="US", can_view_orders=True, can_view_revenue=True)
    buyer = customer_of("KG")
    fill_cart(buyer, (priced_sku(market="KG", stock=10), 2))
    tickets = {who: servers.ticket(who.user) for who in (first, second, elsewhere)}
    buyer_ticket = servers.ticket(buyer)

    async def scenario():
        async with (
            connect(servers.socket_url(tickets[first], 0)) as on_a,
            connect(servers.socket_url(tickets[second], 1)) as on_b,
            connect(servers.socket_url(tickets[elsewhere], 1)) as us_on_b,
            connect(servers.socket_url(buyer_ticket, 0)) as buyer_on_a,
        ):
            for ws in (on_a, on_b, us_on_b, buyer_on_a):
                await _ready(ws)
            response = await asyncio.to_thread(
                servers.http,
                "POST",
                "/api/v1/orders/",
                buyer,
                json={"address": INLINE_KG, "payment_method": "cash_on_delivery"},
            )
            assert response.status_code == 201, response.text
            number = response.json()["order_number"]

            with_money = await _first(on_a, "order.created")
            assert with_money["data"]["order_number"] == number
            assert with_money["data"]["total"] == response.json()["total"]
            without = await _first(on_b, "order.created")
            assert without["data"]["order_number"] == number
            assert "total" not in without["data"]
            told = await _first(buyer_on_a, "notification.created")
            assert number in told["data"]["title"]
            assert await _nothing_of(us_on_b, "order.created", wait=1.5)

    asyncio.run(scenario())


def test_a_ticket_spent_on_one_process_opens_nothing_on_the_other(servers):
    user = customer_of("KG")
    ticket = servers.ticket(user)

    async def scenario():
        async with connect(servers.socket_url(ticket, 0)) as first:
            await _ready(first)
            async with connect(servers.socket_url(ticket, 1)) as second:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(second.recv(), 5)
                assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())


def test_a_client_that_stops_reading_never_holds_back_another(servers):
    stalled, healthy = (
        make_manager(market="KG", can_view_orders=True, can_view_revenue=True) for _ in range(2)
    )
    layer = RedisChannelLayer(hosts=[_redis_url()], prefix="marque:rt")
    group = "managers.KG.revenue"
    filler = "x" * 64_000  # 64 KB frames: a stalled reader's buffers fill quickly
    slow_url = servers.socket_url(servers.ticket(stalled.user), 0)
    fast_url = servers.socket_url(servers.ticket(healthy.user), 0)

    async def scenario():
        async with (
            # max_queue=1: the client library stops reading from its TCP socket at once.
            connect(slow_url, max_queue=1) as slow,
            connect(fast_url) as fast,
        ):
            await _ready(slow)
            await _ready(fast)
            received = 0
            for burst in range(4):
                for n in range(25):
                    text = orjson.dumps(
                        {"type": "load", "id": f"{burst}:{n}", "data": filler}
                    ).decode()
                    await layer.group_send(
                        group, {"type": "realtime.event", "group": group, "frame": text}
                    )
                for _ in range(25):
                    frame = orjson.loads(await asyncio.wait_for(fast.recv(), 10))
                    received += frame["type"] == "load"
            assert received == 100  # 6.4 MB went past a client that read none of it
            await _ready(fast)

    asyncio.run(scenario())
