from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Sum

from main.admin_mixins import (
    InvalidatesCatalogueCacheMixin,
    SuperuserOnlyAdminMixin,
    ViewOnlyAdminMixin,
    short_column,
    thumbnail_column,
)
from main.markets import Market
from products.forms import ProductImageForm, ProductImageUploadMixin
from products.models import (
    SKU,
    Cart,
    CartItem,
    Category,
    Listing,
    ListingFacet,
    ListingTotal,
    Product,
    ProductFeature,
    ProductImage,
    ProductPrice,
    Subcategory,
    Wishlist,
    WishlistItem,
)
from products.services.listing import lock_products
from products.services.stock import StockAdjustmentRefused, sku_save

# --- Catalogue ---------------------------------------------------------------


class SubcategoryInline(admin.TabularInline):
    model = Subcategory
    extra = 0
    fields = ("name", "slug", "image", "sort_order", "is_active")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Category)
class CategoryAdmin(InvalidatesCatalogueCacheMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "market", "sort_order", "is_active")
    list_editable = ("sort_order", "is_active")
    list_filter = ("market", "is_active")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (SubcategoryInline,)


@admin.register(Subcategory)
class SubcategoryAdmin(InvalidatesCatalogueCacheMixin, admin.ModelAdmin):
    list_display = ("name", "category", "slug", "sort_order", "is_active")
    list_editable = ("sort_order", "is_active")
    list_filter = ("category__market", "is_active", "category")
    search_fields = ("name", "slug", "category__name")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("category",)

    def get_queryset(self, request):
        # __str__ names the category: join it for the changelist and autocomplete alike.
        return super().get_queryset(request).select_related("category")


class ProductPriceInline(admin.TabularInline):
    model = ProductPrice
    fields = ("market", "price", "original_price")
    extra = max_num = len(Market.values)


class SKUForm(forms.ModelForm):
    """Stock is never saved from the form: staff enter a change, applied as a delta.

    A checkout may sell units while the page is open; a delta keeps those sales.
    """

    stock_adjustment = forms.IntegerField(
        required=False,
        initial=0,
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text="Units to add (negative to remove). A new SKU starts with this many.",
        widget=forms.NumberInput(attrs={"style": "width: 6em"}),
    )
    refused: str = ""  # set when a checkout took the units between form check and save

    class Meta:
        model = SKU
        fields = ("product", "code", "size", "color", "color_hex", "is_active")
        # Sized to what they hold, so the SKU table fits a 1400 px screen.
        widgets = {
            "code": forms.TextInput(attrs={"size": 30}),
            "size": forms.TextInput(attrs={"size": 8}),
            "color": forms.TextInput(attrs={"size": 14}),
            "color_hex": forms.TextInput(attrs={"size": 8}),
        }

    def clean_stock_adjustment(self):
        delta = self.cleaned_data.get("stock_adjustment") or 0
        current = SKU.objects.filter(pk=self.instance.pk).values_list("stock", flat=True).first()
        if delta < 0 and -delta > (current or 0):
            raise forms.ValidationError(f"Only {current or 0} in stock: cannot remove {-delta}.")
        return delta

    def save(self, commit=True):
        sku = super().save(commit=False)
        if commit:
            self.save_sku()
        return sku

    def save_sku(self) -> SKU:
        try:
            return sku_save(
                sku=self.instance,
                changed=self.changed_data,
                stock_adjustment=self.cleaned_data.get("stock_adjustment") or 0,
            )
        except StockAdjustmentRefused as refusal:
            self.refused = f"{self.instance.code}: {refusal.detail} Stock not changed."
            return self.instance


def report_refused_adjustments(model_admin, request, forms_) -> None:
    for form in forms_:
        if getattr(form, "refused", ""):
            model_admin.message_user(request, form.refused, messages.ERROR)


class SKUInline(admin.TabularInline):
    model = SKU
    form = SKUForm
    fields = ("code", "size", "color", "color_hex", "stock", "stock_adjustment", "is_active")
    readonly_fields = ("stock",)
    extra = 1


_image_preview = thumbnail_column("image", "Preview")


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageForm  # uploads checked and re-encoded (products.forms)
    fields = ("preview", "image", "alt_text", "color", "sort_order")
    readonly_fields = ("preview",)
    extra = 1
    preview = _image_preview


class ProductFeatureInline(admin.TabularInline):
    model = ProductFeature
    fields = ("name", "value", "sort_order")
    extra = 1


class ProductForm(ProductImageUploadMixin, forms.ModelForm):
    def clean(self):
        data = super().clean()
        category, subcategory = data.get("category"), data.get("subcategory")
        if category and subcategory and subcategory.category_id != category.pk:
            self.add_error("subcategory", "Pick a subcategory of the chosen category.")
        return data


# Product fields staff edit; the figures (rating, reviews, sales, returns) belong to services.
COUNTER_SAFE_FIELDS = (
    "name", "slug", "brand", "description", "main_image", "category", "subcategory",
    "market", "is_active", "is_featured",
)  # fmt: skip


@admin.register(Product)
class ProductAdmin(InvalidatesCatalogueCacheMixin, admin.ModelAdmin):
    form = ProductForm
    # The subcategory column names its category ("Men / Shirts"): one column for both.
    list_display = (
        "thumb",
        "name",
        "subcategory",
        "market",
        "price_list",
        "total_stock",
        "active",
        "featured",
        "rating",
        "reviews",
        "sold",
    )
    list_display_links = ("thumb", "name")
    active = short_column("is_active", "Active", boolean=True)
    featured = short_column("is_featured", "Featured", boolean=True)
    list_filter = ("market", "is_active", "is_featured", "category")
    list_select_related = ("category", "subcategory__category")
    search_fields = ("name", "slug", "brand", "skus__code")
    date_hierarchy = "created_at"
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("category", "subcategory")
    figures = (
        "rating_avg",
        "reviews_count",
        "sales_count",
        "returned_too_small_count",
        "returned_too_large_count",
        "created_at",
        "updated_at",
    )
    readonly_fields = (*figures, "main_image_preview")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "slug",
                    "brand",
                    "description",
                    "main_image_preview",
                    "main_image",
                )
            },
        ),
        (
            "Catalogue",
            {"fields": ("category", "subcategory", "market", "is_active", "is_featured")},
        ),
        ("Figures (kept by services)", {"fields": figures}),
    )
    inlines = (ProductPriceInline, SKUInline, ProductImageInline, ProductFeatureInline)

    def save_model(self, request, obj, form, change):
        if change:
            # Lock order as in checkout (SKUs, then the product): no deadlock with it.
            list(
                SKU.objects.select_for_update(no_key=True)
                .filter(product=obj)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            # Never write back the counters services keep (sales, rating) from a stale page.
            fields = [name for name in form.changed_data if name in COUNTER_SAFE_FIELDS]
            if fields:
                obj.save(update_fields=[*fields, "updated_at"])
        else:
            obj.save()
        self._invalidate_after_commit()

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        report_refused_adjustments(self, request, formset.forms)

    def get_queryset(self, request):
        # A correlated subquery, not a join: the changelist's COUNT and date queries stay plain.
        stock = SKU.objects.filter(product=OuterRef("pk")).values("product")
        stock_total = Subquery(stock.annotate(total=Sum("stock")).values("total"))
        qs = super().get_queryset(request).annotate(stock_total=stock_total)
        return qs.prefetch_related("prices")

    @admin.display(description="Prices")
    def price_list(self, obj):
        return ", ".join(f"{p.price} {p.currency}" for p in obj.prices.all()) or "—"

    def delete_queryset(self, request, queryset):
        # Products in id order first: each one's deletion then reads its listing under its lock.
        with transaction.atomic():
            lock_products(queryset.values_list("pk", flat=True))
            super().delete_queryset(request, queryset)

    @admin.display(description="Stock", ordering="stock_total")
    def total_stock(self, obj):
        return obj.stock_total or 0

    thumb = thumbnail_column("main_image", "Image", size=48)
    main_image_preview = thumbnail_column("main_image", "Main image (current)", size=160)

    @admin.display(description="Rating", ordering="rating_avg")
    def rating(self, obj):
        return obj.rating_avg

    @admin.display(description="Reviews", ordering="reviews_count")
    def reviews(self, obj):
        return obj.reviews_count

    @admin.display(description="Sold", ordering="sales_count")
    def sold(self, obj):
        return obj.sales_count


class _ProductChildAdmin(InvalidatesCatalogueCacheMixin, admin.ModelAdmin):
    """Images, features, SKUs and prices: rows of a product, whose read model they move.

    A write of several rows at once (delete selected, a changelist save)
    first locks all their products in id order (`lock_products`).
    """

    list_select_related = ("product",)
    list_filter = ("product__market",)
    search_fields = ("product__name",)
    autocomplete_fields = ("product",)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            lock_products(queryset.values_list("product_id", flat=True))
            super().delete_queryset(request, queryset)

    def changelist_view(self, request, extra_context=None):
        if request.method != "POST" or "_save" not in request.POST:
            return super().changelist_view(request, extra_context)
        ids = [
            value
            for name, value in request.POST.items()
            if name.startswith("form-") and name.endswith("-id") and value.isdigit()
        ]
        with transaction.atomic():
            rows = self.model.objects.filter(pk__in=ids)
            lock_products(rows.values_list("product_id", flat=True))
            return super().changelist_view(request, extra_context)


@admin.register(ProductImage)
class ProductImageAdmin(_ProductChildAdmin):
    form = ProductImageForm
    fields = ("product", "preview", "image", "alt_text", "color", "sort_order")
    list_display = ("preview", "product", "color", "alt_text", "sort_order")
    list_display_links = ("preview", "product")
    list_filter = ("color", "product__market")
    readonly_fields = ("preview",)
    preview = _image_preview


@admin.register(ProductFeature)
class ProductFeatureAdmin(_ProductChildAdmin):
    list_display = ("product", "name", "value", "sort_order")
    search_fields = ("product__name", "name", "value")


@admin.register(SKU)
class SKUAdmin(_ProductChildAdmin):
    form = SKUForm
    list_display = ("code", "product", "size", "color", "stock", "is_active")
    list_editable = ("is_active",)
    list_filter = ("product__market", "is_active", "size")
    search_fields = ("code", "product__name")
    fields = (
        "product", "code", "size", "color", "color_hex", "is_active", "stock", "stock_adjustment",
    )  # fmt: skip
    readonly_fields = ("stock",)

    def save_model(self, request, obj, form, change):
        if isinstance(form, SKUForm):
            form.save_sku()
            report_refused_adjustments(self, request, [form])
        else:  # the changelist's list_editable form: is_active only
            obj.save(update_fields=("is_active", "updated_at"))
        self._invalidate_after_commit()


@admin.register(ProductPrice)
class ProductPriceAdmin(_ProductChildAdmin):
    list_display = ("product", "market", "price", "original_price", "updated_at")
    list_filter = ("market",)


# --- Carts and wishlists (customer state: staff look and tidy up) ------------


class CartItemInline(admin.TabularInline):
    model = CartItem
    fields = ("sku", "quantity", "unit_price_at_add")
    readonly_fields = ("unit_price_at_add",)
    autocomplete_fields = ("sku",)
    extra = 0


@admin.register(Cart)
class CartAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "item_count", "updated_at")
    list_filter = ("user__market",)
    search_fields = ("user__phone", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)
    inlines = (CartItemInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").annotate(Count("items"))

    @admin.display(description="Items", ordering="items__count")
    def item_count(self, obj):
        return obj.items__count


@admin.register(CartItem)
class CartItemAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("cart", "sku", "quantity", "unit_price_at_add", "updated_at")
    list_select_related = ("cart__user", "sku")
    list_filter = ("cart__user__market",)
    search_fields = ("cart__user__phone", "sku__code")
    autocomplete_fields = ("cart", "sku")


class WishlistItemInline(admin.TabularInline):
    model = WishlistItem
    fields = ("product", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("product",)
    extra = 0


@admin.register(Wishlist)
class WishlistAdmin(admin.ModelAdmin):
    list_display = ("user", "item_count", "updated_at")
    list_filter = ("user__market",)
    search_fields = ("user__phone", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)
    inlines = (WishlistItemInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").annotate(Count("items"))

    @admin.display(description="Items", ordering="items__count")
    def item_count(self, obj):
        return obj.items__count


@admin.register(WishlistItem)
class WishlistItemAdmin(admin.ModelAdmin):
    list_display = ("product", "wishlist", "created_at")
    list_select_related = ("product", "wishlist__user")
    list_filter = ("wishlist__user__market",)
    search_fields = ("wishlist__user__phone", "product__name")
    autocomplete_fields = ("wishlist", "product")


@admin.register(Listing)
class ListingAdmin(SuperuserOnlyAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    """The catalogue's read model: what the storefront lists, kept by code from the products."""

    list_display = ("name", "market", "price", "in_stock", "sales_count", "created_at")
    list_filter = ("market", "in_stock")
    search_fields = ("name", "slug")
    list_select_related = ("product",)


@admin.register(ListingFacet)
class ListingFacetAdmin(SuperuserOnlyAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    """The read model's sizes and colours per listed product (facet counts read them)."""

    list_display = ("product", "market", "facet", "value", "color_hex")
    list_filter = ("market", "facet")
    list_select_related = ("product",)


@admin.register(ListingTotal)
class ListingTotalAdmin(SuperuserOnlyAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    """How many products each market lists (the unfiltered catalogue's total)."""

    list_display = ("market", "count")
