"""Catalogue images: uploads cleaned with Pillow, renditions made by the worker.

- `product_image_clean(upload)`: the customer-photo pipeline (`main.images`)
  with the catalogue's limits: a real JPEG, PNG or WebP of at most
  `PRODUCT_IMAGE_MAX_BYTES`, refused above `PRODUCT_IMAGE_MAX_PIXELS` (from its
  header, before decoding), its EXIF orientation applied, downscaled to
  `PRODUCT_IMAGE_MAX_SIDE` and re-encoded without metadata. The admin's forms
  call it (`products.forms`).
- Renditions: after an image is saved and committed, `products.tasks` makes
  each width of `RENDITION_WIDTHS` (no wider than the source) in WebP and
  JPEG, stores them through the default storage (`STORAGES`, local or S3) at
  a path derived from the source's (`renditions/<source stem>-<width>w.<ext>`,
  so a re-run overwrites instead of piling up), and records them on the row
  (`Product.main_image_renditions`, `ProductImage.renditions`). The read model
  copies the record with the list image, so the API never asks the storage.

A record is `{"source", "width", "height", "renditions": [{"name", "width",
"height", "format"}]}`; it belongs to the image named `source` only, so a
record left from a replaced image is ignored (`renditions_current`) until the
worker has made the new one.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import PurePosixPath
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from main.http_cache import catalogue_cache_invalidate_on_commit
from main.images import CleanImage, image_clean
from outbox.services import outbox_publish
from products.models import Product, ProductImage
from products.services.listing import listing_refresh

logger = logging.getLogger("marque.products.images")

PRODUCT_IMAGE_MAX_BYTES = 10 * 1024 * 1024
PRODUCT_IMAGE_MAX_PIXELS = 40_000_000
PRODUCT_IMAGE_MAX_SIDE = 2400
# Widths for `srcset`: list cards (320, 640 at 2x), the product page (1024, 1600 at 2x).
RENDITION_WIDTHS = (320, 640, 1024, 1600)
# Format name in the API → (Pillow format, extension, save options).
RENDITION_FORMATS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "webp": ("WEBP", "webp", {"quality": 80, "method": 4}),
    "jpeg": ("JPEG", "jpg", {"quality": 82, "optimize": True, "progressive": True}),
}
RENDITIONS_DIR = "renditions"

RENDER_PRODUCT_TASK = "products.tasks.render_product_image"
RENDER_GALLERY_TASK = "products.tasks.render_gallery_image"


def product_image_clean(upload) -> CleanImage:
    """A catalogue upload validated and re-encoded without metadata (`main.images.image_clean`).

    Raises `main.exceptions.InvalidInput` (`ImageTooLarge` above the pixel limit).
    """
    return image_clean(
        upload,
        max_bytes=PRODUCT_IMAGE_MAX_BYTES,
        max_pixels=PRODUCT_IMAGE_MAX_PIXELS,
        max_side=PRODUCT_IMAGE_MAX_SIDE,
    )


def renditions_current(name: str, record: dict | None) -> dict | None:
    """`record` when it was made from the image stored as `name`, else None."""
    if name and record and record.get("source") == name:
        return record
    return None


def rendition_widths(width: int) -> list[int]:
    """The widths made of a source `width` pixels wide: never upscaled, the source's own at most."""
    return sorted({min(target, width) for target in RENDITION_WIDTHS})


def rendition_name(source: str, width: int, extension: str) -> str:
    """Where a rendition of `source` is stored: the same name on every run."""
    stem = str(PurePosixPath(source).with_suffix(""))
    return f"{RENDITIONS_DIR}/{stem}-{width}w.{extension}"


def _opened(name: str) -> Image.Image | None:
    """The stored image `name` decoded and upright, or None when it is missing or unreadable."""
    try:
        with default_storage.open(name, "rb") as stored:
            data = stored.read()
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > PRODUCT_IMAGE_MAX_PIXELS:
                logger.warning("Renditions of %s: too many pixels, skipped", name)
                return None
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError):
        logger.warning("Renditions of %s: the file is missing or not an image", name)
        return None
    with contextlib.suppress(KeyError, TypeError, ValueError, OSError):
        image = ImageOps.exif_transpose(image) or image
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _encoded(image: Image.Image, image_format: str, options: dict[str, Any]) -> bytes:
    if image_format == "JPEG" and image.mode == "RGBA":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _stored(name: str, content: bytes) -> str:
    """Write `content` as `name`, replacing an earlier run's file; the name it was stored as."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))


def renditions_make(*, source: str) -> dict | None:
    """Make and store each rendition of stored image `source`; its record (None: unreadable)."""
    image = _opened(source)
    if image is None:
        return None
    renditions = []
    for label, (image_format, extension, options) in RENDITION_FORMATS.items():
        for width in rendition_widths(image.width):
            height = max(1, round(image.height * width / image.width))
            resized = (
                image
                if width == image.width
                else image.resize((width, height), Image.Resampling.LANCZOS)
            )
            name = _stored(
                rendition_name(source, width, extension), _encoded(resized, image_format, options)
            )
            renditions.append({"name": name, "width": width, "height": height, "format": label})
    return {
        "source": source,
        "width": image.width,
        "height": image.height,
        "renditions": renditions,
    }


def product_image_render(*, product_id: int) -> bool:
    """Renditions of the product's main image, recorded unless the image changed meanwhile."""
    source = Product.objects.filter(pk=product_id).values_list("main_image", flat=True).first()
    record = renditions_make(source=source) if source else None
    if record is None:
        return False
    with transaction.atomic():
        updated = Product.objects.filter(pk=product_id, main_image=source).update(
            main_image_renditions=record
        )
        if updated:
            listing_refresh([product_id])  # the list image's record is copied to the read model
            catalogue_cache_invalidate_on_commit()
    return bool(updated)


def gallery_image_render(*, image_id: int) -> bool:
    """Renditions of one gallery image, recorded unless the image changed meanwhile."""
    row = ProductImage.objects.filter(pk=image_id).values("image", "product_id").first()
    record = renditions_make(source=row["image"]) if row and row["image"] else None
    if record is None:
        return False
    with transaction.atomic():
        updated = ProductImage.objects.filter(pk=image_id, image=row["image"]).update(
            renditions=record
        )
        if updated:
            listing_refresh([row["product_id"]])  # it may be the product's list image
            catalogue_cache_invalidate_on_commit()
    return bool(updated)


def renditions_queue(instance: Product | ProductImage) -> bool:
    """Queue the worker for `instance`'s image when it has no current record; True when queued.

    Through the outbox, in the caller's transaction: the task runs after commit
    and is sent again if the broker was down.
    """
    if isinstance(instance, Product):
        name, record = instance.main_image.name, instance.main_image_renditions
        task = RENDER_PRODUCT_TASK
    else:
        name, record, task = instance.image.name, instance.renditions, RENDER_GALLERY_TASK
    if not name or renditions_current(name, record) is not None:
        return False
    outbox_publish(task, instance.pk)
    return True


def on_image_saved(sender, instance, raw=False, **kwargs) -> None:
    """A product or gallery image was saved (staff, services, seeders): renditions follow."""
    if not raw:
        renditions_queue(instance)
