"""Sign-in endpoints (auth/…) and the phone change (users/me/phone/…). See docs/AUTH.md."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from main.request_market import resolve_request_market
from main.throttling import FailClosedRateThrottle, FailOpenRateThrottle
from users.api.auth_serializers import (
    AuthUserOutput,
    LogoutInput,
    OTPRequestInput,
    OTPRequestOutput,
    OTPVerifyInput,
    PhoneChangeConfirmInput,
    PhoneChangeInput,
    RotatingTokenRefreshSerializer,
    TokenPairOutput,
    TokenRefreshOutput,
)
from users.services.auth import (
    otp_request,
    otp_verify,
    phone_change_confirm,
    phone_change_request,
    token_revoke,
    tokens_for_user,
)


class _PerIP:
    """Counts requests per client IP (the shared cache holds the counters)."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class OTPRequestIPThrottle(_PerIP, FailClosedRateThrottle):
    """Sending an SMS costs money: without the cache its limits cannot hold, so 503."""

    scope = "otp_ip"


class AuthIPThrottle(_PerIP, FailOpenRateThrottle):
    """Verify, refresh, logout: the database counts wrong codes, so these stay open."""

    scope = "auth"


def _client_ip(request) -> str | None:
    # The same client address the throttles count (NUM_PROXIES decides whether
    # X-Forwarded-For is trusted), so the audit column and the limits agree.
    return AuthIPThrottle().get_ident(request) or None


def _code_sent_body() -> dict:
    # Identical whether or not the phone has an account: no user enumeration.
    return {
        "detail": "If this number can receive SMS, a code has been sent to it.",
        "expires_in": settings.OTP_TTL_SECONDS,
        "resend_in": settings.OTP_RESEND_COOLDOWN_SECONDS,
    }


class _PublicAuthView(APIView):
    # No authentication: a stale access token must not stop someone signing in.
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (AuthIPThrottle,)

    def get_authenticate_header(self, request):
        # A bad refresh token is 401 `token_invalid` (DRF would turn it into a 403 here).
        return 'Bearer realm="api"'


class OTPRequestView(_PublicAuthView):
    throttle_classes = (OTPRequestIPThrottle,)
    reads_market_header = True  # the market whose national phone format parses (schema)

    @extend_schema(
        request=OTPRequestInput,
        responses={202: OTPRequestOutput},
        summary="Send a one-time sign-in code by SMS",
    )
    def post(self, request):
        data = OTPRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        otp_request(
            phone=data.validated_data["phone"],
            requester_ip=_client_ip(request),
            market=resolve_request_market(request),
        )
        return Response(_code_sent_body(), status=status.HTTP_202_ACCEPTED)


class OTPVerifyView(_PublicAuthView):
    reads_market_header = True  # a new account's market; the phone format (schema)
    error_statuses = {403}  # a deactivated account (main/schema.py)

    @extend_schema(
        request=OTPVerifyInput,
        responses={200: TokenPairOutput},
        summary="Sign in (or sign up) with the SMS code",
    )
    def post(self, request):
        data = OTPVerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, created = otp_verify(**data.validated_data, market=resolve_request_market(request))
        body = {
            **tokens_for_user(user=user),
            "user": AuthUserOutput(user).data,
            "is_new_user": created,
        }
        return Response(body)


class TokenRefreshView(_PublicAuthView):
    error_statuses = {401}  # an invalid, expired or revoked refresh token (main/schema.py)

    @extend_schema(
        request=RotatingTokenRefreshSerializer,
        responses={200: TokenRefreshOutput},
        summary="Exchange a refresh token for a new pair (the old one is revoked)",
    )
    def post(self, request):
        serializer = RotatingTokenRefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class LogoutView(_PublicAuthView):
    error_statuses = {401}  # an invalid, expired or revoked refresh token (main/schema.py)

    @extend_schema(request=LogoutInput, responses={204: None}, summary="Revoke a refresh token")
    def post(self, request):
        data = LogoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        token_revoke(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PhoneChangeRequestView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (OTPRequestIPThrottle,)

    @extend_schema(
        request=PhoneChangeInput,
        responses={202: OTPRequestOutput},
        summary="Send a code to the new phone number",
    )
    def post(self, request):
        data = PhoneChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        phone_change_request(
            user=request.user, phone=data.validated_data["phone"], requester_ip=_client_ip(request)
        )
        return Response(_code_sent_body(), status=status.HTTP_202_ACCEPTED)


class PhoneChangeConfirmView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (AuthIPThrottle,)

    @extend_schema(
        request=PhoneChangeConfirmInput,
        responses={200: AuthUserOutput},
        summary="Confirm the code: the account moves to the new number",
    )
    def post(self, request):
        data = PhoneChangeConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = phone_change_confirm(user=request.user, **data.validated_data)
        return Response(AuthUserOutput(user).data)
