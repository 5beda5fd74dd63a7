"""Cart and wishlist API: authenticated only; views parse, call a service or selector, respond."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from main.exceptions import InvalidInput
from main.pagination import PageNumberPagination, paginated_response
from main.request_market import MarketContextMixin
from products.api.cart_serializers import (
    CartItemAddInput,
    CartItemUpdateInput,
    CartOutput,
    WishlistItemAddInput,
    WishlistItemOutput,
)
from products.api.serializers import ProductListOutput
from products.models import Product
from products.selectors import cart as cart_selectors
from products.services import cart as cart_services


def _path_id(value: str, name: str) -> int:
    """An integer id from the URL; anything else is a 400 `invalid`, never a 500."""
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    message = "A valid integer is required."
    raise InvalidInput(message, errors={name: [message]})


class _CustomerView(MarketContextMixin, GenericAPIView):
    """Base of the cart and wishlist views: signed-in customers, their own market."""

    permission_classes = (IsAuthenticated,)

    def cart_response(self, status_code: int = status.HTTP_200_OK) -> Response:
        cart = cart_selectors.cart_get(user=self.request.user, market=self.request.market)
        return Response(CartOutput(cart, context=self.get_serializer_context()).data, status_code)


class CartView(_CustomerView):
    """The signed-in customer's cart (SPEC §4 shape); DELETE empties it."""

    serializer_class = CartOutput

    @extend_schema(
        summary="Your cart with today's prices and availability",
        responses=CartOutput,
    )
    def get(self, request):
        return self.cart_response()

    @extend_schema(summary="Empty your cart", responses={204: None})
    def delete(self, request):
        cart_services.cart_clear(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartItemListView(_CustomerView):
    """Add a SKU to the cart."""

    serializer_class = CartItemAddInput
    error_statuses = {409}  # out_of_stock (main/schema.py)

    @extend_schema(
        summary="Add a size to your cart",
        request=CartItemAddInput,
        responses={200: CartOutput, 201: CartOutput},
        description="Adds a SKU (201) or increases its line (200); answers with the cart.",
    )
    def post(self, request):
        data = CartItemAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        _, created = cart_services.cart_item_add(
            user=request.user, market=request.market, **data.validated_data
        )
        return self.cart_response(status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CartItemDetailView(_CustomerView):
    """Change the quantity of, or remove, one cart line."""

    serializer_class = CartItemUpdateInput
    # out_of_stock; a path id that is not a number is 400 `invalid` (main/schema.py).
    error_statuses = {"patch": {409}, "delete": {400}}

    @extend_schema(
        summary="Change the quantity of a cart line",
        request=CartItemUpdateInput,
        responses=CartOutput,
    )
    def patch(self, request, item_id: str):
        data = CartItemUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart_services.cart_item_update(
            user=request.user,
            market=request.market,
            item_id=_path_id(item_id, "id"),
            **data.validated_data,
        )
        return self.cart_response()

    @extend_schema(summary="Remove a line from your cart", responses={204: None})
    def delete(self, request, item_id: str):
        cart_services.cart_item_delete(user=request.user, item_id=_path_id(item_id, "id"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WishlistView(_CustomerView):
    """The wished products still sellable in the customer's market, newest first."""

    serializer_class = ProductListOutput
    pagination_class = PageNumberPagination
    queryset = Product.objects.none()  # for the schema only; rows come from the selector

    @extend_schema(
        summary="Your wishlist",
        description="The wished products still sold in your market, newest first.",
        responses=ProductListOutput(many=True),
    )
    def get(self, request):
        queryset = cart_selectors.wishlist_products(user=request.user, market=request.market)
        return paginated_response(self, queryset, ProductListOutput)


class WishlistItemListView(_CustomerView):
    """Add a product to the wishlist."""

    serializer_class = WishlistItemAddInput

    @extend_schema(
        summary="Add a product to your wishlist",
        request=WishlistItemAddInput,
        responses={200: WishlistItemOutput, 201: WishlistItemOutput},
        description="Adds a product (201); already there answers 200 (one row).",
    )
    def post(self, request):
        data = WishlistItemAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        item, created = cart_services.wishlist_item_add(
            user=request.user, market=request.market, **data.validated_data
        )
        return Response(
            WishlistItemOutput(item).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class WishlistItemDetailView(_CustomerView):
    """Remove a product from the wishlist."""

    serializer_class = WishlistItemAddInput
    error_statuses = {400}  # a path id that is not a number (main/schema.py)

    @extend_schema(summary="Remove a product from your wishlist", responses={204: None})
    def delete(self, request, product_id: str):
        cart_services.wishlist_item_remove(
            user=request.user, product_id=_path_id(product_id, "product_id")
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
