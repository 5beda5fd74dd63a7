"""Verified-buyer reviews: who may write one, what a review may hold, and the product's rating.

Rules (docs/REVIEWS.md):

- Only a user with a **delivered** order item of the product may review it
  (403 `not_a_buyer`), once per product (409 `review_exists`; the unique
  constraint `review_user_product_unique` settles a race the same way).
- Up to `REVIEW_MAX_IMAGES` images, each at most `REVIEW_IMAGE_MAX_BYTES`, a
  real JPEG, PNG or WebP (Pillow `verify()` and a full decode). An image over
  `settings.REVIEW_IMAGE_MAX_PIXELS` is refused from its header, before any
  decode (400 `image_too_large`). What passes is downscaled to
  `settings.REVIEW_IMAGE_MAX_SIDE` on its long side and re-encoded before
  storage so no metadata (EXIF with GPS, comments, ICC, XMP) survives.
- `Product.rating_avg` / `reviews_count`, the star distribution
  (`rating_1_count` … `rating_5_count`) and the fit counts
  (`fit_runs_small_count`, `fit_true_to_size_count`, `fit_runs_large_count`)
  are recomputed from the approved reviews with one aggregate while the
  product row is locked, never `+= 1`: `product_rating_refresh()` is the only
  writer of those fields, so the catalogue reads them without touching reviews.
- The fit summary has a second source, size returns (SPEC §10): return lines
  with reason `size_too_small` / `size_too_large` in returns that are not
  rejected or cancelled, counted per product into `returned_too_small_count` /
  `returned_too_large_count` by `product_fit_refresh()`, their only writer, the
  same way (the product rows locked, then one aggregate). The reviews app keeps
  them because it may read both orders and products; products may read neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from main.exceptions import ApplicationError, Conflict, InvalidInput
from main.http_cache import catalogue_cache_invalidate_on_commit
from main.images import IMAGE_MAX_BYTES, CleanImage, images_clean
from orders.models import OrderItem, OrderStatus, ReturnItem, ReturnReason
from orders.services.returns import DEAD
from products.models import Product
from products.services.listing import listing_copy
from reviews.models import Review, ReviewFit, ReviewImage

REVIEW_MAX_IMAGES = 5
# Images go through `main.images` (size, format and pixel limits, metadata stripped).
REVIEW_IMAGE_MAX_BYTES = IMAGE_MAX_BYTES
REVIEW_TITLE_MAX_LENGTH = 200  # the model's column
REVIEW_TEXT_MAX_LENGTH = 5000


class NotABuyer(ApplicationError):
    status_code = 403
    code = "not_a_buyer"
    default_detail = "Only customers who received this product can review it."


class ReviewExists(Conflict):
    code = "review_exists"
    default_detail = "You have already reviewed this product."


def review_images_clean(uploads: Sequence) -> list[CleanImage]:
    return images_clean(uploads, at_most=REVIEW_MAX_IMAGES, what="A review")


def _delivered_item(*, user, product_id: int) -> OrderItem | None:
    """The user's most recently delivered order item of the product, if any."""
    return (
        OrderItem.objects.filter(
            order__user=user, order__status=OrderStatus.DELIVERED, product_id=product_id
        )
        .order_by("-order__delivered_at", "-id")
        .first()
    )


# The Product counters kept from approved reviews: star → field, fit → field.
RATING_COUNT_FIELDS = {star: f"rating_{star}_count" for star in range(1, 6)}
FIT_COUNT_FIELDS = {fit: f"fit_{fit}_count" for fit in ReviewFit.values}


def product_rating_refresh(*, product_id: int) -> Product | None:
    """Recompute the product's review figures from its approved reviews.

    The figures: `rating_avg`, `reviews_count`, the star distribution
    (`rating_<1-5>_count`) and the fit counts (`fit_<fit>_count`), all from
    one aggregate. Locks the product row first (`SELECT … FOR NO KEY UPDATE`:
    it does not block inserts of rows that reference the product), then
    aggregates, so two transactions refreshing the same product serialise and
    the second one's aggregate sees the first one's review. Call it inside the
    transaction that changed the reviews. The average is exact (sum / count,
    rounded half up to two decimals). Returns the product, or None when it no
    longer exists.
    """
    with transaction.atomic():
        product = Product.objects.select_for_update(no_key=True).filter(pk=product_id).first()
        if product is None:
            return None
        counters = {
            **{
                field: Count("id", filter=Q(rating=star))
                for star, field in RATING_COUNT_FIELDS.items()
            },
            **{field: Count("id", filter=Q(fit=fit)) for fit, field in FIT_COUNT_FIELDS.items()},
        }
        figures = Review.objects.filter(product_id=product_id, is_approved=True).aggregate(
            count=Count("id"), total=Sum("rating"), **counters
        )
        count = figures["count"] or 0
        average = (
            (Decimal(figures["total"]) / count).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if count
            else Decimal("0.00")
        )
        values = {
            "rating_avg": average,
            "reviews_count": count,
            **{field: figures[field] or 0 for field in counters},
        }
        for field, value in values.items():
            setattr(product, field, value)
        Product.objects.filter(pk=product_id).update(**values)
        listing_copy(product_id, values)
    return product


# Return lines per size reason → the Product counter they keep (the other reasons say
# nothing about fit).
RETURNED_COUNT_FIELDS = {
    ReturnReason.SIZE_TOO_SMALL: "returned_too_small_count",
    ReturnReason.SIZE_TOO_LARGE: "returned_too_large_count",
}


def product_fit_refresh(*, product_ids: Iterable[int]) -> list[int]:
    """Recompute the products' size-return counts from the return lines; the ids that moved.

    A line counts once whatever its quantity (one customer's verdict, as a
    review is), while its return is not rejected or cancelled. Locks the
    products' rows in id order (`FOR NO KEY UPDATE`, the order checkout takes
    them in), then aggregates, so two refreshes of one product serialise and
    the second sees every return committed before it. Only products whose
    counts changed are written, and only then is the catalogue cache
    invalidated (after commit): most status moves of a return change nothing.
    """
    ids = sorted({pk for pk in product_ids if pk is not None})
    if not ids:
        return []
    fields = tuple(RETURNED_COUNT_FIELDS.values())
    changed = []
    with transaction.atomic():
        stored = {
            row.pop("pk"): row
            for row in Product.objects.select_for_update(no_key=True)
            .filter(pk__in=ids)
            .order_by("pk")
            .values("pk", *fields)
        }
        counted = {
            row.pop("order_item__product_id"): row
            for row in ReturnItem.objects.filter(
                order_item__product_id__in=list(stored), reason__in=list(RETURNED_COUNT_FIELDS)
            )
            .exclude(return_request__status__in=DEAD)
            .values("order_item__product_id")
            .annotate(
                **{
                    field: Count("id", filter=Q(reason=reason))
                    for reason, field in RETURNED_COUNT_FIELDS.items()
                }
            )
            .order_by()
        }
        for product_id, before in stored.items():
            values = {field: counted.get(product_id, {}).get(field, 0) for field in fields}
            if values != before:
                Product.objects.filter(pk=product_id).update(**values)
                listing_copy(product_id, values)  # nothing today: the list shows no fit
                changed.append(product_id)
        if changed:
            catalogue_cache_invalidate_on_commit()
    return changed


def _products_refresh(product_ids: Iterable[int]) -> None:
    # Ascending id order: two moderators touching the same products never deadlock.
    for product_id in sorted(set(product_ids)):
        product_rating_refresh(product_id=product_id)


def review_create(
    *,
    user,
    product_id: int,
    rating: int,
    title: str = "",
    text: str = "",
    fit: str = "",
    images: Sequence = (),
) -> Review:
    """A verified buyer's review of a product, with its images.

    Checks, in order: the product exists (400), the user has a delivered order
    item of it (403 `not_a_buyer`), no review yet (409 `review_exists`), the
    images (400). Images are decoded and stored before the transaction opens,
    so the product lock is held only for the inserts. The review is approved at once
    unless `REVIEWS_REQUIRE_APPROVAL`; an approved review refreshes the
    product's rating and, after commit, the catalogue cache.
    """
    if not Product.objects.filter(pk=product_id).exists():
        message = f"No product with id {product_id}."
        raise InvalidInput("Unknown product.", errors={"product_id": [message]})
    order_item = _delivered_item(user=user, product_id=product_id)
    if order_item is None:
        raise NotABuyer()
    if Review.objects.filter(user=user, product_id=product_id).exists():
        raise ReviewExists()
    clean_images = review_images_clean(images)
    approved = not settings.REVIEWS_REQUIRE_APPROVAL
    # Files are written before the product lock is taken: storage can be slow (S3),
    # and checkouts of this product queue on that lock for their sales count.
    field = ReviewImage._meta.get_field("image")
    stored = [
        field.storage.save(
            field.generate_filename(None, f"{uuid.uuid4().hex}.{clean.extension}"),
            ContentFile(clean.content),
        )
        for clean in clean_images
    ]

    with transaction.atomic():
        # The product lock comes first: every review write for one product
        # queues here, before any row that would take a key-share lock on it.
        Product.objects.select_for_update(no_key=True).filter(pk=product_id).first()
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    user=user,
                    product_id=product_id,
                    order_item=order_item,
                    rating=rating,
                    title=title,
                    text=text,
                    fit=fit,
                    is_approved=approved,
                )
        except IntegrityError:
            if Review.objects.filter(user=user, product_id=product_id).exists():
                raise ReviewExists() from None
            raise
        ReviewImage.objects.bulk_create(
            ReviewImage(review=review, sort_order=position, image=name)
            for position, name in enumerate(stored)
        )
        if approved:
            product_rating_refresh(product_id=product_id)
            catalogue_cache_invalidate_on_commit()
    return review


@transaction.atomic
def reviews_set_approved(*, review_ids: Iterable[int], approved: bool) -> int:
    """Approve or unapprove reviews (moderation); refreshes the ratings it changed.

    Returns how many reviews changed. The catalogue cache is invalidated after
    commit when any did, so ratings, fit summaries and review lists show it.
    """
    changed = Review.objects.filter(pk__in=list(review_ids)).exclude(is_approved=approved)
    product_ids = list(changed.values_list("product_id", flat=True))
    count = changed.update(is_approved=approved, updated_at=timezone.now())
    if count:
        _products_refresh(product_ids)
        catalogue_cache_invalidate_on_commit()
    return count


@transaction.atomic
def reviews_delete(*, review_ids: Iterable[int]) -> int:
    """Delete reviews (with their images) and refresh the ratings of their products."""
    reviews = Review.objects.filter(pk__in=list(review_ids))
    product_ids = list(reviews.values_list("product_id", flat=True))
    reviews.delete()
    if product_ids:
        _products_refresh(product_ids)
        catalogue_cache_invalidate_on_commit()
    return len(product_ids)
