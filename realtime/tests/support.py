"""Building blocks for the real-time tests: tickets over the API, sockets on the real ASGI app."""

from __future__ import annotations

import orjson
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from rest_framework.test import APIClient

from conftest import authenticate
from main.asgi import application

PATH = "/ws/v1/events/"


def ticket_for(user) -> str:
    response = authenticate(APIClient(), user).post("/api/v1/realtime/ticket/")
    assert response.status_code == 201, response.content
    return response.json()["ticket"]


async def open_socket(ticket: str | None, *, path: str = PATH) -> WebsocketCommunicator:
    """A socket on the real ASGI application, its ticket already taken (or refused)."""
    socket = WebsocketCommunicator(
        application, path if ticket is None else f"{path}?ticket={ticket}"
    )
    connected, _ = await socket.connect()
    assert connected
    return socket


async def socket_of(user) -> WebsocketCommunicator:
    socket = await open_socket(await sync_to_async(ticket_for)(user))
    await settled(socket)
    return socket


async def settled(socket: WebsocketCommunicator) -> None:
    """A ping answered: the consumer has handled everything queued before it (it joined its
    groups, or followed an access change), since it takes one message at a time."""
    await socket.send_to(text_data='{"type": "ping"}')
    assert orjson.loads(await socket.receive_from(timeout=3)) == {"type": "pong"}


async def close_code(socket: WebsocketCommunicator, timeout: float = 3) -> int:
    """The code the server closed the socket with."""
    output = await socket.receive_output(timeout=timeout)
    assert output["type"] == "websocket.close", output
    return output["code"]


async def frames(socket: WebsocketCommunicator, *, wait: float = 0.3) -> list[dict]:
    """Every frame that arrives until none has for `wait` seconds."""
    received = []
    # receive_nothing waits without cancelling the application (receive_output's timeout would).
    while not await socket.receive_nothing(timeout=wait):
        output = await socket.receive_output()
        assert output["type"] == "websocket.send", output
        frame = orjson.loads(output["text"])
        check_frame(frame)
        received.append(frame)
    return received


def types(received: list[dict]) -> list[str]:
    return [frame["type"] for frame in received]


def of_type(received: list[dict], type: str) -> list[dict]:
    return [frame for frame in received if frame["type"] == type]


def run(scenario) -> None:
    """Run an async scenario from a sync test (its database calls reach the test's data)."""
    async_to_sync(scenario)()


def flush_layer() -> None:
    """Forget every group and queued message. For channels-redis by key prefix, with a
    client of its own: the layer's flush() would also close the publisher loop's pool."""
    layer = get_channel_layer()
    if isinstance(layer, RedisChannelLayer):
        client = redis.Redis.from_url(layer.hosts[0]["address"])
        keys = list(client.scan_iter(f"{layer.prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        async_to_sync(layer.flush)()


def check_frame(frame: dict) -> None:
    """A frame is one the catalogue lists, with only the fields it lists."""
    from realtime.catalogue import allowed_fields

    assert set(frame) == {"type", "id", "at", "data"}, frame
    allowed = allowed_fields(frame["type"])
    assert allowed, f"{frame['type']} is not in realtime/catalogue.py"
    assert set(frame["data"]) <= allowed, frame
