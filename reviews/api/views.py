"""Review API.

- `POST reviews/`: a verified buyer reviews a product (rules: `reviews.services`).
- `GET products/{slug}/reviews/`: a sellable product's approved reviews, newest
  first, paginated. A catalogue view (`CatalogueViewSet`: viewer's market,
  anonymous access, HTTP and server-side caching) registered under the
  `products` prefix, so the URL, its name (`product-reviews`) and its OpenAPI
  operation stay those it had on `ProductViewSet`.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from main.pagination import paginated_response
from main.parsers import JSONParser
from main.request_market import MarketContextMixin
from products.api.views import CatalogueViewSet
from products.selectors import catalogue as product_selectors
from reviews import selectors, services
from reviews.api.serializers import ReviewCreatedOutput, ReviewCreateInput, ReviewOutput


class ReviewCreateView(MarketContextMixin, GenericAPIView):
    permission_classes = (IsAuthenticated,)
    parser_classes = (MultiPartParser, FormParser, JSONParser)
    serializer_class = ReviewCreateInput
    error_statuses = {403, 409}  # not_a_buyer, review_exists (main/schema.py)

    @extend_schema(
        summary="Review a product you received (with up to 5 images)",
        request={"multipart/form-data": ReviewCreateInput},
        responses={201: ReviewCreatedOutput},
        description=(
            "Only a customer with a delivered order item of the product (403 not_a_buyer), "
            "once per product (409 review_exists). See docs/REVIEWS.md."
        ),
    )
    def post(self, request):
        data = ReviewCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_create(user=request.user, **data.validated_data)
        output = ReviewCreatedOutput(review, context=self.get_serializer_context())
        return Response(output.data, status=status.HTTP_201_CREATED)


# `products/{slug}/reviews/` only: the product routes themselves are `ProductViewSet`'s.
class ProductReviewViewSet(CatalogueViewSet):
    output_serializers = {"list": ReviewOutput, "reviews": ReviewOutput}

    @extend_schema(
        summary="Approved reviews of a product, newest first",
        responses=ReviewOutput(many=True),
        operation_id="products_reviews_retrieve",  # as before the response was documented as a list
    )
    @action(detail=True, methods=["get"])
    def reviews(self, request, slug=None):
        def build():
            product = product_selectors.product_sellable_get(market=request.market, slug=slug)
            approved = selectors.product_reviews(product=product)
            return paginated_response(self, approved, ReviewOutput).data

        return Response(self.cached(build))
