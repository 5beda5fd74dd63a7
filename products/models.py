from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from main.markets import CatalogMarket, Market, market_config
from main.models import (
    CatalogQuerySet,
    TimeStampedModel,
    is_visible_to,
    market_check,
    money_field,
    visible_q,
)

# Hard ceiling for a cart line in the database; the business limit is the
# MAX_LINE_QTY setting (≤ this), enforced by the cart service.
CART_LINE_QTY_CEILING = 99

hex_color = RegexValidator(r"^#[0-9A-Fa-f]{6}$", "Use a colour like #1A2B3C.")


class Category(TimeStampedModel):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, unique=True)
    market = models.CharField(
        max_length=3, choices=CatalogMarket.choices, default=CatalogMarket.ALL
    )
    image = models.ImageField(upload_to="categories/", blank=True)
    description = models.TextField(blank=True)
    sort_order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ("sort_order", "name")
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=("name", "market"), name="category_name_market_unique"),
            market_check("category_market_valid", catalog=True),
        ]
        indexes = [models.Index(fields=("market", "is_active"), name="category_market_active_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.market})"


class SubcategoryQuerySet(models.QuerySet):
    def visible_to(self, market: str):
        """Subcategories follow their category's market and activity."""
        return self.filter(visible_q(market, "category__"), is_active=True)


class Subcategory(TimeStampedModel):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="subcategories")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120)
    image = models.ImageField(upload_to="subcategories/", blank=True)
    sort_order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    objects = SubcategoryQuerySet.as_manager()

    class Meta:
        ordering = ("category", "sort_order", "name")
        verbose_name_plural = "subcategories"
        constraints = [
            models.UniqueConstraint(
                fields=("category", "slug"), name="subcategory_slug_per_category_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category.name} / {self.name}"


# "A customer may buy this product in this market": the product is visible there
# (`main.models.visible_q`: active, its market or ALL) and has a price in that
# market. Its category's visibility is not part of the rule. `sellable_q` (SQL) and
# `is_sellable` (loaded rows) are its only two spellings and must agree: the
# catalogue, cart, wishlist, checkout and the manager's dashboard all use them.


def sellable_q(market: str, prefix: str = "") -> Q:
    """Products sellable in `market` as a Q; `prefix` applies it through a relation.

    Filtering on `prices__market` joins the price row of that market (one per
    product), so an annotation on `prices__price` in the same query reads it.
    The Python twin is `is_sellable`; the two must agree.
    """
    return visible_q(market, prefix) & Q(**{f"{prefix}prices__market": market})


def is_sellable(
    product: Product, market: str, price: Decimal | None, *, as_if_active: bool = False
) -> bool:
    """`sellable_q` for a loaded product and its price in `market` (None: no price there).

    The two must agree. `as_if_active` judges market and price only (checkout
    refuses an inactive product as out of stock, together with the short SKUs).
    """
    return is_visible_to(product, market, as_if_active=as_if_active) and price is not None


class ProductQuerySet(CatalogQuerySet):
    def sellable_in(self, market: str):
        """Visible in `market` and priced there: a product without a price is never shown."""
        return self.filter(sellable_q(market))


class Product(TimeStampedModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=100, blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    subcategory = models.ForeignKey(
        Subcategory, on_delete=models.SET_NULL, null=True, blank=True, related_name="products"
    )
    market = models.CharField(
        max_length=3, choices=CatalogMarket.choices, default=CatalogMarket.ALL
    )
    main_image = models.ImageField(upload_to="products/", blank=True)
    # The main image's renditions (`products.services.images`), written by the worker only.
    main_image_renditions = models.JSONField(default=dict, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    is_featured = models.BooleanField(default=False)
    # Denormalised from approved reviews and delivered orders; written by services only.
    rating_avg = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.00"))
    reviews_count = models.PositiveIntegerField(default=0)
    # Approved reviews per star and per fit (the detail's rating distribution and
    # fit summary), kept with rating_avg by `reviews.services.product_rating_refresh`.
    rating_1_count = models.PositiveIntegerField(default=0)
    rating_2_count = models.PositiveIntegerField(default=0)
    rating_3_count = models.PositiveIntegerField(default=0)
    rating_4_count = models.PositiveIntegerField(default=0)
    rating_5_count = models.PositiveIntegerField(default=0)
    fit_runs_small_count = models.PositiveIntegerField(default=0)
    fit_true_to_size_count = models.PositiveIntegerField(default=0)
    fit_runs_large_count = models.PositiveIntegerField(default=0)
    # Return lines that sent the product back as too small / too large, in returns that are
    # not rejected or cancelled: the fit summary's other half (SPEC §10), kept by
    # `reviews.services.product_fit_refresh` from the returns.
    returned_too_small_count = models.PositiveIntegerField(default=0)
    returned_too_large_count = models.PositiveIntegerField(default=0)
    sales_count = models.PositiveIntegerField(default=0)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            market_check("product_market_valid", catalog=True),
            models.CheckConstraint(
                condition=models.Q(rating_avg__gte=0, rating_avg__lte=5),
                name="product_rating_avg_range",
            ),
        ]
        indexes = [
            models.Index(fields=("market", "is_active"), name="product_market_active_idx"),
            models.Index(fields=("category", "subcategory"), name="product_category_sub_idx"),
            models.Index(fields=("brand",), name="product_brand_idx"),
            # The default listing order: lets PostgreSQL read the first page in order.
            models.Index(fields=("-created_at", "-id"), name="product_created_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class BelongsToProduct(models.Model):
    """A product's row (gallery image, price, SKU) that remembers the product it was loaded with.

    When staff move the row to another product, the read model refreshes both
    the old and the new product (`products.services.listing.on_source_saved`).
    """

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_product_id = instance.__dict__.get("product_id")
        return instance


class ProductImage(BelongsToProduct):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="products/gallery/")
    # The image's renditions (`products.services.images`), written by the worker only.
    renditions = models.JSONField(default=dict, blank=True, editable=False)
    alt_text = models.CharField(max_length=200, blank=True)
    # The SKU colour the picture shows (`SKU.color`); blank: every colour.
    color = models.CharField(
        max_length=50, blank=True, help_text="The colour shown; blank for every colour."
    )
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("product", "sort_order", "id")

    def __str__(self) -> str:
        return f"{self.product} image #{self.sort_order}"


class ProductFeature(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="features")
    name = models.CharField(max_length=100, help_text="e.g. Material")
    value = models.CharField(max_length=255, help_text="e.g. 100% cotton")
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("product", "sort_order", "id")

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"


class SKU(BelongsToProduct, TimeStampedModel):
    """A sellable variant: one size and colour of a product, with its stock."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="skus")
    code = models.CharField(max_length=64, unique=True)
    size = models.CharField(max_length=20)
    color = models.CharField(max_length=50)
    color_hex = models.CharField(max_length=7, blank=True, validators=[hex_color])
    stock = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("product", "id")
        verbose_name = "SKU"
        constraints = [
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="sku_stock_non_negative"),
            models.UniqueConstraint(
                fields=("product", "size", "color"), name="sku_product_size_color_unique"
            ),
        ]
        indexes = [
            # "Is this product in stock?" for a page of products, by index probe.
            models.Index(
                fields=("product",),
                condition=models.Q(is_active=True, stock__gt=0),
                name="sku_in_stock_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.size}, {self.color})"


class ProductPrice(BelongsToProduct, TimeStampedModel):
    """The price of a product in one market, in that market's currency."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    market = models.CharField(max_length=2, choices=Market.choices)
    price = money_field()
    original_price = money_field(null=True, blank=True, help_text="A 'was' price, ≥ price.")

    class Meta:
        ordering = ("product", "market")
        constraints = [
            models.UniqueConstraint(
                fields=("product", "market"), name="price_product_market_unique"
            ),
            market_check("price_market_valid"),
            models.CheckConstraint(condition=models.Q(price__gt=0), name="price_positive"),
            models.CheckConstraint(
                condition=models.Q(original_price__isnull=True)
                | models.Q(original_price__gte=models.F("price")),
                name="price_original_not_below_price",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product}: {self.price} {self.currency}"

    @property
    def currency(self) -> str:
        return market_config(self.market).currency


class Listing(models.Model):
    """The catalogue's read model: one row per product and market where it is sellable.

    Product lists, counts, facets and category counts read this one narrow
    table instead of joining products, prices, SKUs and images per request: a
    page is an index range scan, a count an index-only scan, and neither grows
    with the joins. A row exists exactly when `sellable_q(market)` holds for
    the product, and holds copies of what a list row shows and sorts by.

    Written only by `products.services.listing`, in the transaction of the
    change that moved the source: model saves and deletes (staff, services,
    tests) through signals, and the bulk paths (stock moves, sales counts,
    review counters, seeders) by explicit calls. `manage.py listing_rebuild`
    recomputes every row from the source tables.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="listings")
    market = models.CharField(max_length=2, choices=Market.choices)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="listings")
    subcategory = models.ForeignKey(
        Subcategory, on_delete=models.SET_NULL, null=True, blank=True, related_name="listings"
    )
    slug = models.SlugField(max_length=220, db_index=False)
    name = models.CharField(max_length=200)
    brand = models.CharField(max_length=100, blank=True)
    # The product's main image, else its first gallery image ("" when none).
    image = models.CharField(max_length=255, blank=True)
    # That image's renditions record (`products.services.images`), copied with it (null: none).
    image_renditions = models.JSONField(null=True, blank=True)
    price = money_field()
    original_price = money_field(null=True, blank=True)
    # An active SKU with stock > 0.
    in_stock = models.BooleanField()
    is_featured = models.BooleanField()
    rating_avg = models.DecimalField(max_digits=3, decimal_places=2)
    reviews_count = models.PositiveIntegerField()
    sales_count = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ("market", "-created_at", "-product_id")
        constraints = [
            models.UniqueConstraint(fields=("product", "market"), name="listing_product_market"),
            models.UniqueConstraint(fields=("market", "slug"), name="listing_market_slug"),
            market_check("listing_market_valid"),
        ]
        # One index per public ordering, so a page is read in order and stops at its
        # last row; the category one also serves category browsing and its count.
        indexes = [
            models.Index(fields=("market", "-created_at", "-product"), name="listing_newest_idx"),
            models.Index(
                fields=("market", "category", "-created_at", "-product"),
                name="listing_category_idx",
            ),
            models.Index(
                fields=("market", "subcategory", "-created_at", "-product"),
                name="listing_subcategory_idx",
            ),
            models.Index(fields=("market", "price", "product"), name="listing_price_idx"),
            models.Index(
                fields=("market", "-sales_count", "-product"), name="listing_bestselling_idx"
            ),
            models.Index(
                fields=("market", "-rating_avg", "-reviews_count", "-product"),
                name="listing_rating_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.market})"


class ListingTotal(models.Model):
    """How many products a market lists: the unfiltered catalogue's total without a count.

    Moved by the same writes as `Listing`, by the number of rows they add or
    remove (deltas commute, so concurrent catalogue edits add up exactly).
    """

    market = models.CharField(max_length=2, choices=Market.choices, primary_key=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.market}: {self.count}"


class ListingFacet(models.Model):
    """The read model's filter choices: each size and colour a listed product has.

    One row per (market, product, size) and per (market, product, colour) over
    the product's active SKUs, for products listed in that market. Facet counts
    are then an index-only walk of `listing_facet_value_idx` in value order (a
    streaming GROUP BY with no sort and no join to SKUs). Written with the
    product's `Listing` rows by `products.services.listing`.
    """

    SIZE = "size"
    COLOR = "color"

    market = models.CharField(max_length=2, choices=Market.choices)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    facet = models.CharField(max_length=5, choices=((SIZE, "size"), (COLOR, "colour")))
    value = models.CharField(max_length=50)
    # Colours only: the largest hex among the product's SKUs of that colour (facets show MAX).
    color_hex = models.CharField(max_length=7, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("market", "facet", "value", "product"), name="listing_facet_unique"
            ),
            market_check("listing_facet_market_valid"),
        ]
        indexes = [
            models.Index(
                fields=("market", "facet", "value", "product", "color_hex"),
                name="listing_facet_value_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.facet}={self.value} ({self.market})"


class Cart(TimeStampedModel):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cart"
    )

    class Meta:
        ordering = ("-updated_at",)

    def __str__(self) -> str:
        return f"Cart of {self.user}"


class CartItem(TimeStampedModel):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="cart_items")
    quantity = models.PositiveSmallIntegerField(default=1)
    # The unit price when the line was added, to flag a price change at checkout.
    unit_price_at_add = money_field(null=True, blank=True)

    class Meta:
        ordering = ("cart", "created_at", "id")
        constraints = [
            models.UniqueConstraint(fields=("cart", "sku"), name="cart_item_cart_sku_unique"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1, quantity__lte=CART_LINE_QTY_CEILING),
                name="cart_item_quantity_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku.code}"


class Wishlist(TimeStampedModel):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wishlist"
    )

    class Meta:
        ordering = ("-updated_at",)

    def __str__(self) -> str:
        return f"Wishlist of {self.user}"


class WishlistItem(models.Model):
    wishlist = models.ForeignKey(Wishlist, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="wishlist_items")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("wishlist", "product"), name="wishlist_item_product_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} in {self.wishlist}"
