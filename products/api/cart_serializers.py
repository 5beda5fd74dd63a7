"""Input and output shapes of cart/ and wishlist/ (SPEC §4, §5)."""

from __future__ import annotations

from rest_framework import serializers

from main.serializers import absolute_media_url, currency_field
from products.api.serializers import money_field

# Ids are BigAutoField: a larger number could never match and would overflow the column.
MAX_ID = 2**63 - 1


class CartItemAddInput(serializers.Serializer):
    sku_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=1000, default=1)


class CartItemUpdateInput(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=1000)


class WishlistItemAddInput(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class WishlistItemOutput(serializers.Serializer):
    product_id = serializers.IntegerField()


class CartLineOutput(serializers.Serializer):
    """Reads a `cart_selectors.CartLine`."""

    id = serializers.IntegerField(source="item.id")
    sku_id = serializers.IntegerField(source="item.sku_id")
    sku_code = serializers.CharField(source="item.sku.code")
    size = serializers.CharField(source="item.sku.size")
    color = serializers.CharField(source="item.sku.color")
    product_id = serializers.IntegerField(source="item.sku.product_id")
    product_name = serializers.CharField(source="item.sku.product.name")
    product_slug = serializers.CharField(source="item.sku.product.slug")
    image = serializers.SerializerMethodField()
    quantity = serializers.IntegerField(source="item.quantity")
    unit_price = money_field(allow_null=True)
    line_total = money_field(allow_null=True)
    is_available = serializers.BooleanField()
    price_changed = serializers.BooleanField()

    def get_image(self, obj) -> str | None:
        return absolute_media_url(self.context.get("request"), obj.image)


class CartOutput(serializers.Serializer):
    items = CartLineOutput(many=True)
    item_count = serializers.IntegerField()
    subtotal = money_field()
    shipping_cost = money_field(
        help_text="What checkout would charge for shipping the available lines now "
        "(0 for an empty cart, and from `free_shipping_from` on)."
    )
    total = money_field(help_text="subtotal + shipping_cost: checkout's `expected_total`.")
    free_shipping_from = money_field(help_text="The market's free-shipping threshold.")
    left_to_free_shipping = money_field(
        help_text="How much more in goods would ship free (0 once it does)."
    )
    currency = currency_field()
