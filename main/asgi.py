"""ASGI entry point: HTTP to Django, WebSocket `/ws/v1/events/` to the events consumer.

Production settings unless told otherwise. `make run` serves this through
daphne's `runserver`; production runs daphne beside gunicorn (docs/OPERATIONS.md).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings.production")

# Django first: it loads the apps the WebSocket routes import.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_application, "websocket": URLRouter(websocket_urlpatterns)}
)
