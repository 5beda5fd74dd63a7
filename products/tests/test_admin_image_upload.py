"""Staff uploads in the admin go through the catalogue image pipeline (issue 19)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from products.models import ProductImage
from products.tests.factories import ProductFactory
from users.models import User

pytestmark = pytest.mark.django_db

ADD = "/admin/products/productimage/add/"


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("+996700000095", "pw-123456"))
    return client


def jpeg_with_exif() -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "GPS and secrets"
    Image.new("RGB", (80, 60), "green").save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def test_a_file_that_is_not_an_image_is_refused_on_its_field(staff_client):
    product = ProductFactory()
    upload = SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")

    response = staff_client.post(
        ADD, {"product": product.pk, "image": upload, "alt_text": "x", "sort_order": 0}
    )

    assert response.status_code == 200  # the form again, with the error
    assert b"errorlist" in response.content
    assert not ProductImage.objects.exists()


def test_a_gallery_image_is_stored_clean_with_its_colour(staff_client):
    product = ProductFactory()
    upload = SimpleUploadedFile("p.jpg", jpeg_with_exif(), content_type="image/jpeg")

    response = staff_client.post(
        ADD,
        {"product": product.pk, "image": upload, "alt_text": "front", "color": "Black",
         "sort_order": 0},
    )  # fmt: skip

    assert response.status_code == 302, response.content[:500]
    stored = ProductImage.objects.get()
    assert stored.color == "Black"
    with stored.image.open("rb") as file, Image.open(file) as image:
        assert image.size == (80, 60)
        assert not image.getexif()
