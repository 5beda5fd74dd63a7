"""Project-level API views that belong to no app."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from main.markets import MARKETS, shipping_rule
from main.request_market import MarketContextMixin
from main.serializers import currency_field, market_field


class ShippingOutput(serializers.Serializer):
    cost = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Flat shipping, in the market's currency."
    )
    free_from = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Goods worth this much or more ship free."
    )


class MarketOutput(serializers.Serializer):
    code = market_field()
    name = serializers.CharField()
    currency = currency_field()
    phone_prefix = serializers.CharField()
    time_zone = serializers.CharField()
    languages = serializers.ListField(child=serializers.CharField())
    shipping = ShippingOutput()
    return_window_days = serializers.IntegerField(
        help_text="Days after delivery a customer may ask for a return."
    )


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
                "shipping": shipping_rule(config.code),
                "return_window_days": settings.RETURN_WINDOW_DAYS[config.code],
            }
            for config in MARKETS.values()
        ]
        return Response(MarketsOutput({"current": request.market, "markets": markets}).data)
