"""`POST /api/v1/realtime/ticket/`: the one HTTP endpoint of real-time events."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from main.throttling import FailOpenRateThrottle
from realtime.api.serializers import TicketOutput
from realtime.catalogue import markdown_table
from realtime.services import TICKET_SECONDS, ticket_issue

EVENTS_REFERENCE = "docs/REALTIME.md"


class TicketThrottle(FailOpenRateThrottle):
    """Per user; a cache outage refuses the ticket itself with 503 anyway."""

    scope = "realtime_ticket"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class TicketView(APIView):
    throttle_classes = (TicketThrottle,)

    @extend_schema(
        summary="A ticket to open the events WebSocket",
        description=(
            "Returns a single-use ticket, valid 30 seconds, bound to you. Open "
            "`wss://<host>/ws/v1/events/?ticket=<ticket>` with it: tokens never travel in a "
            "URL. A missing, used or expired ticket closes the socket with code 4401; a "
            "deactivated account or manager closes it with 4403. Frames are "
            '`{"type", "id", "at", "data"}`; send `{"type": "ping"}` for a '
            '`{"type": "pong"}`. Delivery is at most once: after a reconnect, read what you '
            "missed over REST (`users/me/notifications/?since=…`, unread counts). Money "
            "fields reach only managers with `can_view_revenue`; close codes, reconnecting and "
            f"a browser snippet: {EVENTS_REFERENCE} in the backend repository.\n\n"
            + markdown_table()
        ),
        request=None,
        responses={status.HTTP_201_CREATED: TicketOutput},
        tags=["realtime"],
    )
    def post(self, request):
        ticket = ticket_issue(user=request.user)
        return Response(
            TicketOutput({"ticket": ticket, "expires_in": TICKET_SECONDS}).data,
            status=status.HTTP_201_CREATED,
        )
