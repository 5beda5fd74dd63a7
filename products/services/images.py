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

- Clean-up: when a new record replaces an older one, and when a product or a
  gallery image is deleted (`on_image_deleted`), the rendition files no
  longer recorded are deleted after commit (`renditions_discard_on_commit`).
  Only files under `renditions/`, never one that a current record still names,
  never a source image (uploads stay, as Django leaves them).
- `renditions_backfill`: renditions for images stored without a current record
  (`manage.py render_images`; the demo seed's gallery images, made with
  `bulk_create`, which sends no signals).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.fields.json import KT
from PIL import Image, ImageOps, UnidentifiedImageError

from main.http_cache import catalogue_cache_invalidate_on_commit
from main.images import CleanImage, image_clean
from outbox.services import outbox_publish, outbox_publish_all
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
# Rows read (and, when queued, messages written) per query by `renditions_backfill`, and
# images it encodes at once (threads: Pillow encodes without the GIL).
BACKFILL_BATCH = 200
BACKFILL_WORKERS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Slot:
    """Where one kind of catalogue image lives: its row, file field, record field and product."""

    model: type[models.Model]
    image: str
    record: str
    product: str  # the product's id, seen from the row
    task: str


_MAIN = _Slot(Product, "main_image", "main_image_renditions", "pk", RENDER_PRODUCT_TASK)
_GALLERY = _Slot(ProductImage, "image", "renditions", "product_id", RENDER_GALLERY_TASK)


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


_UNREADABLE = (
    OSError,
    UnidentifiedImageError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
)


def _read(name: str) -> bytes | None:
    """The stored file `name`, or None when it is missing or cannot be read."""
    try:
        with default_storage.open(name, "rb") as stored:
            return stored.read()
    except _UNREADABLE:
        logger.warning("Renditions of %s: the file is missing or not an image", name)
        return None


def _decoded(name: str, data: bytes) -> Image.Image | None:
    """`data` (the file `name`) decoded and upright, or None when it is not an image."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > PRODUCT_IMAGE_MAX_PIXELS:
                logger.warning("Renditions of %s: too many pixels, skipped", name)
                return None
        image = Image.open(io.BytesIO(data))
        image.load()
    except _UNREADABLE:
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


def _renditions_encoded(source: str, data: bytes | None) -> dict | None:
    """The record of `source` (its file's bytes `data`) with each rendition's `content`, unstored.

    Pixels only, no storage and no database: safe on a thread of `renditions_backfill`.
    """
    image = _decoded(source, data) if data is not None else None
    if image is None:
        return None
    sized = {}
    for width in rendition_widths(image.width):  # each width resized once, encoded per format
        height = max(1, round(image.height * width / image.width))
        sized[width] = (
            image
            if width == image.width
            else image.resize((width, height), Image.Resampling.LANCZOS)
        )
    renditions = [
        {
            "name": rendition_name(source, width, extension),
            "width": width,
            "height": resized.height,
            "format": label,
            "content": _encoded(resized, image_format, options),
        }
        for label, (image_format, extension, options) in RENDITION_FORMATS.items()
        for width, resized in sized.items()
    ]
    return {
        "source": source,
        "width": image.width,
        "height": image.height,
        "renditions": renditions,
    }


def _renditions_stored(encoded: dict) -> dict:
    """Store each rendition of an encoded record; the record, with the names they were stored as."""
    renditions = [
        {
            "name": _stored(item["name"], item["content"]),
            "width": item["width"],
            "height": item["height"],
            "format": item["format"],
        }
        for item in encoded["renditions"]
    ]
    return {**encoded, "renditions": renditions}


def renditions_make(*, source: str) -> dict | None:
    """Make and store each rendition of stored image `source`; its record (None: unreadable)."""
    encoded = _renditions_encoded(source, _read(source))
    return _renditions_stored(encoded) if encoded is not None else None


def _record(slot: _Slot, *, pk: int, source: str, record: dict) -> int | None:
    """Write `record` on row `pk` if it still holds `source`; its product's id (None: not written).

    In the caller's transaction. The files of the record it replaces that the
    new one does not name are deleted after commit; so are the new files when
    the row is gone or holds another image by now (nothing will name them).
    """
    row = (
        slot.model.objects.filter(pk=pk, **{slot.image: source})
        .values_list(slot.record, slot.product)
        .first()
    )
    if row is None:
        renditions_discard_on_commit(record)
        return None
    previous, product_id = row
    slot.model.objects.filter(pk=pk, **{slot.image: source}).update(**{slot.record: record})
    renditions_discard_on_commit(previous, keep=record)
    return product_id


def _render(slot: _Slot, *, pk: int, source: str) -> bool:
    """Make and record the renditions of one row's image, then refresh its product's listing."""
    record = renditions_make(source=source)
    if record is None:
        return False
    with transaction.atomic():
        product_id = _record(slot, pk=pk, source=source, record=record)
        if product_id is not None:
            listing_refresh([product_id])  # it may be the product's list image
            catalogue_cache_invalidate_on_commit()
    return product_id is not None


def product_image_render(*, product_id: int) -> bool:
    """Renditions of the product's main image, recorded unless the image changed meanwhile.

    A product whose main image was cleared loses its record, and its files after commit.
    """
    source = Product.objects.filter(pk=product_id).values_list("main_image", flat=True).first()
    if source is None:
        return False
    if not source:
        with transaction.atomic():
            cleared = Product.objects.filter(pk=product_id, main_image="")
            previous = cleared.values_list("main_image_renditions", flat=True).first()
            if previous:
                cleared.update(main_image_renditions={})
                renditions_discard_on_commit(previous)
        return False
    return _render(_MAIN, pk=product_id, source=source)


def gallery_image_render(*, image_id: int) -> bool:
    """Renditions of one gallery image, recorded unless the image changed meanwhile."""
    source = ProductImage.objects.filter(pk=image_id).values_list("image", flat=True).first()
    return bool(source) and _render(_GALLERY, pk=image_id, source=source)


def renditions_queue(instance: Product | ProductImage) -> bool:
    """Queue the worker for `instance`'s image when it has no current record; True when queued.

    Also for a main image cleared while a record is left: the worker drops it and
    its files. Through the outbox, in the caller's transaction: the task runs
    after commit and is sent again if the broker was down.
    """
    if isinstance(instance, Product):
        name, record = instance.main_image.name, instance.main_image_renditions
        task = RENDER_PRODUCT_TASK
    else:
        name, record, task = instance.image.name, instance.renditions, RENDER_GALLERY_TASK
    if name and renditions_current(name, record) is not None:
        return False
    if not name and not record:
        return False  # no image and nothing to clear (a cleared one: the worker drops its files)
    outbox_publish(task, instance.pk)
    return True


def on_image_saved(sender, instance, raw=False, **kwargs) -> None:
    """A product or gallery image was saved (staff, services, seeders): renditions follow."""
    if not raw:
        renditions_queue(instance)


def on_image_deleted(sender, instance, **kwargs) -> None:
    """A product or gallery image row was deleted: its rendition files go after commit.

    Only the renditions: the uploaded original stays, as Django leaves a deleted row's files.
    """
    record = (
        instance.main_image_renditions if isinstance(instance, Product) else instance.renditions
    )
    renditions_discard_on_commit(record)


# --- Clean-up -----------------------------------------------------------------------------------


def _names(record: Any) -> set[str]:
    """The rendition file names a record lists (nothing for an empty or malformed one)."""
    items = record.get("renditions") if isinstance(record, dict) else None
    return {
        item["name"]
        for item in items or ()
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]
    }


def renditions_discard_on_commit(*records: dict | None, keep: dict | None = None) -> None:
    """After commit, delete the files `records` list and `keep` does not (`renditions_discard`).

    Nothing happens on a rollback. Call it in the transaction that made the
    records obsolete (a new record written, a row deleted).
    """
    names = set().union(*map(_names, records)) - _names(keep)
    if not names:
        return

    def discard_renditions() -> None:  # named: Django logs a robust callback by its __qualname__
        renditions_discard(names)

    transaction.on_commit(discard_renditions, robust=True)


def _stem(name: str) -> str:
    """The source stem a rendition name was made from: `renditions/a/b-320w.webp` → `a/b`."""
    stem = str(PurePosixPath(name.removeprefix(f"{RENDITIONS_DIR}/")).with_suffix(""))
    return stem.rsplit("-", 1)[0]


def _names_in_use(names: Collection[str]) -> set[str]:
    """Those of `names` that a current record lists or that a row holds as its image.

    A rendition name derives from its source's stem, so only rows whose image
    has one of those stems are read (one query per image table).
    """
    stems = {_stem(name) for name in names}
    in_use: set[str] = set()
    for slot in (_MAIN, _GALLERY):
        related = Q(**{f"{slot.image}__in": list(names)})
        for stem in stems:
            related |= Q(**{slot.image: stem}) | Q(**{f"{slot.image}__startswith": f"{stem}."})
        rows = slot.model.objects.filter(related).values_list(slot.image, slot.record)
        for image, record in rows:
            in_use |= _names(renditions_current(image, record))
            in_use.add(image)
    return in_use.intersection(names)


def renditions_discard(names: Iterable[str]) -> int:
    """Delete these rendition files from the default storage; how many were deleted.

    Only names under `renditions/`; never one that a current record still lists
    or that is a row's image (checked now, against committed rows). Never
    raises: a storage or database error is logged, and the file is left.
    """
    wanted = {name for name in names if name.startswith(f"{RENDITIONS_DIR}/")}
    if not wanted:
        return 0
    try:
        wanted -= _names_in_use(wanted)
    except Exception:  # the database is down: keep every file rather than guess
        logger.warning("Renditions clean-up: could not check which files are in use", exc_info=True)
        return 0
    deleted = 0
    for name in sorted(wanted):
        try:
            default_storage.delete(name)
        except Exception as exc:  # any storage error: the file stays, the caller goes on
            logger.warning("Renditions clean-up: %s not deleted: %r", name, exc)
        else:
            deleted += 1
    return deleted


# --- Backfill -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenditionsBackfill:
    """What `renditions_backfill` did: images rendered (or queued), and files it could not read."""

    main_images: int = 0
    gallery_images: int = 0
    unreadable: int = 0  # inline only: the worker logs its own
    queued: bool = False


def _pending(
    slot: _Slot, *, redo: bool, product_ids: list[int] | None, batch_size: int
) -> Iterator[list[tuple[int, str, dict]]]:
    """Batches of `(pk, image, record)` of rows with an image and (unless `redo`) no current record.

    Keyset pages by primary key: each batch is one short query, no cursor stays
    open while the caller writes, and the rows it writes are not read again.
    """
    rows = slot.model.objects.exclude(**{slot.image: ""}).order_by("pk")
    if product_ids is not None:
        rows = rows.filter(**{f"{slot.product}__in": product_ids})
    if not redo:  # the database skips the rows whose record is current (checked again below)
        rows = rows.annotate(recorded=KT(f"{slot.record}__source")).filter(
            Q(recorded__isnull=True) | ~Q(recorded=F(slot.image))
        )
    rows = rows.values_list("pk", slot.image, slot.record)
    last = 0
    while batch := list(rows.filter(pk__gt=last)[:batch_size]):
        yield [row for row in batch if redo or renditions_current(row[1], row[2]) is None]
        last = batch[-1][0]


def _records(sources: list[str], pool: Executor) -> Iterator[tuple[str, dict | None]]:
    """Each source with its stored renditions' record (None: unreadable), in order.

    Files are read and written here, on the caller's thread; only decoding,
    resizing and encoding run on the pool (Pillow releases the GIL for them).
    """
    files = {source: _read(source) for source in sources}
    encoded = pool.map(lambda source: _renditions_encoded(source, files.pop(source)), sources)
    for source, record in zip(sources, encoded, strict=True):
        yield source, _renditions_stored(record) if record is not None else None


def _backfill_slot(
    slot: _Slot,
    *,
    redo: bool,
    queue: bool,
    product_ids: list[int] | None,
    batch_size: int,
    workers: int,
) -> tuple[int, int]:
    """Render (or queue) one kind of image; (done, unreadable)."""
    pages = _pending(slot, redo=redo, product_ids=product_ids, batch_size=batch_size)
    done = unreadable = 0
    if queue:
        for batch in filter(None, pages):
            with transaction.atomic():
                outbox_publish_all((slot.task, (pk,), {}) for pk, _, _ in batch)
            done += len(batch)
        return done, unreadable
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in pages:
            products: set[int] = set()
            # `workers` images in memory at a time (an original may be 10 MB, 40 megapixels).
            for start in range(0, len(batch), workers):
                rows = batch[start : start + workers]
                records = dict(_records(list(dict.fromkeys(row[1] for row in rows)), pool))
                for pk, source, _ in rows:
                    if records[source] is None:
                        unreadable += 1
                        continue
                    with transaction.atomic():
                        product_id = _record(slot, pk=pk, source=source, record=records[source])
                    if product_id is not None:
                        done += 1
                        products.add(product_id)
            if products:  # the read model once per batch, not once per image
                with transaction.atomic():
                    listing_refresh(products)
                    catalogue_cache_invalidate_on_commit()
    return done, unreadable


def renditions_backfill(
    *,
    redo: bool = False,
    queue: bool = False,
    main_images: bool = True,
    gallery: bool = True,
    product_ids: Iterable[int] | None = None,
    batch_size: int = BACKFILL_BATCH,
    workers: int = BACKFILL_WORKERS,
) -> RenditionsBackfill:
    """Renditions for stored catalogue images that have no current record (`redo`: for all).

    Inline by default: each file is read, its renditions stored and recorded as
    the worker would (`renditions_make`, the record written only if the row
    still holds that image, replaced files deleted after commit), the read model
    refreshed once per batch. `queue`: one outbox message per image for the
    worker instead (`render_product_image` / `render_gallery_image`), written a
    batch per transaction. `main_images` / `gallery` choose the kinds;
    `product_ids` limits it to those products' images; `workers` images are
    encoded at once, on threads (files and rows stay on the caller's thread).
    """
    options = {
        "redo": redo,
        "queue": queue,
        "product_ids": None if product_ids is None else sorted(set(product_ids)),
        "batch_size": batch_size,
        "workers": max(1, workers),
    }
    main, main_unreadable = _backfill_slot(_MAIN, **options) if main_images else (0, 0)
    looks, looks_unreadable = _backfill_slot(_GALLERY, **options) if gallery else (0, 0)
    return RenditionsBackfill(
        main_images=main,
        gallery_images=looks,
        unreadable=main_unreadable + looks_unreadable,
        queued=queue,
    )
