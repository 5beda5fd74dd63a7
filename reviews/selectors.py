"""Review reads for the API."""

from __future__ import annotations

from django.db.models import QuerySet

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
