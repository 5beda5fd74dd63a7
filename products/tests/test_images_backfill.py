"""Renditions for images stored without them (`render_images`), and old renditions cleaned up.

The files live under a temporary MEDIA_ROOT (the local `FileSystemStorage`, as
`STORAGE_BACKEND=local` runs), fresh for each test, so "deleted" and "kept"
are about real files.
"""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from outbox.models import OutboxMessage
from products.models import Listing, Product, ProductImage
from products.services import images as images_service
from products.services.images import (
    RENDER_GALLERY_TASK,
    RENDER_PRODUCT_TASK,
    gallery_image_render,
    product_image_render,
    renditions_backfill,
    renditions_discard,
)
from products.tests.factories import ProductFactory
from products.tests.test_images import listed_product, picture, stored

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """A fresh, empty local storage for the test (assigning STORAGES resets `default_storage`)."""
    settings.MEDIA_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path


def render_images(*args: str) -> str:
    out = StringIO()
    call_command("render_images", *args, stdout=out)
    return out.getvalue().strip()


def files(record: dict) -> list[str]:
    return [item["name"] for item in record["renditions"]]


def exist(names: list[str]) -> list[bool]:
    return [default_storage.exists(name) for name in names]


def gallery(product: Product, source: str, **fields) -> ProductImage:
    """A gallery row written as `bulk_create` writes it: no signals, so no renditions queued."""
    return ProductImage.objects.bulk_create(
        [ProductImage(product=product, image=source, **fields)]
    )[0]


def latest_message_pk() -> int:
    return OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


# --- the backfill and its command ----------------------------------------------------------------


def test_the_command_renders_images_without_a_current_record_and_counts_them():
    # Saved in the test's transaction, never committed: the worker never ran for it.
    product = listed_product(main_image=stored("products/coat.jpg", picture((900, 1200))))
    ProductFactory(main_image="")  # no image: nothing to do
    look = gallery(product, stored("products/gallery/coat-1.jpg", picture((500, 500))))
    done = gallery(product, stored("products/gallery/coat-2.jpg", picture((400, 400))))
    assert gallery_image_render(image_id=done.pk)
    done.refresh_from_db()
    broken = gallery(product, stored("products/gallery/broken.jpg", b"not an image"))

    assert render_images() == "rendered 1 main images, 1 gallery images, 1 unreadable"

    product.refresh_from_db()
    look.refresh_from_db()
    assert product.main_image_renditions["source"] == product.main_image.name
    assert look.renditions["source"] == look.image.name
    assert {(item["format"], item["width"]) for item in look.renditions["renditions"]} == {
        (label, width) for label in ("webp", "jpeg") for width in (320, 500)
    }
    assert all(exist(files(product.main_image_renditions) + files(look.renditions)))
    assert ProductImage.objects.get(pk=done.pk).renditions == done.renditions  # current: untouched
    assert ProductImage.objects.get(pk=broken.pk).renditions == {}
    # The read model copies the list image's record.
    listing = Listing.objects.get(product=product, market="KG")
    assert listing.image_renditions == product.main_image_renditions

    # Again: nothing left but the file that cannot be read.
    assert render_images() == "rendered 0 main images, 0 gallery images, 1 unreadable"
    # --all: every image again, at the same names.
    made = files(look.renditions)
    assert render_images("--all") == "rendered 1 main images, 2 gallery images, 1 unreadable"
    look.refresh_from_db()
    assert files(look.renditions) == made and all(exist(made))


def test_queue_sends_the_work_to_the_worker_through_the_outbox(django_capture_on_commit_callbacks):
    product = listed_product(main_image=stored("products/shirt.jpg", picture((600, 800))))
    look = gallery(product, stored("products/gallery/shirt-1.jpg", picture((600, 800))))
    before = latest_message_pk()

    with django_capture_on_commit_callbacks(execute=False) as relays:
        assert render_images("--queue") == "queued 1 main images, 1 gallery images for the worker"

    queued = OutboxMessage.objects.filter(pk__gt=before).order_by("pk")
    assert list(queued.values_list("task", "args")) == [
        (RENDER_PRODUCT_TASK, [product.pk]),
        (RENDER_GALLERY_TASK, [look.pk]),
    ]
    product.refresh_from_db()
    assert product.main_image_renditions == {}  # nothing made here
    for relay in relays:  # after commit: handed to Celery (eager in tests) → the worker's task
        relay()
    product.refresh_from_db()
    look.refresh_from_db()
    assert product.main_image_renditions["source"] == product.main_image.name
    assert look.renditions["source"] == look.image.name


def test_backfill_pages_through_the_rows_in_batches():
    product = listed_product(main_image="")
    for index in range(5):
        gallery(product, stored(f"products/gallery/look-{index}.jpg", picture((80, 80))))

    done = renditions_backfill(batch_size=2, workers=2)

    assert (done.main_images, done.gallery_images, done.unreadable) == (0, 5, 0)
    assert all(image.renditions for image in ProductImage.objects.all())


def test_backfill_queries_per_image_only_its_record():
    def backfill_queries(count: int) -> int:
        product = listed_product(main_image="")
        for index in range(count):
            gallery(
                product, stored(f"products/gallery/p{product.pk}-{index}.jpg", picture((80, 80)))
            )
        with CaptureQueriesContext(connection) as queries:
            assert renditions_backfill().gallery_images == count
        return len(queries)

    five, ten = backfill_queries(5), backfill_queries(10)
    # Each image: its record read and written in a savepoint. Pages, the read model and
    # the cache are per batch, whatever the number of images in it.
    assert (ten - five) / 5 <= 4


def test_product_ids_limit_the_backfill_to_those_products():
    mine = listed_product(main_image=stored("products/mine.jpg", picture((100, 100))))
    other = listed_product(main_image=stored("products/other.jpg", picture((100, 100))))
    gallery(other, stored("products/gallery/other.jpg", picture((100, 100))))

    done = renditions_backfill(product_ids=[mine.pk])

    assert (done.main_images, done.gallery_images) == (1, 0)
    other.refresh_from_db()
    assert other.main_image_renditions == {}
    assert not ProductImage.objects.get(product=other).renditions


# --- clean-up ------------------------------------------------------------------------------------


def test_a_replaced_main_image_loses_its_old_renditions_after_commit(
    django_capture_on_commit_callbacks,
):
    first = stored("products/dress.jpg", picture((700, 900)))
    with django_capture_on_commit_callbacks(execute=True):
        product = listed_product(main_image=first)
    product.refresh_from_db()
    old = files(product.main_image_renditions)
    assert old and all(exist(old))

    second = stored("products/dress-new.png", picture((640, 640), "PNG"))
    product.main_image = second
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        product.save()
        assert exist(old) == [True] * len(old)  # in the transaction: nothing deleted yet
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:  # commit: the worker records the new set…
            callback()

    product.refresh_from_db()
    new = files(product.main_image_renditions)
    assert product.main_image_renditions["source"] == second
    assert not any(exist(old))  # …and the old set is gone once that commits
    assert all(exist(new))
    assert default_storage.exists(first) and default_storage.exists(second)  # sources stay


def test_a_new_image_with_the_same_stem_keeps_the_files_the_new_record_names(
    django_capture_on_commit_callbacks,
):
    product = listed_product(main_image="")
    with django_capture_on_commit_callbacks(execute=True):
        look = ProductImage.objects.create(
            product=product, image=stored("products/gallery/scarf.jpg", picture((500, 500)))
        )
    look.refresh_from_db()
    old = files(look.renditions)
    replacement = stored("products/gallery/scarf.png", picture((500, 500), "PNG"))
    assert replacement == "products/gallery/scarf.png"

    look.image = replacement
    with django_capture_on_commit_callbacks(execute=True):
        look.save()

    look.refresh_from_db()
    assert look.renditions["source"] == replacement
    assert files(look.renditions) == old  # the same names, written again
    assert all(exist(old))


def test_deleting_a_gallery_image_deletes_its_renditions_not_its_source(
    django_capture_on_commit_callbacks,
):
    product = listed_product(main_image="")
    source = stored("products/gallery/bag.jpg", picture((600, 600)))
    with django_capture_on_commit_callbacks(execute=True):
        look = ProductImage.objects.create(product=product, image=source, color="Black")
    look.refresh_from_db()
    made = files(look.renditions)
    assert all(exist(made))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        look.delete()
    assert all(exist(made))  # not before commit
    for callback in callbacks:
        callback()

    assert not any(exist(made))
    assert default_storage.exists(source)


def test_deleting_a_product_deletes_its_main_and_gallery_renditions(
    django_capture_on_commit_callbacks,
):
    main = stored("products/boots.jpg", picture((500, 700)))
    look = stored("products/gallery/boots-1.jpg", picture((500, 700)))
    with django_capture_on_commit_callbacks(execute=True):
        product = listed_product(main_image=main)
        ProductImage.objects.create(product=product, image=look)
    product.refresh_from_db()
    made = files(product.main_image_renditions) + files(product.images.get().renditions)
    assert len(made) == 8 and all(exist(made))

    with django_capture_on_commit_callbacks(execute=True):
        product.delete()

    assert not any(exist(made))
    assert default_storage.exists(main) and default_storage.exists(look)


def test_files_a_current_record_still_names_are_kept():
    shared = stored("products/shared.jpg", picture((400, 400)))
    one = listed_product(main_image=shared)
    two = listed_product(main_image=shared)
    assert product_image_render(product_id=one.pk) and product_image_render(product_id=two.pk)
    one.refresh_from_db()
    made = files(one.main_image_renditions)

    assert renditions_discard([*made, shared]) == 0  # product two's record names them all
    Product.objects.filter(pk=two.pk).update(main_image="")  # two no longer shows it
    ProductImage.objects.create(product=two, image=shared)  # …but a gallery row does, unrendered
    assert renditions_discard(made) == 0  # one's record is still current
    one.delete()
    assert renditions_discard([*made, shared]) == len(made)  # only renditions, never a source
    assert not any(exist(made)) and default_storage.exists(shared)


def test_a_cleared_main_image_drops_its_record_and_files(django_capture_on_commit_callbacks):
    source = stored("products/hat.jpg", picture((300, 300)))
    with django_capture_on_commit_callbacks(execute=True):
        product = listed_product(main_image=source)
    product.refresh_from_db()
    made = files(product.main_image_renditions)

    product.main_image = ""
    with django_capture_on_commit_callbacks(execute=True):
        product.save()

    product.refresh_from_db()
    assert product.main_image_renditions == {}
    assert not any(exist(made)) and default_storage.exists(source)


def test_a_render_for_an_image_replaced_meanwhile_leaves_no_files(
    monkeypatch, django_capture_on_commit_callbacks
):
    product = listed_product(main_image="")
    first = stored("products/gallery/first.jpg", picture((300, 300)))
    look = gallery(product, first)
    read = images_service._read

    def read_then_replaced(name):
        data = read(name)
        ProductImage.objects.filter(pk=look.pk).update(image="products/gallery/second.jpg")
        return data

    monkeypatch.setattr(images_service, "_read", read_then_replaced)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert gallery_image_render(image_id=look.pk) is False  # made, but not recorded
    assert default_storage.listdir("renditions/products/gallery")[1]
    for callback in callbacks:
        callback()

    assert default_storage.listdir("renditions/products/gallery")[1] == []  # nothing names them
    assert ProductImage.objects.get(pk=look.pk).renditions == {}
    assert default_storage.exists(first)


def test_a_storage_error_while_cleaning_is_logged_not_raised(monkeypatch, caplog):
    source = stored("products/belt.jpg", picture((300, 300)))
    product = listed_product(main_image=source)
    assert product_image_render(product_id=product.pk)
    product.refresh_from_db()
    made = files(product.main_image_renditions)
    Product.objects.filter(pk=product.pk).update(main_image="")

    def refuse(storage, name):
        raise OSError("disk unreachable")

    monkeypatch.setattr(FileSystemStorage, "delete", refuse)
    with caplog.at_level(logging.WARNING, logger="marque.products.images"):
        assert renditions_discard(made) == 0
    assert "not deleted" in caplog.text and all(exist(made))


def test_a_database_error_while_cleaning_keeps_every_file(monkeypatch, caplog):
    source = stored("products/ring.jpg", picture((300, 300)))
    product = listed_product(main_image=source)
    assert product_image_render(product_id=product.pk)
    product.refresh_from_db()
    made = files(product.main_image_renditions)

    def down(names):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(images_service, "_names_in_use", down)
    with caplog.at_level(logging.WARNING, logger="marque.products.images"):
        assert renditions_discard(made) == 0
    assert "could not check" in caplog.text and all(exist(made))
