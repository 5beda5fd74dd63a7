"""Account endpoints (`users/me/…`): parse, call a service or selector, respond."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from main.pagination import PageNumberPagination, paginated_response
from main.request_market import MarketContextMixin
from users import selectors
from users.api.serializers import (
    AddressInput,
    AddressOutput,
    CountOutput,
    MarkedOutput,
    NotificationFilterInput,
    NotificationOutput,
    PaymentMethodCreateInput,
    PaymentMethodOutput,
    PaymentMethodUpdateInput,
    ProfileOutput,
    ProfileUpdateInput,
)
from users.services import accounts

_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


class MeView(MarketContextMixin, APIView):
    """The signed-in customer's profile."""

    @extend_schema(summary="Your profile", responses=ProfileOutput, tags=["account"])
    def get(self, request):
        return Response(ProfileOutput(request.user).data)

    @extend_schema(
        summary="Change your name, e-mail or language",
        description="`phone` and `market` may be sent back unchanged; another value is 400 "
        "(the phone changes with users/me/phone/).",
        request=ProfileUpdateInput,
        responses=ProfileOutput,
        tags=["account"],
    )
    def patch(self, request):
        data = ProfileUpdateInput(data=request.data, context={"user": request.user})
        data.is_valid(raise_exception=True)
        fields = {
            key: value
            for key, value in data.validated_data.items()
            if key not in ("phone", "market")
        }
        user = accounts.user_update(user=request.user, **fields)
        return Response(ProfileOutput(user).data)

    @extend_schema(
        summary="Close your account",
        description="Personal data, addresses and cards are deleted and every refresh token "
        "is revoked; orders are kept.",
        responses={204: None},
        tags=["account"],
    )
    def delete(self, request):
        accounts.user_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _OwnedViewSet(MarketContextMixin, viewsets.ViewSet):
    """List/create/retrieve/PATCH/DELETE of objects the signed-in user owns."""

    http_method_names = ("get", "post", "patch", "delete", "head", "options")
    lookup_value_regex = r"\d+"
    pagination_class = PageNumberPagination


@extend_schema_view(
    list=extend_schema(
        summary="Your delivery addresses",
        description="Exactly one is the default whenever any exist.",
        responses=AddressOutput(many=True),
    ),
    create=extend_schema(
        summary="Save a delivery address",
        description="The first one, or one sent with `is_default: true`, becomes the default.",
        request=AddressInput,
        responses={201: AddressOutput},
    ),
    retrieve=extend_schema(
        summary="One of your addresses", parameters=[_ID], responses=AddressOutput
    ),
    partial_update=extend_schema(
        summary="Change an address",
        parameters=[_ID],
        request=AddressInput,
        responses=AddressOutput,
    ),
    destroy=extend_schema(
        summary="Delete an address",
        description="Deleting the default makes the newest remaining address the default.",
        parameters=[_ID],
        responses={204: None},
    ),
)
@extend_schema(tags=["account"])
class AddressViewSet(_OwnedViewSet):
    """Delivery addresses. Exactly one is the default whenever any exist."""

    def list(self, request):
        return paginated_response(self, selectors.address_list(user=request.user), AddressOutput)

    def create(self, request):
        data = AddressInput(data=request.data)
        data.is_valid(raise_exception=True)
        address = accounts.address_create(user=request.user, **data.validated_data)
        return Response(AddressOutput(address).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk: str):
        address = selectors.address_get(user=request.user, address_id=int(pk))
        return Response(AddressOutput(address).data)

    def partial_update(self, request, pk: str):
        address = selectors.address_get(user=request.user, address_id=int(pk))
        data = AddressInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        address = accounts.address_update(address=address, **data.validated_data)
        return Response(AddressOutput(address).data)

    def destroy(self, request, pk: str):
        address = selectors.address_get(user=request.user, address_id=int(pk))
        accounts.address_delete(address=address)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        summary="Your saved cards",
        description="Display facts only, never the card number or the provider's token.",
        responses=PaymentMethodOutput(many=True),
    ),
    create=extend_schema(
        summary="Save a tokenised card",
        request=PaymentMethodCreateInput,
        responses={201: PaymentMethodOutput},
        description="Tokenised cards only: a full card number or a CVV anywhere in the body "
        "is refused with 400 `card_data_forbidden` and nothing is stored.",
    ),
    retrieve=extend_schema(
        summary="One of your saved cards", parameters=[_ID], responses=PaymentMethodOutput
    ),
    partial_update=extend_schema(
        summary="Rename a card or make it the default",
        parameters=[_ID],
        request=PaymentMethodUpdateInput,
        responses=PaymentMethodOutput,
    ),
    destroy=extend_schema(summary="Delete a saved card", parameters=[_ID], responses={204: None}),
)
@extend_schema(tags=["account"])
class PaymentMethodViewSet(_OwnedViewSet):
    """Saved cards: the provider's token and display facts, never the card itself."""

    def list(self, request):
        return paginated_response(
            self, selectors.payment_method_list(user=request.user), PaymentMethodOutput
        )

    def create(self, request):
        # Before validation, so a card number is never echoed in an error message.
        accounts.card_data_check(payload=request.data)
        data = PaymentMethodCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        method = accounts.payment_method_create(user=request.user, **data.validated_data)
        return Response(PaymentMethodOutput(method).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk: str):
        method = selectors.payment_method_get(user=request.user, payment_method_id=int(pk))
        return Response(PaymentMethodOutput(method).data)

    def partial_update(self, request, pk: str):
        method = selectors.payment_method_get(user=request.user, payment_method_id=int(pk))
        accounts.card_data_check(payload=request.data)
        data = PaymentMethodUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        method = accounts.payment_method_update(payment_method=method, **data.validated_data)
        return Response(PaymentMethodOutput(method).data)

    def destroy(self, request, pk: str):
        method = selectors.payment_method_get(user=request.user, payment_method_id=int(pk))
        accounts.payment_method_delete(payment_method=method)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["account"])
class NotificationViewSet(_OwnedViewSet):
    """In-app messages, newest first."""

    http_method_names = ("get", "post", "head", "options")

    @extend_schema(
        summary="Your in-app messages, newest first",
        parameters=[
            OpenApiParameter(
                "is_read", OpenApiTypes.BOOL, description="Only read (true) or unread (false)."
            ),
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Only messages created at or after this instant (ISO 8601): "
                "after a WebSocket reconnect, when the socket closed (docs/REALTIME.md).",
            ),
        ],
        responses=NotificationOutput(many=True),
    )
    def list(self, request):
        query = NotificationFilterInput(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        notifications = selectors.notification_list(
            user=request.user,
            is_read=query.validated_data["is_read"],
            since=query.validated_data["since"],
        )
        return paginated_response(self, notifications, NotificationOutput)

    @extend_schema(
        summary="Mark a message read", parameters=[_ID], request=None, responses=NotificationOutput
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk: str):
        notification = selectors.notification_get(user=request.user, notification_id=int(pk))
        notification = accounts.notification_mark_read(notification=notification)
        return Response(NotificationOutput(notification).data)

    @extend_schema(summary="Mark all your messages read", request=None, responses=MarkedOutput)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = accounts.notification_mark_all_read(user=request.user)
        return Response(MarkedOutput({"marked": marked}).data)

    @extend_schema(summary="How many messages are unread (the badge)", responses=CountOutput)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        count = selectors.notification_unread_count(user=request.user)
        return Response(CountOutput({"count": count}).data)
