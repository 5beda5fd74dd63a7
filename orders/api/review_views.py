"""`POST reviews/`: a verified buyer reviews a product (rules: `orders.review_services`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from main.parsers import JSONParser
from main.request_market import MarketContextMixin
from orders import review_services
from orders.api.review_serializers import ReviewCreatedOutput, ReviewCreateInput


class ReviewCreateView(MarketContextMixin, GenericAPIView):
    permission_classes = (IsAuthenticated,)
    parser_classes = (MultiPartParser, FormParser, JSONParser)
    serializer_class = ReviewCreateInput

    @extend_schema(
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
        review = review_services.review_create(user=request.user, **data.validated_data)
        output = ReviewCreatedOutput(review, context=self.get_serializer_context())
        return Response(output.data, status=status.HTTP_201_CREATED)
