"""Project-level API views that belong to no app."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from main.markets import MARKETS
from main.request_market import MarketContextMixin
from main.serializers import currency_field, market_field


class MarketOutput(serializers.Serializer):
    code = market_field()
    name = serializers.CharField()
    currency = currency_field()
    phone_prefix = serializers.CharField()
    time_zone = serializers.CharField()
    languages = serializers.ListField(child=serializers.CharField())


class MarketsOutput(serializers.Serializer):
    current = market_field(help_text="The market this request resolves to.")
    markets = MarketOutput(many=True)


class MarketsView(MarketContextMixin, APIView):
    """The markets MARQUE sells in, and which one this request is served for."""

    permission_classes = (AllowAny,)

    @extend_schema(responses=MarketsOutput, summary="Markets, and the one this request is in")
    def get(self, request):
        markets = [
            {
                "code": config.code,
                "name": config.name,
                "currency": config.currency,
                "phone_prefix": config.phone_prefix,
                "time_zone": config.time_zone.key,
                "languages": list(config.languages),
            }
            for config in MARKETS.values()
        ]
        return Response(MarketsOutput({"current": request.market, "markets": markets}).data)
