"""The one WebSocket consumer: `/ws/v1/events/?ticket=…` (SPEC §9, docs/REALTIME.md).

The socket is accepted, then its ticket is taken; a missing, expired or used
ticket closes it with 4401, an account (or the manager it was opened as)
deactivated closes it with 4403. Accepting first is what lets a browser read
those codes: a socket refused during the handshake only sees 1006.

The consumer joins the groups `realtime.selectors.socket_scope` names and
forwards every frame published to them as it is. A `realtime.recheck`
message (a market switch, flags changed, a deactivation) makes it read its
scope again: it moves to the new groups, or closes with 4403. It also rechecks
by itself every REALTIME_RECHECK_SECONDS (a recheck lost on the way, a
logout), and closes with 4401 after REALTIME_SOCKET_MAX_SECONDS, when the
client takes a new ticket. Both go through its own channel, so they are handled
in turn with everything else, never concurrently.

Each socket is its own task: a slow client fills only its own buffers, and
never holds back another socket or the publisher. A client may send only a few
small frames (pings): a flood closes it with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from urllib.parse import parse_qs

import orjson
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from main import metrics
from main.throttling import CACHE_ERRORS
from realtime.groups import user_group
from realtime.selectors import SocketScope, socket_scope
from realtime.services import EXPIRE, PING, PONG, RECHECK, ticket_redeem

logger = logging.getLogger("marque.realtime")

# Close codes (docs/REALTIME.md). 4401/4403 mirror HTTP 401/403; 1013 is "try again later".
CLOSE_BAD_TICKET = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NO_SUCH_SOCKET = 4404
CLOSE_TRY_LATER = 1013
CLOSE_TOO_BIG = 1009
CLOSE_UNSUPPORTED = 1003
CLOSE_FLOOD = 1008

# A client only ever sends `{"type": "ping"}`: anything longer is not ours.
MAX_CLIENT_FRAME = 1024
CLIENT_WINDOW_SECONDS = 10

# The ticket is read from the cache in the thread pool, not in the one thread every
# socket of the process shares for database reads: a slow cache (or a flood of fake
# tickets) cannot queue other sockets' connects behind it. The access reads (two or
# three indexed queries) stay in that shared thread, as Channels runs them.
_redeem = sync_to_async(ticket_redeem, thread_sensitive=False)
_scope = database_sync_to_async(socket_scope)


def _error(code: str, detail: str) -> str:
    return orjson.dumps({"type": "error", "code": code, "detail": detail}).decode()


class EventsConsumer(AsyncWebsocketConsumer):
    timer: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        """A channel layer (Redis) lost under an open socket closes it with 1013, try later.

        Channels reads the layer in its dispatch loop; without this, the error would end
        the application and daphne would close the socket with 1011 and an ERROR trace.
        """
        try:
            await super().__call__(scope, receive, send)
        except CACHE_ERRORS as exc:
            logger.warning("Realtime: the channel layer is unavailable, socket closed: %r", exc)
            if self.timer is not None:
                self.timer.cancel()
            metrics.websocket_closed(getattr(self, "open_socket", None))
            with contextlib.suppress(Exception):  # the client may be gone too
                await send({"type": "websocket.close", "code": CLOSE_TRY_LATER})

    async def connect(self) -> None:
        self.subscribed: frozenset[str] = frozenset()
        self.manager_id: int | None = None
        self.timer: asyncio.Task | None = None
        self.window_start, self.window_frames = time.monotonic(), 0
        await self.accept()
        ticket = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("ticket")
        try:
            user_id = await _redeem(ticket[0] if ticket else None)
        except CACHE_ERRORS as exc:
            logger.warning("Realtime: a ticket could not be read, cache unavailable: %r", exc)
            await self.close(code=CLOSE_TRY_LATER)
            return
        if user_id is None:
            await self.close(code=CLOSE_BAD_TICKET)
            return
        self.user_id = user_id
        # Into the user's group before reading access: a recheck sent while the scope
        # is being read then still reaches this socket, and is handled after it.
        await self._follow(SocketScope(user_id=user_id, groups=frozenset({user_group(user_id)})))
        scope = await _scope(user_id)
        if scope is None:
            await self._follow(None)
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.manager_id = scope.manager_id
        await self._follow(scope)
        self.timer = asyncio.create_task(self._clock())
        self.open_socket = metrics.websocket_admitted(manager=scope.manager_id is not None)

    async def _clock(self) -> None:
        """Recheck now and then, with jitter so sockets opened together spread out; expire."""
        born = time.monotonic()
        period = settings.REALTIME_RECHECK_SECONDS
        lifetime = settings.REALTIME_SOCKET_MAX_SECONDS
        while True:
            left = lifetime - (time.monotonic() - born)
            wait = min(period * random.uniform(0.8, 1.0), left)  # noqa: S311 (jitter, not a secret)
            await asyncio.sleep(max(wait, 0))
            expired = time.monotonic() - born >= lifetime
            await self.channel_layer.send(
                self.channel_name, {"type": EXPIRE if expired else RECHECK}
            )
            if expired:
                return

    async def disconnect(self, code: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
        metrics.websocket_closed(getattr(self, "open_socket", None))
        await self._follow(None)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        now = time.monotonic()
        if now - self.window_start > CLIENT_WINDOW_SECONDS:
            self.window_start, self.window_frames = now, 0
        self.window_frames += 1
        if self.window_frames > settings.REALTIME_CLIENT_FRAMES_PER_10S:
            await self.close(code=CLOSE_FLOOD)
            return
        if text_data is None:
            await self.close(code=CLOSE_UNSUPPORTED)
            return
        if len(text_data) > MAX_CLIENT_FRAME:
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            message = orjson.loads(text_data)
        except orjson.JSONDecodeError:
            message = None
        if message == PING:
            await self.send(text_data=PONG)
        else:
            await self.send(text_data=_error("unknown_message", 'Send {"type": "ping"} only.'))

    # --- Channel-layer messages (realtime.services) ---------------------------------------

    async def realtime_event(self, message: dict) -> None:
        # A frame sent to a group this socket has left since (access rechecked just
        # before it) is not for it any more: money never reaches a revoked viewer.
        if message["group"] in self.subscribed:
            await self.send(text_data=message["frame"])

    async def realtime_personal(self, message: dict) -> None:
        """Frames by manager id: this socket's manager's, if it is addressed."""
        if message["group"] in self.subscribed and self.manager_id is not None:
            text = message["frames"].get(str(self.manager_id))
            if text is not None:
                await self.send(text_data=text)

    async def realtime_recheck(self, message: dict) -> None:
        if not self.subscribed:
            return  # closing, or never admitted
        scope = await _scope(self.user_id)
        if scope is None or (self.manager_id is not None and scope.manager_id is None):
            await self._follow(None)
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.manager_id = scope.manager_id
        await self._follow(scope)

    async def realtime_expire(self, message: dict) -> None:
        """REALTIME_SOCKET_MAX_SECONDS are up: the client takes a new ticket and reconnects."""
        await self._follow(None)
        await self.close(code=CLOSE_BAD_TICKET)

    async def _follow(self, scope: SocketScope | None) -> None:
        """Join the scope's groups and leave the others (None: leave all)."""
        wanted = scope.groups if scope is not None else frozenset()
        for group in self.subscribed - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in wanted - self.subscribed:
            await self.channel_layer.group_add(group, self.channel_name)
        self.subscribed = wanted


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any other WebSocket path: accepted to say so with 4404, then closed."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NO_SUCH_SOCKET)
