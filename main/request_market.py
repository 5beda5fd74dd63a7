"""Which market a request is for (SPEC §2), resolved in one place.

A signed-in customer's market is always their own; anonymous requests name it
with the `X-Market` header or `?market=`, else `DEFAULT_MARKET`. An invalid
value is a 400 (`invalid_market`), never a silent fallback.
"""

from __future__ import annotations

from django.conf import settings

from main.markets import parse_market

MARKET_HEADER = "X-Market"
MARKET_QUERY_PARAM = "market"


def resolve_request_market(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and getattr(user, "market", None):
        return user.market
    return anonymous_market(request)


def anonymous_market(request) -> str:
    """The market an anonymous request names (`X-Market`, `?market=`), else the default."""
    query = getattr(request, "query_params", request.GET)
    requested = request.headers.get(MARKET_HEADER) or query.get(MARKET_QUERY_PARAM)
    if requested:
        return parse_market(requested)
    return settings.DEFAULT_MARKET


class MarketContextMixin:
    """For DRF views: sets `request.market` right after authentication.

    Every customer-facing view inherits it, so none can forget the market; an
    invalid market answers 400 before the handler runs. Serializers find the
    market in their context as `market`.
    """

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        request.market = resolve_request_market(request)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["market"] = getattr(self.request, "market", None)
        return context
