"""Manager returns API (`/api/v1/manager/returns/…`, SPEC §10): parse, call, respond.

Every view subclasses `ManagerAPIView` (access checks and the active market);
every read takes `self.market`, so a return of another market is a 404 on every
route. The actions call `store_manager.services.returns` (the status machine of
`orders.services.returns`, plus the audit log) and answer the return as a
manager reads it. The return rate by product reads the replica, like the other
analytics (docs/REPLICA.md).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework.response import Response

from main.db_router import ReplicaReadsMixin
from main.pagination import paginated_response
from store_manager import analytics
from store_manager.api import return_serializers as s
from store_manager.api.base import ManagerAPIView, parsed_body, parsed_query
from store_manager.permissions import CanEditOrders, CanRefund, CanViewOrders
from store_manager.selectors.returns import (
    manager_return_get,
    manager_return_list,
    manager_return_rates,
)
from store_manager.services.returns import (
    manager_return_approve,
    manager_return_receive,
    manager_return_refund,
    manager_return_reject,
)

TAGS = ["manager"]
RATE_DAYS = 30  # the default range of the return rates: the last 30 market days
_RETURN_NUMBER = OpenApiParameter("return_number", OpenApiTypes.STR, OpenApiParameter.PATH)
_PAGE = [
    OpenApiParameter("page", OpenApiTypes.INT),
    OpenApiParameter("page_size", OpenApiTypes.INT),
]


class ReturnListView(ManagerAPIView):
    manager_permissions = (CanViewOrders,)

    @extend_schema(
        summary="Returns of the active market, newest first",
        description="Filters: `status`, `date_from` / `date_to` (created on these market "
        "dates, both included). Each return with its lines, order number, customer and "
        "the order's payment method and status. A bad filter is 400 `invalid`.",
        parameters=[s.ManagerReturnListQuery, *_PAGE],
        responses=s.ManagerReturnListOutput(many=True),
        tags=TAGS,
    )
    def get(self, request):
        query = parsed_query(s.ManagerReturnListQuery, request).validated_data
        returns = manager_return_list(market=self.market, **query)
        return paginated_response(self, returns, s.ManagerReturnListOutput)


class ReturnRateListView(ReplicaReadsMixin, ManagerAPIView):
    manager_permissions = (CanViewOrders,)

    @extend_schema(
        summary="Return rate by product over the orders of a period",
        description="Per product, over the orders created on `date_from`..`date_to` (market "
        "dates, both included; default the last 30 days up to today; cancelled and "
        "replacement orders left out): units sold, units in returns that are not rejected "
        "or cancelled, their ratio, and the units returned as too small or too large. Most "
        "returned units first, then the highest rate. A bad date is 400 `invalid`.",
        parameters=[s.ManagerReturnRatesQuery, *_PAGE],
        responses=s.ManagerReturnRateOutput(many=True),
        tags=TAGS,
    )
    def get(self, request):
        query = parsed_query(s.ManagerReturnRatesQuery, request).validated_data
        today = analytics.local_date(self.market, timezone.now())
        date_to = query.get("date_to") or today
        date_from = query.get("date_from") or min(date_to, today) - timedelta(days=RATE_DAYS - 1)
        if date_from > date_to:  # only date_from given, and after today
            message = "Must not be after date_to (today when not given)."
            raise drf_serializers.ValidationError({"date_from": [message]})
        rows = manager_return_rates(market=self.market, date_from=date_from, date_to=date_to)
        return paginated_response(self, rows, s.ManagerReturnRateOutput)


class _ReturnView(ManagerAPIView):
    def get_return(self, return_number: str):
        return manager_return_get(market=self.market, return_number=return_number)

    def respond(self, return_number: str) -> Response:
        """The return as a manager reads it, read again after any change."""
        ret = self.get_return(return_number)
        return Response(s.ManagerReturnOutput(ret, context={"request": self.request}).data)


class ReturnDetailView(_ReturnView):
    manager_permissions = (CanViewOrders,)

    @extend_schema(
        summary="One return: lines, photos, customer, payment and history with actors",
        description="A return of another market is 404 `not_found`, like one that does not exist.",
        parameters=[_RETURN_NUMBER],
        responses=s.ManagerReturnOutput,
        tags=TAGS,
    )
    def get(self, request, return_number: str):
        return self.respond(return_number)


class ReturnApproveView(_ReturnView):
    manager_permissions = (CanEditOrders,)
    error_statuses = {409}  # invalid_transition (main/schema.py)

    @extend_schema(
        summary="Approve a requested return",
        description="requested → approved: the customer may send the parcel. Any other "
        "status is 409 `invalid_transition` (nothing changed). Logged as `return_approved`; "
        "publishes `return.status_changed`.",
        parameters=[_RETURN_NUMBER],
        request=s.ManagerReturnApproveInput,
        responses=s.ManagerReturnOutput,
        tags=TAGS,
    )
    def post(self, request, return_number: str):
        data = parsed_body(s.ManagerReturnApproveInput, request).validated_data
        manager_return_approve(
            manager=self.manager,
            ret=self.get_return(return_number),
            note=data["note"],
            meta=self.meta,
        )
        return self.respond(return_number)


class ReturnRejectView(_ReturnView):
    manager_permissions = (CanEditOrders,)
    error_statuses = {409}  # invalid_transition (main/schema.py)

    @extend_schema(
        summary="Reject a requested return, with a reason",
        description="requested → rejected; `reason` (required, 400 `invalid` when blank) "
        "becomes `reject_reason`. Units held for an exchange go back on sale. Any other "
        "status is 409 `invalid_transition` (nothing changed). Logged as `return_rejected`; "
        "publishes `return.status_changed`.",
        parameters=[_RETURN_NUMBER],
        request=s.ManagerReturnRejectInput,
        responses=s.ManagerReturnOutput,
        tags=TAGS,
    )
    def post(self, request, return_number: str):
        data = parsed_body(s.ManagerReturnRejectInput, request).validated_data
        manager_return_reject(
            manager=self.manager,
            ret=self.get_return(return_number),
            reason=data["reason"],
            meta=self.meta,
        )
        return self.respond(return_number)


class ReturnReceiveView(_ReturnView):
    manager_permissions = (CanEditOrders,)
    error_statuses = {409}  # invalid_transition (main/schema.py)

    @extend_schema(
        summary="Record the parcel of an approved return",
        description="approved → received. `items` names every line of the return once with "
        "0 ≤ `damaged_quantity` ≤ `received_quantity` ≤ its quantity (else 400 `invalid`). "
        "Only sound units (received - damaged) go back to stock. Received exchange lines ship "
        "in a replacement order (total 0, `replacement_order_number`); a return of exchange "
        "lines only then becomes `exchanged`. Any status but approved is 409 "
        "`invalid_transition` (nothing changed). Logged as `return_received`.",
        parameters=[_RETURN_NUMBER],
        request=s.ManagerReturnReceiveInput,
        responses=s.ManagerReturnOutput,
        tags=TAGS,
    )
    def post(self, request, return_number: str):
        data = parsed_body(s.ManagerReturnReceiveInput, request).validated_data
        manager_return_receive(
            manager=self.manager,
            ret=self.get_return(return_number),
            items=data["items"],
            note=data["note"],
            meta=self.meta,
        )
        return self.respond(return_number)


class ReturnRefundView(_ReturnView):
    manager_permissions = (CanRefund,)
    # invalid, refund_exceeds_paid (400); invalid_transition, not_refundable,
    # payment_refused (409); payment_provider_unavailable (503, always documented).
    error_statuses = {409}

    @extend_schema(
        summary="Refund a received return through the order's payment",
        description="Needs `can_refund`. received → refunded. `amount` defaults to "
        "`refund_due` (what the received units of the lines to refund were bought for), at "
        "most what is left to refund (nothing left: 409 `not_refundable`); an explicit "
        "amount may be larger but more than paid - refunded is 400 `refund_exceeds_paid`; "
        "an amount of 0 settles the return with no money moving (nothing arrived, or the "
        "order was refunded in full already). "
        "A card is refunded through the provider (409 `payment_refused`; 503 "
        "`payment_provider_unavailable` when it cannot be reached); a cash-on-delivery order "
        "records `method` cash (default) or bank_transfer (another method: 400 `invalid`). "
        "Any status but received is 409 `invalid_transition`. Nothing changes when refused. "
        "Logged as `return_refunded`; the customer is notified.",
        parameters=[_RETURN_NUMBER],
        request=s.ManagerReturnRefundInput,
        responses=s.ManagerReturnOutput,
        tags=TAGS,
    )
    def post(self, request, return_number: str):
        data = parsed_body(s.ManagerReturnRefundInput, request).validated_data
        manager_return_refund(
            manager=self.manager,
            ret=self.get_return(return_number),
            amount=data.get("amount"),
            method=data.get("method"),
            reason=data["reason"],
            meta=self.meta,
        )
        return self.respond(return_number)
