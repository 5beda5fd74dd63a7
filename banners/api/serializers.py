"""Input and output shapes of the banner endpoints."""

from __future__ import annotations

from rest_framework import serializers

from banners.models import Banner
from main.serializers import AbsoluteMediaField


class BannerListInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=Banner.Type.choices, required=False)


class BannerOutput(serializers.ModelSerializer):
    image = AbsoluteMediaField()
    mobile_image = AbsoluteMediaField()
    category = serializers.CharField(
        source="category_slug",
        allow_null=True,
        read_only=True,
        help_text="Slug of the linked category when it is visible in this market, else null.",
    )

    class Meta:
        model = Banner
        fields = (
            "id",
            "title",
            "subtitle",
            "image",
            "mobile_image",
            "link_url",
            "banner_type",
            "category",
            "market",
            "starts_at",
            "ends_at",
        )
        read_only_fields = fields
