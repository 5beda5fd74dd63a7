"""Storefront banner endpoints: the live list and the view/click counters. See docs/BANNERS.md."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from banners.api.serializers import BannerListInput, BannerOutput
from banners.models import Banner
from banners.selectors import banner_list_live
from banners.services import banner_record_click, banner_record_view
from main.http_cache import HttpCacheMixin, cached_data
from main.request_market import MarketContextMixin
from main.throttling import FailOpenRateThrottle


class BannerCounterThrottle(FailOpenRateThrottle):
    """Per client IP, per banner, per action: one client cannot inflate a counter.

    The rate lives on the class (not in settings) so that it travels with the
    endpoint. Requests beyond it answer 429 `throttled` with Retry-After and
    never reach the service, so the counter stops. Fails open while the cache
    is down (a counter is not worth a failed page).
    """

    scope = "banner_counter"
    rate = "30/min"

    def get_cache_key(self, request, view):
        ident = f"{self.get_ident(request)}:{view.kwargs.get(view.lookup_field)}:{view.action}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class BannerViewSet(MarketContextMixin, HttpCacheMixin, viewsets.GenericViewSet):
    """Public; a signed-in customer always sees their own market."""

    permission_classes = (AllowAny,)
    serializer_class = BannerOutput
    queryset = Banner.objects.none()  # for the schema's path parameter types; reads use selectors
    pagination_class = None  # the homepage needs every live banner (capped in the selector)
    lookup_value_regex = r"[0-9]+"

    def get_throttles(self):
        if self.action in ("record_view", "record_click"):
            return [BannerCounterThrottle()]
        return super().get_throttles()

    @extend_schema(
        parameters=[BannerListInput],
        responses=BannerOutput(many=True),
        summary="Live banners of the viewer's market",
    )
    def list(self, request):
        params = BannerListInput(data=request.query_params)
        params.is_valid(raise_exception=True)

        def build():
            banners = banner_list_live(
                market=request.market, banner_type=params.validated_data.get("type")
            )
            return self.get_serializer(banners, many=True).data

        # Banners open and close on their own schedule: the cache lifetime
        # (CATALOGUE_CACHE_SECONDS) bounds how late one appears or disappears.
        return Response(
            cached_data(request, market=request.market, build=build, namespace="banners")
        )

    @extend_schema(request=None, responses={204: None}, summary="Count one banner impression")
    @action(detail=True, methods=["post"], url_path="view", url_name="view")
    def record_view(self, request, pk: str):
        banner_record_view(banner_id=int(pk), market=request.market)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None}, summary="Count one banner click")
    @action(detail=True, methods=["post"], url_path="click", url_name="click")
    def record_click(self, request, pk: str):
        banner_record_click(banner_id=int(pk), market=request.market)
        return Response(status=status.HTTP_204_NO_CONTENT)
