"""Payment provider webhooks: no JWT; the provider's signature over the raw body is the proof."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.services.payment_events import webhook_receive


class StripeWebhookView(APIView):
    """Stripe's events about our PaymentIntents and refunds (docs/PAYMENTS.md)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes = ()  # the raw body is verified as sent: nothing parses it first
    # signature_invalid (400); a payment we do not have (404).
    error_statuses = {400, 404}

    @extend_schema(
        summary="Stripe webhook",
        description="Verified with `Stripe-Signature` (`t=…,v1=…`, HMAC-SHA256 of the raw "
        "body with `STRIPE_WEBHOOK_SECRET`, 300 s tolerance): a missing, forged or stale "
        "signature is 400 `signature_invalid` and changes nothing. Each event id is applied "
        "at most once (a replay answers 200, `replayed`); events may arrive in any order; "
        "types we do not use answer 200 `ignored`; an event about a payment we do not have "
        "is 404.",
        request=OpenApiTypes.OBJECT,
        responses=inline_serializer(
            "WebhookReceived",
            {"result": serializers.ChoiceField(choices=["applied", "replayed", "ignored"])},
        ),
        tags=["payments"],
    )
    def post(self, request):
        result = webhook_receive(
            provider_name="stripe",
            body=request.body,
            signature=request.headers.get("Stripe-Signature", ""),
        )
        return Response({"result": result})
