"""Catalogue images: upload cleaning, renditions by the worker, the API's image sets."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from main.exceptions import InvalidInput
from outbox.models import OutboxMessage
from products.forms import ProductImageForm, uploaded_image_clean
from products.models import Listing, Product, ProductImage
from products.services.images import (
    RENDER_GALLERY_TASK,
    RENDER_PRODUCT_TASK,
    gallery_image_render,
    product_image_clean,
    product_image_render,
    rendition_name,
    rendition_widths,
    renditions_make,
)
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory

pytestmark = pytest.mark.django_db

ORIENTATION = 0x0112


def picture(size=(1200, 1600), image_format="JPEG", *, rotated=False, mode="RGB") -> bytes:
    """An image file; `rotated`: stored sideways with EXIF orientation 6 (and a GPS-ish comment)."""
    image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128))
    buffer = io.BytesIO()
    options = {}
    if rotated:
        exif = Image.Exif()
        exif[ORIENTATION] = 6
        exif[0x010E] = "secret location"  # ImageDescription
        options["exif"] = exif.tobytes()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def stored(name: str, content: bytes) -> str:
    return default_storage.save(name, ContentFile(content))


def listed_product(**fields) -> Product:
    product = ProductFactory(market="ALL", **fields)
    ProductPriceFactory(product=product, market="KG")
    SKUFactory(product=product, size="M", color="Black", stock=3)
    return product


# --- cleaning uploads --------------------------------------------------------------------------


def test_an_upload_is_turned_upright_and_loses_its_metadata():
    upload = SimpleUploadedFile("side.jpg", picture((400, 300), rotated=True))
    clean = product_image_clean(upload)
    with Image.open(io.BytesIO(clean.content)) as image:
        assert image.size == (300, 400)  # orientation 6 applied
        assert not image.getexif()
        assert image.format == "JPEG"
    assert clean.extension == "jpg"


def test_a_large_upload_is_downscaled_and_a_huge_one_refused():
    clean = product_image_clean(SimpleUploadedFile("big.png", picture((3000, 1500), "PNG")))
    with Image.open(io.BytesIO(clean.content)) as image:
        assert image.size == (2400, 1200)
    with pytest.raises(InvalidInput) as refused:
        product_image_clean(SimpleUploadedFile("huge.png", picture((8000, 6000), "PNG")))
    assert refused.value.code == "image_too_large"


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.jpg", b"not an image at all"), ("anim.gif", picture((10, 10), "GIF"))],
)
def test_what_is_not_a_jpeg_png_or_webp_is_refused(name, content):
    with pytest.raises(InvalidInput):
        product_image_clean(SimpleUploadedFile(name, content))


def test_the_gallery_form_stores_the_cleaned_file_and_the_colour():
    product = ProductFactory()
    upload = SimpleUploadedFile("look.webp", picture((500, 400), "WEBP", rotated=True))
    form = ProductImageForm(
        data={"alt_text": "Red", "color": "Red", "sort_order": 1, "product": product.pk},
        files={"image": upload},
    )
    assert form.is_valid(), form.errors
    image = form.save(commit=False)
    image.product = product
    image.save()
    assert image.color == "Red"
    assert image.image.name.endswith(".webp")
    with default_storage.open(image.image.name) as saved, Image.open(saved) as pixels:
        assert pixels.size == (400, 500)
        assert not pixels.getexif()


def test_the_form_reports_a_bad_upload_on_its_field():
    form = ProductImageForm(
        data={"alt_text": "", "color": "", "sort_order": 0},
        files={"image": SimpleUploadedFile("x.png", picture((20000, 2100), "PNG"))},
    )
    assert not form.is_valid()
    assert "image" in form.errors
    assert uploaded_image_clean("products/kept.jpg") == "products/kept.jpg"  # unchanged value


# --- renditions --------------------------------------------------------------------------------


def test_widths_never_upscale():
    assert rendition_widths(2000) == [320, 640, 1024, 1600]
    assert rendition_widths(600) == [320, 600]
    assert rendition_widths(200) == [200]


def test_renditions_are_stored_at_the_same_names_on_every_run():
    source = stored("products/coat.png", picture((1200, 900), "PNG", mode="RGBA"))
    first = renditions_make(source=source)
    again = renditions_make(source=source)
    assert first == again
    assert first["width"] == 1200 and first["height"] == 900
    names = [item["name"] for item in first["renditions"]]
    assert names[0] == rendition_name(source, 320, "webp") == "renditions/products/coat-320w.webp"
    assert {(item["format"], item["width"]) for item in first["renditions"]} == {
        (label, width) for label in ("webp", "jpeg") for width in (320, 640, 1024, 1200)
    }
    for item in first["renditions"]:
        with default_storage.open(item["name"]) as saved, Image.open(saved) as image:
            assert image.size == (item["width"], item["height"])
            assert image.format == {"webp": "WEBP", "jpeg": "JPEG"}[item["format"]]


def test_a_missing_or_broken_source_makes_nothing():
    assert renditions_make(source="products/nowhere.jpg") is None
    broken = stored("products/broken.jpg", b"garbage")
    assert renditions_make(source=broken) is None


def test_saving_an_image_queues_the_worker_once(django_capture_on_commit_callbacks):
    source = stored("products/dress.jpg", picture((800, 1000)))
    # Committed tests elsewhere may have left messages behind: count this test's only.
    before = OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with django_capture_on_commit_callbacks(execute=True):
        product = listed_product(main_image=source)
    product.refresh_from_db()
    assert product.main_image_renditions["source"] == source
    queued = OutboxMessage.objects.filter(pk__gt=before, task=RENDER_PRODUCT_TASK)
    assert list(queued.values_list("args", flat=True)) == [[product.pk]]
    listing = Listing.objects.get(product=product, market="KG")
    assert listing.image_renditions == product.main_image_renditions
    # Saved again with a current record: nothing more to make.
    product.save()
    assert queued.count() == 1


def test_a_gallery_image_gets_renditions_and_backs_the_list_image(
    django_capture_on_commit_callbacks,
):
    product = listed_product(main_image="")
    source = stored("products/gallery/look.jpg", picture((700, 700)))
    with django_capture_on_commit_callbacks(execute=True):
        image = ProductImage.objects.create(product=product, image=source, color="Black")
    image.refresh_from_db()
    assert image.renditions["source"] == source
    assert OutboxMessage.objects.filter(task=RENDER_GALLERY_TASK, args=[image.pk]).exists()
    assert image.color == "Black"
    listing = Listing.objects.get(product=product, market="KG")
    assert listing.image == source and listing.image_renditions == image.renditions


def test_a_record_of_a_replaced_image_is_not_written():
    first = stored("products/one.jpg", picture((400, 400)))
    product = listed_product(main_image=first)
    second = stored("products/two.jpg", picture((400, 400)))
    Product.objects.filter(pk=product.pk).update(main_image=second)
    assert product_image_render(product_id=product.pk) is True  # reads the current image
    product.refresh_from_db()
    assert product.main_image_renditions["source"] == second
    assert gallery_image_render(image_id=0) is False


# --- the API -----------------------------------------------------------------------------------


def test_list_and_detail_show_image_sets_for_next_image(
    api_client, django_capture_on_commit_callbacks
):
    main = stored("products/shirt.jpg", picture((1200, 1600)))
    look = stored("products/gallery/shirt-red.jpg", picture((640, 800)))
    with django_capture_on_commit_callbacks(execute=True):
        product = listed_product(main_image=main)
        ProductImage.objects.create(product=product, image=look, color="Red", sort_order=1)
        ProductImage.objects.create(product=product, image="products/gallery/new.jpg", sort_order=2)

    rows = api_client.get("/api/v1/products/", HTTP_X_MARKET="KG").json()["results"]
    row = rows[0]
    assert row["main_image"].endswith("/products/shirt.jpg")
    image_set = row["main_image_set"]
    assert image_set["url"] == row["main_image"]
    assert (image_set["width"], image_set["height"]) == (1200, 1600)
    webp = [item for item in image_set["renditions"] if item["format"] == "webp"]
    assert [item["width"] for item in webp] == [320, 640, 1024, 1200]
    assert webp[0]["url"].startswith("http://testserver/")
    assert image_set["srcset"]["webp"] == ", ".join(f"{i['url']} {i['width']}w" for i in webp)
    assert image_set["srcset"]["jpeg"].count("w,") == 3

    detail = api_client.get(f"/api/v1/products/{product.slug}/", HTTP_X_MARKET="KG").json()
    assert detail["main_image_set"] == image_set
    red, pending = detail["images"]
    assert red["color"] == "Red" and pending["color"] == ""
    assert red["set"]["url"] == red["url"] and red["set"]["width"] == 640
    # Not made yet (no file to read): the original only, no sizes.
    assert pending["set"] == {
        "url": pending["url"],
        "width": None,
        "height": None,
        "srcset": {"webp": "", "jpeg": ""},
        "renditions": [],
    }


def test_a_product_without_images_has_no_image_set(api_client):
    listed_product(main_image="")
    row = api_client.get("/api/v1/products/", HTTP_X_MARKET="KG").json()["results"][0]
    assert row["main_image"] is None and row["main_image_set"] is None
