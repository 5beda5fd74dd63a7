"""Review moderation in the admin.

Every write here that can change what counts (approving, unapproving, deleting
a review) refreshes the product's review figures (`rating_avg`, `reviews_count`,
the star and fit counts) through `reviews.services`, in the same transaction;
the mixin invalidates the catalogue cache after commit.
"""

from django.contrib import admin, messages

from main.admin_mixins import InvalidatesCatalogueCacheMixin, thumbnail_column
from reviews.models import Review, ReviewImage
from reviews.services import product_rating_refresh, reviews_delete, reviews_set_approved


class _CustomerContentMixin:
    """Customers write it; a moderator may look at it or delete it, never rewrite it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


_photo = thumbnail_column("image", "Photo", size=80)


class ReviewImageInline(_CustomerContentMixin, admin.TabularInline):
    model = ReviewImage
    fields = ("photo", "image", "sort_order")
    readonly_fields = ("photo",)
    extra = 0
    photo = _photo


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
    actions = ("approve_reviews", "unapprove_reviews")

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        # The change form runs in a transaction: the figures move with the flag.
        super().save_model(request, obj, form, change)
        product_rating_refresh(product_id=obj.product_id)

    def delete_model(self, request, obj):
        # The service deletes, refreshes the rating and invalidates the cache on commit.
        reviews_delete(review_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        reviews_delete(review_ids=queryset.values_list("pk", flat=True))

    def _set_approved(self, request, queryset, *, approved: bool) -> None:
        changed = reviews_set_approved(
            review_ids=queryset.values_list("pk", flat=True), approved=approved
        )
        verb = "approved" if approved else "unapproved"
        self.message_user(request, f"{changed} review(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Approve selected reviews (publish)", permissions=("change",))
    def approve_reviews(self, request, queryset):
        self._set_approved(request, queryset, approved=True)

    @admin.action(description="Unapprove selected reviews (hide)", permissions=("change",))
    def unapprove_reviews(self, request, queryset):
        self._set_approved(request, queryset, approved=False)


@admin.register(ReviewImage)
class ReviewImageAdmin(InvalidatesCatalogueCacheMixin, _CustomerContentMixin, admin.ModelAdmin):
    list_display = ("photo", "review", "image", "sort_order")
    list_display_links = ("photo", "review")
    list_select_related = ("review",)
    readonly_fields = ("photo",)
    photo = _photo
    list_filter = ("review__product__market",)
    search_fields = ("review__product__name", "review__user__phone")
