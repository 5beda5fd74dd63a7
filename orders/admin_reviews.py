"""Review moderation in the admin."""

from django.contrib import admin

from main.admin_mixins import InvalidatesCatalogueCacheMixin
from orders.models import Review, ReviewImage


class _CustomerContentMixin:
    """Customers write it; a moderator may look at it or delete it, never rewrite it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReviewImageInline(_CustomerContentMixin, admin.TabularInline):
    model = ReviewImage
    fields = ("image", "sort_order")
    extra = 0


@admin.register(Review)
class ReviewAdmin(InvalidatesCatalogueCacheMixin, admin.ModelAdmin):
    """Moderation: staff approve or delete reviews; the words and images stay the customer's."""

    list_display = ("product", "user", "rating", "fit", "title", "is_approved", "created_at")
    list_select_related = ("product", "user")
    list_filter = ("is_approved", "rating", "fit", "product__market")
    search_fields = ("product__name", "user__phone", "title", "text")
    date_hierarchy = "created_at"
    readonly_fields = (
        "user",
        "product",
        "order_item",
        "rating",
        "fit",
        "title",
        "text",
        "created_at",
        "updated_at",
    )
    fields = ("is_approved", *readonly_fields)
    inlines = (ReviewImageInline,)

    def has_add_permission(self, request):
        return False


@admin.register(ReviewImage)
class ReviewImageAdmin(InvalidatesCatalogueCacheMixin, _CustomerContentMixin, admin.ModelAdmin):
    list_display = ("review", "image", "sort_order")
    list_select_related = ("review",)
    list_filter = ("review__product__market",)
    search_fields = ("review__product__name", "review__user__phone")
