"""Celery tasks of the products app: image renditions after an upload (docs/IMAGES.md).

Queued through the outbox by `products.services.images.renditions_queue` when a
product or gallery image is saved without a current renditions record. Each
run makes the files again at the same names and records them only if the
image is still the one it read, so a redelivery or a late run is harmless.
"""

from __future__ import annotations

from celery import shared_task

from products.services.images import gallery_image_render, product_image_render


@shared_task(acks_late=True)
def render_product_image(product_id: int) -> bool:
    """Renditions of a product's main image; True when recorded."""
    return product_image_render(product_id=product_id)


@shared_task(acks_late=True)
def render_gallery_image(image_id: int) -> bool:
    """Renditions of one gallery image; True when recorded."""
    return gallery_image_render(image_id=image_id)
