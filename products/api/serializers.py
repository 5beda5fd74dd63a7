"""Output shapes of the catalogue API. They read only what the selectors loaded.

Money is a string with two decimals next to `currency` (the viewer's market).
Image URLs are absolute (built from the request in the serializer context).

Two spellings of the product shapes, which must agree byte for byte:
- the serializer classes (`ProductListOutput`, `ProductDetailOutput`) shape
  model instances; the wishlist uses them and they document the schema;
- `product_row` / `product_page` shape the read model's plain rows
  (`selectors.catalogue.listing_*`) for the storefront's list, detail and
  related products, without DRF's per-field machinery (several times faster
  on a page of 20). `products/tests/test_fast_path.py` holds the two together.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from main.markets import market_config
from main.serializers import (
    AbsoluteMediaField,
    absolute_media_url,
    catalog_market_field,
    currency_field,
)
from products.services.images import RENDITION_FORMATS, renditions_current
from products.services.stock import LOW_STOCK, OUT_OF_STOCK, availability

TWO_PLACES = "{:.2f}"


def discount_percent(price: Decimal | None, original: Decimal | None) -> int | None:
    if price is None or not original or original <= price:
        return None
    ratio = (original - price) * 100 / original
    return int(ratio.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def money_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True, **kwargs)


class RatingField(serializers.DecimalField):
    """An average of 1-5 stars as a string with two places ("4.50"; "0.00" without reviews)."""

    schema_example = "4.50"

    def __init__(self, **kwargs):
        super().__init__(max_digits=3, decimal_places=2, **kwargs)


class SubcategoryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    image = AbsoluteMediaField()


class CategoryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField()
    image = AbsoluteMediaField()
    market = catalog_market_field()
    sort_order = serializers.IntegerField()
    product_count = serializers.IntegerField()
    subcategories = SubcategoryOutput(many=True)


class ImageRenditionOutput(serializers.Serializer):
    url = serializers.URLField(help_text="Absolute URL of the rendition.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.ChoiceField(choices=tuple(RENDITION_FORMATS))


class ImageSrcsetOutput(serializers.Serializer):
    webp = serializers.CharField(help_text='`srcset` of the WebP renditions: "<url> 320w, …".')
    jpeg = serializers.CharField(help_text="`srcset` of the JPEG renditions.")


class ImageSetOutput(serializers.Serializer):
    """An image with its renditions, for `next/image` and `<img srcset>` (docs/IMAGES.md).

    `url` is the normalised original. `width`, `height` and the renditions are
    known once the worker has made them (null and empty until then, shortly
    after an upload).
    """

    url = serializers.URLField(help_text="Absolute URL of the original (normalised) image.")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    srcset = ImageSrcsetOutput()
    renditions = ImageRenditionOutput(many=True)


def image_set(request, name: str | None, record: dict | None) -> dict | None:
    """`ImageSetOutput` of the stored image `name` and its renditions record (None: no image)."""
    if not name:
        return None
    current = renditions_current(name, record) or {}
    renditions = [
        {
            "url": absolute_media_url(request, item["name"]),
            "width": item["width"],
            "height": item["height"],
            "format": item["format"],
        }
        for item in current.get("renditions", ())
    ]
    return {
        "url": absolute_media_url(request, name),
        "width": current.get("width"),
        "height": current.get("height"),
        "srcset": {
            label: ", ".join(
                f"{item['url']} {item['width']}w" for item in renditions if item["format"] == label
            )
            for label in RENDITION_FORMATS
        },
        "renditions": renditions,
    }


class _PricedProductMixin(serializers.Serializer):
    """Fields every product shape shares; reads the annotations of `product_list`."""

    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    brand = serializers.CharField()
    main_image = serializers.SerializerMethodField()
    main_image_set = serializers.SerializerMethodField()
    price = money_field()
    original_price = money_field(allow_null=True)
    discount_percent = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()
    rating_avg = RatingField(read_only=True)
    reviews_count = serializers.IntegerField()
    in_stock = serializers.BooleanField()

    def get_main_image(self, obj) -> str | None:
        name = obj.main_image.name or getattr(obj, "first_image", None)
        return absolute_media_url(self.context.get("request"), name)

    @extend_schema_field(ImageSetOutput(allow_null=True))
    def get_main_image_set(self, obj) -> dict | None:
        if obj.main_image.name:
            name, record = obj.main_image.name, obj.main_image_renditions
        else:
            name = getattr(obj, "first_image", None)
            record = getattr(obj, "first_image_renditions", None)
        return image_set(self.context.get("request"), name, record)

    def get_discount_percent(self, obj) -> int | None:
        return discount_percent(obj.price, obj.original_price)

    @extend_schema_field(currency_field())
    def get_currency(self, obj) -> str:
        return market_config(self.context["market"]).currency


class ProductListOutput(_PricedProductMixin):
    is_featured = serializers.BooleanField()


class ProductImageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = AbsoluteMediaField(source="image")
    alt_text = serializers.CharField()
    sort_order = serializers.IntegerField()
    color = serializers.CharField(
        help_text="The SKU colour the image shows (`skus[].color`); empty: every colour."
    )
    set = serializers.SerializerMethodField()

    @extend_schema_field(ImageSetOutput)
    def get_set(self, obj) -> dict | None:
        return image_set(self.context.get("request"), obj.image.name, obj.renditions)


class ProductFeatureOutput(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField()


class SKUOutput(serializers.Serializer):
    """Availability only: customers never see the stock number."""

    id = serializers.IntegerField()
    size = serializers.CharField()
    color = serializers.CharField()
    color_hex = serializers.CharField()
    in_stock = serializers.SerializerMethodField()
    low_stock = serializers.SerializerMethodField()

    def get_in_stock(self, obj) -> bool:
        return availability(obj.stock) != OUT_OF_STOCK

    def get_low_stock(self, obj) -> bool:
        return availability(obj.stock) == LOW_STOCK


class CategoryRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


def _percentages(counts: dict[str, int]) -> dict[str, int]:
    """Whole percentages of `counts` that add up to 100 (largest remainder; all 0 without any).

    Ties go to the earlier key, so the same counts always give the same shares.
    """
    total = sum(counts.values())
    if not total:
        return dict.fromkeys(counts, 0)
    shares = {key: divmod(count * 100, total) for key, count in counts.items()}
    result = {key: whole for key, (whole, _) in shares.items()}
    left = 100 - sum(result.values())
    by_remainder = sorted(counts, key=lambda key: -shares[key][1])  # stable: ties keep key order
    for key in by_remainder[:left]:
        result[key] += 1
    return result


def fit_summary(
    *,
    runs_small: int,
    true_to_size: int,
    runs_large: int,
    returned_too_small: int,
    returned_too_large: int,
) -> dict:
    """`FitSummaryOutput`: review fit and size returns together (SPEC §10).

    A return as too small counts as a "runs small" verdict, one as too large as
    "runs large"; only reviews say "true to size". The one spelling of the shape,
    for the read model's rows and for the serializer.
    """
    small, large = runs_small + returned_too_small, runs_large + returned_too_large
    combined = {"runs_small": small, "true_to_size": true_to_size, "runs_large": large}
    reviews = runs_small + true_to_size + runs_large
    return {
        **combined,
        "total": small + true_to_size + large,
        "percent": _percentages(combined),
        "from_reviews": {
            "runs_small": runs_small,
            "true_to_size": true_to_size,
            "runs_large": runs_large,
            "total": reviews,
        },
        "from_returns": {
            "runs_small": returned_too_small,
            "runs_large": returned_too_large,
            "total": returned_too_small + returned_too_large,
        },
    }


class FitPercentOutput(serializers.Serializer):
    runs_small = serializers.IntegerField()
    true_to_size = serializers.IntegerField()
    runs_large = serializers.IntegerField()


class FitFromReviewsOutput(FitPercentOutput):
    total = serializers.IntegerField()


class FitFromReturnsOutput(serializers.Serializer):
    runs_small = serializers.IntegerField(help_text="Return lines sent back as too small.")
    runs_large = serializers.IntegerField(help_text="Return lines sent back as too large.")
    total = serializers.IntegerField()


class FitSummaryOutput(serializers.Serializer):
    """How the product fits, from approved reviews and size returns; reads the product's counters.

    Every return line with reason `size_too_small` (`size_too_large`) in a
    return that was not rejected or cancelled counts as one "runs small" ("runs
    large") verdict beside the reviews'; "true to size" comes from reviews only.
    """

    runs_small = serializers.IntegerField(
        help_text="Reviews saying it runs small + return lines sent back as too small."
    )
    true_to_size = serializers.IntegerField(help_text="Reviews saying it is true to size.")
    runs_large = serializers.IntegerField(
        help_text="Reviews saying it runs large + return lines sent back as too large."
    )
    total = serializers.IntegerField(help_text="runs_small + true_to_size + runs_large.")
    percent = FitPercentOutput(
        help_text="Each verdict's share of `total` in whole percent, adding up to 100 "
        "(all 0 when `total` is 0)."
    )
    from_reviews = FitFromReviewsOutput(help_text="Approved reviews per fit.")
    from_returns = FitFromReturnsOutput(
        help_text="Size return lines (returns not rejected or cancelled)."
    )

    def to_representation(self, instance) -> dict:
        return fit_summary(
            runs_small=instance.fit_runs_small_count,
            true_to_size=instance.fit_true_to_size_count,
            runs_large=instance.fit_runs_large_count,
            returned_too_small=instance.returned_too_small_count,
            returned_too_large=instance.returned_too_large_count,
        )


class RatingSummaryOutput(serializers.Serializer):
    """The approved reviews' stars (`selectors.product_rating_summary`)."""

    average = RatingField()
    count = serializers.IntegerField()
    distribution = serializers.DictField(
        child=serializers.IntegerField(), help_text='Reviews per star: {"1": 0, …, "5": 12}.'
    )


class ProductDetailOutput(_PricedProductMixin):
    description = serializers.CharField()
    is_featured = serializers.BooleanField()
    category = CategoryRefOutput()
    subcategory = CategoryRefOutput(allow_null=True)
    images = ProductImageOutput(many=True)
    features = ProductFeatureOutput(many=True)
    skus = SKUOutput(many=True)
    rating = serializers.SerializerMethodField()
    fit_summary = FitSummaryOutput(source="*")
    related = serializers.SerializerMethodField()
    # The view sets it per user after caching the body (false here and for anonymous requests).
    in_wishlist = serializers.SerializerMethodField()

    @extend_schema_field(RatingSummaryOutput)
    def get_rating(self, obj) -> dict:
        return self.context["rating"]

    @extend_schema_field(ProductListOutput(many=True))
    def get_related(self, obj) -> list:
        return ProductListOutput(self.context["related"], many=True, context=self.context).data

    def get_in_wishlist(self, obj) -> bool:
        return False


class FacetValueOutput(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()


class ColorFacetOutput(FacetValueOutput):
    color_hex = serializers.CharField()


class PriceRangeOutput(serializers.Serializer):
    min = money_field(allow_null=True)
    max = money_field(allow_null=True)


class FacetsOutput(serializers.Serializer):
    sizes = FacetValueOutput(many=True)
    colors = ColorFacetOutput(many=True)
    brands = FacetValueOutput(many=True)
    price = PriceRangeOutput()
    count = serializers.IntegerField()
    currency = serializers.SerializerMethodField()

    @extend_schema_field(currency_field())
    def get_currency(self, obj) -> str:
        return market_config(self.context["market"]).currency


# --- Plain-row shapes of the storefront (the read model's rows) --------------------------------


def _decimal(value: Decimal | None) -> str | None:
    """A stored two-place decimal as the DecimalFields above write it ("1290.00")."""
    return None if value is None else TWO_PLACES.format(value)


def category_row(row: dict, request) -> dict:
    """`CategoryOutput` of a `selectors.catalogue.category_rows` row."""
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "description": row["description"],
        "image": absolute_media_url(request, row["image"]),
        "market": row["market"],
        "sort_order": row["sort_order"],
        "product_count": row["product_count"],
        "subcategories": [
            {
                "id": sub["id"],
                "name": sub["name"],
                "slug": sub["slug"],
                "image": absolute_media_url(request, sub["image"]),
            }
            for sub in row["subcategories"]
        ],
    }


def _priced(row: dict, request, currency: str) -> dict:
    """The fields of `_PricedProductMixin`, in its order, from a read-model row."""
    price, original = row["price"], row["original_price"]
    return {
        "id": row["product_id"],
        "slug": row["slug"],
        "name": row["name"],
        "brand": row["brand"],
        "main_image": absolute_media_url(request, row["image"]),
        "main_image_set": image_set(request, row["image"], row["image_renditions"]),
        "price": _decimal(price),
        "original_price": _decimal(original),
        "discount_percent": discount_percent(price, original),
        "currency": currency,
        "rating_avg": _decimal(row["rating_avg"]),
        "reviews_count": row["reviews_count"],
        "in_stock": row["in_stock"],
    }


def product_row(row: dict, request, currency: str) -> dict:
    """`ProductListOutput` of a read-model row (`LIST_ROW_FIELDS`)."""
    return {**_priced(row, request, currency), "is_featured": row["is_featured"]}


def _ref(row: dict, prefix: str) -> dict | None:
    if row[f"{prefix}_id"] is None:
        return None
    return {
        "id": row[f"{prefix}_id"],
        "name": row[f"{prefix}__name"],
        "slug": row[f"{prefix}__slug"],
    }


def _sku(sku: dict) -> dict:
    seen = availability(sku["stock"])
    return {
        "id": sku["id"],
        "size": sku["size"],
        "color": sku["color"],
        "color_hex": sku["color_hex"],
        "in_stock": seen != OUT_OF_STOCK,
        "low_stock": seen == LOW_STOCK,
    }


def product_page(row: dict, *, rating: dict, related: list[dict], request, currency: str) -> dict:
    """`ProductDetailOutput` of `selectors.catalogue.listing_detail_get` (in_wishlist false)."""
    return {
        **_priced(row, request, currency),
        "description": row["product__description"],
        "is_featured": row["is_featured"],
        "category": _ref(row, "category"),
        "subcategory": _ref(row, "subcategory"),
        "images": [
            {
                "id": image["id"],
                "url": absolute_media_url(request, image["image"]),
                "alt_text": image["alt_text"],
                "sort_order": image["sort_order"],
                "color": image["color"],
                "set": image_set(request, image["image"], image["renditions"]),
            }
            for image in row["images"]
        ],
        "features": row["features"],
        "skus": [_sku(sku) for sku in row["skus"]],
        "rating": rating,
        "fit_summary": fit_summary(
            runs_small=row["product__fit_runs_small_count"],
            true_to_size=row["product__fit_true_to_size_count"],
            runs_large=row["product__fit_runs_large_count"],
            returned_too_small=row["product__returned_too_small_count"],
            returned_too_large=row["product__returned_too_large_count"],
        ),
        "related": [product_row(item, request, currency) for item in related],
        "in_wishlist": False,
    }
