"""Customer orders API: checkout, own orders, cancel. Views parse, call a service, respond."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from main.exceptions import InvalidInput
from main.pagination import PageNumberPagination, paginated_response
from main.request_market import MarketContextMixin
from orders import selectors
from orders.api.serializers import (
    CancelInput,
    CheckoutInput,
    OrderListOutput,
    OrderListQuery,
    OrderOutput,
    PaymentRetryInput,
)
from orders.models import Order
from orders.services import checkout, payments, transitions

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255


def _idempotency_key(request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        message = f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters."
        raise InvalidInput(message, errors={IDEMPOTENCY_HEADER: [message]})
    return key


class _OrdersView(MarketContextMixin, GenericAPIView):
    """Signed-in customers' orders, in their own market (like every customer view)."""

    permission_classes = (IsAuthenticated,)

    def order_response(self, order_number: str, status_code: int = 200) -> Response:
        order = selectors.order_detail(user=self.request.user, order_number=order_number)
        if order is None:
            raise transitions.OrderNotFound()
        return Response(OrderOutput(order, context=self.get_serializer_context()).data, status_code)


class OrderListView(_OrdersView):
    """GET: your orders, newest first (`?status=`). POST: check out the cart (SPEC §4)."""

    serializer_class = OrderListOutput
    pagination_class = PageNumberPagination
    queryset = Order.objects.none()  # schema only: reads go through orders.selectors
    # Checkout: out_of_stock, price_changed (409); idempotency_conflict (422); a saved
    # card that is not yours (404). main/schema.py.
    error_statuses = {"post": {404, 409, 422}}

    @extend_schema(
        summary="Your orders, newest first",
        description="`?status=` keeps the orders in one status.",
        parameters=[OrderListQuery],
        responses=OrderListOutput(many=True),
    )
    def get(self, request):
        query = OrderListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        orders = selectors.order_list(user=request.user, **query.validated_data)
        return paginated_response(self, orders, OrderListOutput)

    @extend_schema(
        summary="Check out: turn your cart into an order",
        description="Send the total the customer saw as `expected_total`: a different total "
        "is 409 `price_changed` with the new totals. `payment_method` must be one the "
        "market offers (else 400 `payment_method_unavailable`); with `card` the order's "
        "`payment` block carries the Stripe `client_secret` and `expires_at` (the stock is "
        "held until then). See docs/ORDERS.md and docs/PAYMENTS.md.",
        request=CheckoutInput,
        responses={201: OrderOutput},
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Retry-safe checkout: the same key returns the first order (24 h).",
            )
        ],
    )
    def post(self, request):
        key = _idempotency_key(request)
        data = CheckoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = checkout.order_checkout(
            user=request.user,
            idempotency_key=key,
            payload=data.validated_data,
            **data.validated_data,
        )
        return self.order_response(result.order.order_number, result.status_code)


class OrderDetailView(_OrdersView):
    """One of your orders with its items and status history."""

    serializer_class = OrderOutput

    @extend_schema(summary="One of your orders, with its items and status history")
    def get(self, request, order_number: str):
        return self.order_response(order_number)


class OrderCancelView(_OrdersView):
    """Cancel your order while it is pending or confirmed; its stock goes back on sale."""

    serializer_class = CancelInput
    error_statuses = {409}  # invalid_transition (main/schema.py)

    @extend_schema(
        summary="Cancel your order",
        description="While it is pending or confirmed (else 409 `invalid_transition`); "
        "its stock goes back on sale.",
        request=CancelInput,
        responses=OrderOutput,
    )
    def post(self, request, order_number: str):
        data = CancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        transitions.order_cancel_by_customer(
            user=request.user, order_number=order_number, reason=data.validated_data["reason"]
        )
        return self.order_response(order_number)


class OrderPaymentView(_OrdersView):
    """Your pending card order's payment, made at the provider if the first try could not."""

    serializer_class = PaymentRetryInput
    error_statuses = {404, 409}  # a saved card not yours; invalid_transition, payment_refused

    @extend_schema(
        summary="Get (or make again) the card payment of your pending order",
        description="Answers the order with its `payment` block (`client_secret`, "
        "`expires_at`). Use it when checkout answered `payment.last_error` "
        "`provider_unavailable` or `payment_refused`, when the provider cancelled the "
        "authorisation, or after a manager resumed the order. `payment_method_id` (a saved "
        "card) replaces a payment not yet made at the provider. 503 "
        "`payment_provider_unavailable` while the provider is down (nothing changed).",
        request=PaymentRetryInput,
        responses=OrderOutput,
    )
    def post(self, request, order_number: str):
        data = PaymentRetryInput(data=request.data)
        data.is_valid(raise_exception=True)
        payments.payment_resume(
            user=request.user,
            order_number=order_number,
            payment_method_id=data.validated_data.get("payment_method_id"),
        )
        return self.order_response(order_number)
