from django.contrib import admin

from banners.models import Banner
from main.admin_mixins import InvalidatesCatalogueCacheMixin, thumbnail_column


@admin.register(Banner)
class BannerAdmin(InvalidatesCatalogueCacheMixin, admin.ModelAdmin):
    list_display = (
        "thumb",
        "title",
        "banner_type",
        "market",
        "category",
        "sort_order",
        "is_active",
        "starts_at",
        "ends_at",
        "view_count",
        "click_count",
        "ctr_percent",
    )
    list_display_links = ("thumb", "title")
    list_editable = ("sort_order", "is_active")
    list_filter = ("market", "banner_type", "is_active", "category")
    list_select_related = ("category",)
    search_fields = ("title", "subtitle", "link_url")
    autocomplete_fields = ("category",)
    fieldsets = (
        (None, {"fields": ("title", "subtitle", "banner_type", "link_url", "category")}),
        ("Images", {"fields": ("image_preview", "image", "mobile_image_preview", "mobile_image")}),
        (
            "Where and when",
            {"fields": ("market", "sort_order", "is_active", "starts_at", "ends_at")},
        ),
        # Counters are written by the banner services with F(), never by hand.
        ("Performance", {"fields": ("view_count", "click_count", "ctr_percent")}),
    )
    readonly_fields = (
        "view_count",
        "click_count",
        "ctr_percent",
        "image_preview",
        "mobile_image_preview",
    )

    thumb = thumbnail_column("image", "Image", size=48)
    image_preview = thumbnail_column("image", "Image (current)", size=160)
    mobile_image_preview = thumbnail_column("mobile_image", "Mobile image (current)", size=160)

    @admin.display(description="CTR, %")
    def ctr_percent(self, obj):
        return obj.ctr
