"""Real-time events (SPEC §9): tickets, frames, and publishing them to sockets.

A socket is opened with a **ticket**, never a token in the URL: an
authenticated `POST /api/v1/realtime/ticket/` stores a random ticket in the
shared cache for 30 seconds, and the socket's first act is to take it
(`ticket_redeem`), which succeeds once. The cache's own delete decides a race
between two sockets with one ticket.

Frames come from domain events: `realtime.tasks` subscribes to them and calls
the `push_*` functions here, which read fresh facts, decide who may hear what
(`realtime.groups`), and publish. Publishing never raises: with the channel
layer down a frame is logged and dropped (delivery is at most once; a client
catches up over REST after reconnecting).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterable
from typing import Any

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.core.cache import cache
from django.utils import timezone

from main.markets import Market
from main.throttling import CACHE_ERRORS, CacheUnavailable
from orders.models import OrderStatus
from outbox.services import outbox_publish
from realtime import selectors
from realtime.groups import managers_group, managers_groups, user_group

logger = logging.getLogger("marque.realtime")

TICKET_SECONDS = 30
# token_urlsafe(32): 43 URL-safe characters. Anything else is refused before the cache.
_TICKET_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
_TICKET_KEY = "realtime:ticket:{}"

# Channel-layer message types, handled by the consumer's methods of the same name
# with the dot as an underscore (`realtime_event`, `realtime_recheck`, `realtime_expire`).
EVENT = "realtime.event"
PERSONAL = "realtime.personal"  # one frame per addressed manager: {"frames": {id: frame}}
RECHECK = "realtime.recheck"
EXPIRE = "realtime.expire"

# Client frames (SPEC §9) and the server's answers to them.
PING = {"type": "ping"}
PONG = orjson.dumps({"type": "pong"}).decode()


# --- Tickets ------------------------------------------------------------------------------


def _ticket_key(ticket: str) -> str:
    # Only a digest is stored: whoever reads the cache cannot open a socket with it.
    return _TICKET_KEY.format(hashlib.sha256(ticket.encode()).hexdigest())


def ticket_issue(*, user) -> str:
    """A single-use ticket for one socket of `user`, valid TICKET_SECONDS (503 without cache)."""
    ticket = secrets.token_urlsafe(32)
    try:
        cache.set(_ticket_key(ticket), user.pk, TICKET_SECONDS)
    except CACHE_ERRORS as exc:
        logger.warning("Realtime ticket not stored, cache unavailable: %r", exc)
        raise CacheUnavailable() from exc
    return ticket


def ticket_redeem(ticket: str | None) -> int | None:
    """The user id a ticket was issued to, once; None when missing, expired or used.

    Raises the cache's error when it is down (the socket is told to try later).
    """
    if not ticket or not _TICKET_SHAPE.fullmatch(ticket):
        return None
    key = _ticket_key(ticket)
    user_id = cache.get(key)
    # Of two sockets presenting one ticket at once, only one deletes it.
    if user_id is None or not cache.delete(key):
        return None
    return int(user_id)


# --- Frames and publishing ----------------------------------------------------------------


class _LayerLoop:
    """One event loop per process, in its own thread, for sends from sync code (workers).

    `async_to_sync` would start a thread, a loop and, for channels-redis, a new
    Redis connection on every call; one long-lived loop keeps the connection
    pool, which makes a publish a round trip instead of a handshake. Only for
    channels-redis: the in-memory layer must run on the loop of the process that
    holds the sockets (`make run`), where `async_to_sync` puts it. Re-created
    after a fork (Celery's prefork children).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def run(self, coroutine_function) -> None:
        layer = get_channel_layer()
        if not isinstance(layer, RedisChannelLayer):
            async_to_sync(coroutine_function)(layer)
            return
        loop = self._running()
        future = asyncio.run_coroutine_threadsafe(coroutine_function(layer), loop)
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                threading.Thread(
                    target=self._loop.run_forever, name="realtime-publisher", daemon=True
                ).start()
            return self._loop


PUBLISH_TIMEOUT_SECONDS = 5
_layer_loop = _LayerLoop()


def frame(type: str, *, key: int | str, data: dict[str, Any]) -> str:
    """A server frame as sent: `{"type", "id", "at", "data"}` (SPEC §9).

    `id` is the event type and its domain event id: a frame delivered twice
    (a redelivered outbox message) has the same id, so a client can drop it.
    """
    return orjson.dumps(
        {"type": type, "id": f"{type}:{key}", "at": timezone.now(), "data": data},
        option=orjson.OPT_UTC_Z,
    ).decode()


def publish(messages: Iterable[tuple[str, str | dict[str, str]]]) -> int:
    """Send `(group, frame)` pairs to the channel layer; returns how many went. Never raises.

    A frame is a string for everyone in the group, or a dict of frames by manager id
    (each manager's socket takes its own, if any).
    """
    messages = list(messages)
    if not messages:
        return 0

    async def send_all(layer) -> None:
        for group, text in messages:
            if isinstance(text, dict):
                message = {"type": PERSONAL, "group": group, "frames": text}
            else:
                message = {"type": EVENT, "group": group, "frame": text}
            await layer.group_send(group, message)

    try:
        _layer_loop.run(send_all)
    except Exception as exc:  # Redis down or slow: the frames are lost, the caller is not
        logger.warning("Realtime: %s frame(s) not published: %r", len(messages), exc)
        return 0
    return len(messages)


def _with_and_without_money(
    market: str, type: str, key: int, data: dict[str, Any], money: dict[str, Any]
) -> list[tuple[str, str]]:
    """One frame for the market's managers who see revenue, one without the money fields."""
    return [
        (managers_group(market, revenue=True), frame(type, key=key, data=data | money)),
        (managers_group(market, revenue=False), frame(type, key=key, data=data)),
    ]


def push_order_created(*, order_id: int, event_id: int) -> int:
    """order.created → the market's managers: number, status, currency (+ total with revenue)."""
    order = selectors.order_facts(order_id)
    if order is None:
        return 0
    data = {
        "order_number": order["order_number"],
        "status": order["status"],
        "currency": order["currency"],
    }
    return publish(
        _with_and_without_money(
            order["market"], "order.created", event_id, data, {"total": str(order["total"])}
        )
    )


def push_order_status_changed(
    *, order_id: int, event_id: int, from_status: str | None, to_status: str
) -> int:
    """order.status_changed → its customer and the market's managers; order.cancelled too.

    `status` is the status the event moved to (a later move has its own frame);
    `payment_status` is the order's now.
    """
    order = selectors.order_facts(order_id)
    if order is None:
        return 0
    market = order["market"]
    data = {
        "order_number": order["order_number"],
        "status": to_status,
        "payment_status": order["payment_status"],
    }
    changed = frame("order.status_changed", key=event_id, data=data)
    for_managers = frame(
        "order.status_changed", key=event_id, data=data | {"from_status": from_status}
    )
    messages = [(user_group(order["user_id"]), changed)]
    messages += [(group, for_managers) for group in managers_groups(market)]
    if to_status == OrderStatus.CANCELLED:
        messages += _with_and_without_money(
            market,
            "order.cancelled",
            event_id,
            {
                "order_number": order["order_number"],
                "status": to_status,
                "currency": order["currency"],
            },
            {"total": str(order["total"])},
        )
    return publish(messages)


def push_return_status_changed(*, return_id: int, event_id: int, to_status: str) -> int:
    """return.status_changed → its customer and the return market's managers.

    `status` is the status the event moved the return to (a later move has its own
    frame); no money travels, so both manager groups get the same frame.
    """
    ret = selectors.return_facts(return_id)
    if ret is None:
        return 0
    text = frame(
        "return.status_changed",
        key=event_id,
        data={
            "return_number": ret["return_number"],
            "order_number": ret["order__order_number"],
            "status": to_status,
        },
    )
    messages = [(user_group(ret["user_id"]), text)]
    messages += [(group, text) for group in managers_groups(ret["market"])]
    return publish(messages)


def push_notification_created(*, notification_id: int, event_id: int) -> int:
    """notification.created → its customer: id, type, title."""
    row = selectors.notification_facts(notification_id)
    if row is None:
        return 0
    data = {"id": row["id"], "type": row["type"], "title": row["title"]}
    return publish(
        [(user_group(row["user_id"]), frame("notification.created", key=row["id"], data=data))]
    )


def push_manager_notifications(*, notification_ids: list[int], event_id: int) -> int:
    """manager_notification.created → each addressed manager, on sockets of its market.

    One message per manager group of the market (both markets for a notification
    about none), with a frame per addressed manager: a socket takes its manager's.
    """
    by_market: dict[str | None, dict[str, str]] = {}
    for row in selectors.manager_notification_facts(notification_ids):
        by_market.setdefault(row["data__market"], {})[str(row["manager_id"])] = frame(
            "manager_notification.created",
            key=row["id"],
            data={
                "id": row["id"],
                "type": row["type"],
                "title": row["title"],
                "priority": row["priority"],
            },
        )
    messages = []
    for market, frames in by_market.items():
        for each in [market] if market in Market.values else Market.values:
            messages += [(group, frames) for group in managers_groups(each)]
    return publish(messages)


def push_stock_low(*, sku_ids: list[int], event_id: int) -> int:
    """stock.low → managers of every market the product sells in, while stock is still low."""
    messages = []
    for row in selectors.low_stock_facts(sku_ids):
        text = frame(
            "stock.low",
            key=f"{event_id}:{row['code']}",
            data={
                "sku_code": row["code"],
                "product_slug": row["product__slug"],
                "stock": row["stock"],
                "low_stock": row["stock"] > 0,
            },
        )
        for market in row["markets"]:
            messages += [(group, text) for group in managers_groups(market)]
    return publish(messages)


def push_report_ready(*, report_id: int, event_id: int) -> int:
    """report.ready → the market's managers: the report's date (its figures over REST)."""
    report = selectors.report_facts(report_id)
    if report is None:
        return 0
    text = frame("report.ready", key=event_id, data={"date": report["report_date"].isoformat()})
    return publish((group, text) for group in managers_groups(report["market"]))


# --- Access changes -----------------------------------------------------------------------


def sockets_recheck(*, user_id: int) -> None:
    """Tell a user's open sockets to read their access again (market switch, deactivation).

    Unlike a frame, a recheck that cannot be sent raises: its outbox message is
    then not done, and the relay sends it again (access must not stay granted).
    Every socket also rechecks by itself every REALTIME_RECHECK_SECONDS.
    """

    async def send(layer) -> None:
        await layer.group_send(user_group(user_id), {"type": RECHECK})

    _layer_loop.run(send)


def on_access_saved(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    """post_save / post_delete of a User or StoreManager: its open sockets check their access.

    A new user has no socket yet; a user saved with `update_fields` that leave
    `is_active` alone (the last sign-in time, a name) changes nothing a socket
    hears. Anything else, the manager row above all (market switch, flags,
    deactivation, deletion), is rechecked, after commit, through the outbox.
    """
    is_user = sender._meta.label_lower == "users.user"
    if is_user and (created or (update_fields is not None and "is_active" not in update_fields)):
        return
    user_id = instance.pk if is_user else instance.user_id
    outbox_publish("realtime.tasks.recheck_sockets", user_id=user_id)
