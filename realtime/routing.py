"""WebSocket routes (main/asgi.py routes every WebSocket here)."""

from django.urls import path, re_path

from realtime.consumers import EventsConsumer, NoSuchSocket

websocket_urlpatterns = [
    path("ws/v1/events/", EventsConsumer.as_asgi()),
    re_path(r"", NoSuchSocket.as_asgi()),
]
