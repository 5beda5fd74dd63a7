"""The one WebSocket consumer: `/ws/v1/events/?ticket=…` (SPEC §9, docs/REALTIME.md).

The socket is accepted, then its ticket is taken; a missing, expired or used
ticket closes it with 4401, an account (or the manager it was opened as)
deactivated closes it with 4403. Accepting first is what lets a browser read
those codes: a socket refused during the handshake only sees 1006.

The consumer joins the groups `realtime.selectors.socket_scope` names and
forwards every frame published to them as it is. A `realtime.recheck`
message (a market switch, flags changed, a deactivation) makes it read its
scope again: it moves to the new groups, or closes with 4403.

Each socket is its own task: a slow client fills only its own queue in the
channel layer (REALTIME_SOCKET_BACKLOG frames), and frames beyond it are
dropped for that client alone.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from main.throttling import CACHE_ERRORS
from realtime.selectors import SocketScope, socket_scope
from realtime.services import PING, PONG, ticket_redeem

logger = logging.getLogger("marque.realtime")

# Close codes (docs/REALTIME.md). 4401/4403 mirror HTTP 401/403; 1013 is "try again later".
CLOSE_BAD_TICKET = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NO_SUCH_SOCKET = 4404
CLOSE_TRY_LATER = 1013
CLOSE_TOO_BIG = 1009
CLOSE_UNSUPPORTED = 1003

# A client only ever sends `{"type": "ping"}`: anything longer is not ours.
MAX_CLIENT_FRAME = 1024


def _error(code: str, detail: str) -> str:
    return orjson.dumps({"type": "error", "code": code, "detail": detail}).decode()


class EventsConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.subscribed: frozenset[str] = frozenset()
        self.manager_id: int | None = None
        await self.accept()
        ticket = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("ticket")
        try:
            user_id = await database_sync_to_async(ticket_redeem)(ticket[0] if ticket else None)
        except CACHE_ERRORS as exc:
            logger.warning("Realtime: a ticket could not be read, cache unavailable: %r", exc)
            await self.close(code=CLOSE_TRY_LATER)
            return
        if user_id is None:
            await self.close(code=CLOSE_BAD_TICKET)
            return
        self.user_id = user_id
        scope = await database_sync_to_async(socket_scope)(user_id)
        if scope is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.manager_id = scope.manager_id
        await self._follow(scope)

    async def disconnect(self, code: int) -> None:
        await self._follow(None)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
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

    async def realtime_recheck(self, message: dict) -> None:
        if not self.subscribed:
            return  # closing, or never admitted
        scope = await database_sync_to_async(socket_scope)(self.user_id)
        if scope is None or (self.manager_id is not None and scope.manager_id is None):
            await self._follow(None)
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.manager_id = scope.manager_id
        await self._follow(scope)

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
