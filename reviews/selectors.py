"""Review reads for the API."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.models import ReturnItem
from orders.services.returns import SIZE_REASONS
from products.models import Product
from reviews.models import Review


def product_reviews(*, product: Product) -> QuerySet[Review]:
    """Approved reviews, newest first, with author and images."""
    return (
        Review.objects.filter(product=product, is_approved=True)
        .select_related("user")
        .prefetch_related("images")
        .order_by("-created_at", "-id")
    )


def return_sized_product_ids(*, return_id: int) -> list[int]:
    """The products a return sends back for a size reason (what its fit counts touch)."""
    return sorted(
        set(
            ReturnItem.objects.filter(
                return_request_id=return_id,
                reason__in=list(SIZE_REASONS),
                order_item__product_id__isnull=False,
            ).values_list("order_item__product_id", flat=True)
        )
    )
