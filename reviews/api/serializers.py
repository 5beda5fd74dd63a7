"""Input and output shapes of `POST reviews/` and `products/{slug}/reviews/` (docs/REVIEWS.md)."""

from __future__ import annotations

from rest_framework import serializers

from main.serializers import AbsoluteMediaField
from reviews.models import ReviewFit
from reviews.services import (
    REVIEW_MAX_IMAGES,
    REVIEW_TEXT_MAX_LENGTH,
    REVIEW_TITLE_MAX_LENGTH,
)

# Ids are BigAutoField: a larger number could never match and would overflow the column.
MAX_ID = 2**63 - 1


class ReviewCreateInput(serializers.Serializer):
    """Multipart: repeat `images` once per file. Image content is checked by the service."""

    product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    rating = serializers.IntegerField(min_value=1, max_value=5)
    title = serializers.CharField(
        max_length=REVIEW_TITLE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    text = serializers.CharField(
        max_length=REVIEW_TEXT_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    fit = serializers.ChoiceField(
        choices=ReviewFit.choices, required=False, allow_blank=True, default=""
    )
    images = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        required=False,
        default=list,
        max_length=REVIEW_MAX_IMAGES,
    )


class ReviewImageCreatedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = AbsoluteMediaField(source="image")
    sort_order = serializers.IntegerField()


class ReviewCreatedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    rating = serializers.IntegerField()
    title = serializers.CharField()
    text = serializers.CharField()
    fit = serializers.CharField()
    is_approved = serializers.BooleanField()
    images = ReviewImageCreatedOutput(many=True)
    created_at = serializers.DateTimeField()


class ReviewImageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = AbsoluteMediaField(source="image")


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    rating = serializers.IntegerField()
    title = serializers.CharField()
    text = serializers.CharField()
    fit = serializers.CharField()
    author = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    images = ReviewImageOutput(many=True)

    def get_author(self, obj) -> str:
        # First name and last initial only: reviews are public.
        user = obj.user
        initial = f" {user.last_name[:1]}." if user.last_name else ""
        return f"{user.first_name}{initial}".strip() or "Customer"
