"""Customer returns API (SPEC §10): ask for a return, read yours, cancel it while requested."""

from __future__ import annotations

import json

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from main.exceptions import InvalidInput
from main.pagination import PageNumberPagination, paginated_response
from main.parsers import JSONParser
from main.request_market import MarketContextMixin
from orders import selectors
from orders.api.return_serializers import (
    ReturnCreateInput,
    ReturnListOutput,
    ReturnListQuery,
    ReturnOutput,
)
from orders.models import ReturnRequest
from orders.services import returns

_RETURN_NUMBER = OpenApiParameter("return_number", str, OpenApiParameter.PATH)


def _create_input(request) -> dict:
    """The body as the serializer reads it: multipart carries `items` as JSON text."""
    if not hasattr(request.data, "getlist"):  # JSON
        return request.data
    data = {key: request.data.get(key) for key in ("order_number", "note") if key in request.data}
    raw = request.data.get("items")
    if raw is not None:
        try:
            data["items"] = json.loads(raw)
        except (TypeError, ValueError, RecursionError):
            message = "In a multipart request, `items` is a JSON array."
            raise InvalidInput(message, errors={"items": [message]}) from None
    data["images"] = request.FILES.getlist("images")
    return data


class _ReturnsView(MarketContextMixin, GenericAPIView):
    permission_classes = (IsAuthenticated,)
    queryset = ReturnRequest.objects.none()  # schema only: reads go through orders.selectors

    def return_response(self, return_number: str, status_code: int = 200) -> Response:
        ret = selectors.return_detail(user=self.request.user, return_number=return_number)
        if ret is None:
            raise returns.ReturnNotFound()
        return Response(ReturnOutput(ret, context=self.get_serializer_context()).data, status_code)


class ReturnListView(_ReturnsView):
    """GET: your returns, newest first (`?status=`). POST: ask for a return (SPEC §10)."""

    serializer_class = ReturnListOutput
    pagination_class = PageNumberPagination
    parser_classes = (JSONParser, MultiPartParser, FormParser)
    # 404 an order not yours; 409 invalid_transition, return_window_closed, out_of_stock.
    error_statuses = {"post": {404, 409}}

    @extend_schema(
        summary="Your returns, newest first",
        parameters=[ReturnListQuery],
        responses=ReturnListOutput(many=True),
    )
    def get(self, request):
        query = ReturnListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = selectors.return_list(user=request.user, **query.validated_data)
        return paginated_response(self, queryset, ReturnListOutput)

    @extend_schema(
        summary="Ask to return items of a delivered order",
        description="Per item and quantity, with a reason and an optional exchange SKU "
        "(another size or colour of the same product, held at once: 409 `out_of_stock` "
        "when there is none). JSON, or multipart with `items` as JSON text and up to 5 "
        "`images`. Within the market's return window after delivery (409 "
        "`return_window_closed`); an order not delivered is 409 `invalid_transition`; "
        "more units than bought minus those already returned is 400 "
        "`return_quantity_exceeded`; another customer's order is 404. Nothing is created "
        "when any of it is refused.",
        request={
            "application/json": ReturnCreateInput,
            "multipart/form-data": ReturnCreateInput,
        },
        responses={201: ReturnOutput},
    )
    def post(self, request):
        data = ReturnCreateInput(data=_create_input(request))
        data.is_valid(raise_exception=True)
        ret = returns.return_request_create(user=request.user, **data.validated_data)
        return self.return_response(ret.return_number, 201)


class ReturnDetailView(_ReturnsView):
    serializer_class = ReturnOutput

    @extend_schema(summary="One of your returns, with its lines, photos and history",
                   parameters=[_RETURN_NUMBER])  # fmt: skip
    def get(self, request, return_number: str):
        return self.return_response(return_number)


class ReturnCancelView(_ReturnsView):
    serializer_class = ReturnOutput
    error_statuses = {409}  # invalid_transition

    @extend_schema(
        summary="Withdraw your return",
        description="While it is requested (else 409 `invalid_transition`); units held "
        "for an exchange go back on sale.",
        parameters=[_RETURN_NUMBER],
        request=None,
        responses=ReturnOutput,
    )
    def post(self, request, return_number: str):
        returns.return_cancel_by_customer(user=request.user, return_number=return_number)
        return self.return_response(return_number)
