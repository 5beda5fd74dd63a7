"""Review images: a pixel ceiling read from the header, a bounded stored size (issue 12 §8)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image, ImageFile

from reviews.models import Review, ReviewImage
from reviews.tests import test_reviews as reviews
from reviews.tests.test_reviews import image_file, post

pytestmark = pytest.mark.django_db

# The delivered-buyer fixtures of test_reviews.py (bound by name, so that pytest sees them).
product = reviews.product
buyer = reviews.buyer
buyer_client = reviews.buyer_client

ORIENTATION = 0x0112  # EXIF tag


def png_upload(size: tuple[int, int], mode: str = "1") -> SimpleUploadedFile:
    """A blank PNG: a bilevel or grey picture of 16 MP compresses to a few kilobytes."""
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG", compress_level=1)
    return SimpleUploadedFile("big.png", buffer.getvalue(), "image/png")


def png_header_only(width: int, height: int) -> SimpleUploadedFile:
    """A PNG whose header claims `width` x `height` (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
    return SimpleUploadedFile("bomb.png", data, "image/png")


def halves_jpeg(size: tuple[int, int], *, orientation: int) -> SimpleUploadedFile:
    """A JPEG whose stored left half is red and right half blue, with an EXIF orientation."""
    width, height = size
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "SpyCam Inc."  # Make
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return SimpleUploadedFile("turned.jpg", buffer.getvalue(), "image/jpeg")


def assert_too_large(response) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "image_too_large", body
    assert "too many pixels" in body["errors"]["images"][0]
    assert not Review.objects.exists()
    assert not ReviewImage.objects.exists()


def stored_size() -> tuple[int, int]:
    with ReviewImage.objects.get().image.open("rb") as handle, Image.open(handle) as saved:
        return saved.size


def test_an_image_just_over_the_ceiling_is_refused_from_its_header(
    buyer_client, product, monkeypatch
):
    assert settings.REVIEW_IMAGE_MAX_PIXELS == 16_000_000
    upload = png_upload((4001, 4001))  # 16,008,001 pixels, a few kilobytes
    load = ImageFile.ImageFile.load

    def load_small_only(self):
        if self.size[0] * self.size[1] > settings.REVIEW_IMAGE_MAX_PIXELS:
            raise AssertionError("pixels were decoded before the ceiling was checked")
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load_small_only)
    response = post(buyer_client, product_id=product.pk, images=[image_file(), upload])

    assert_too_large(response)
    assert "16 megapixels" in response.json()["errors"]["images"][0]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "side",
    [
        10_000,  # 100 MP: over Pillow's warning threshold (about 89 MP)
        20_000,  # 400 MP: over Pillow's DecompressionBombError threshold (about 179 MP)
    ],
)
def test_a_decompression_bomb_header_is_400_image_too_large(buyer_client, product, side):
    response = post(buyer_client, product_id=product.pk, images=[png_header_only(side, side)])
    assert_too_large(response)


@pytest.mark.parametrize(
    ("upload", "expected"),
    [
        (lambda: image_file("JPEG", size=(4032, 3024)), (2048, 1536)),  # a 12 MP phone photo
        (lambda: png_upload((4000, 4000), mode="L"), (2048, 2048)),  # exactly the ceiling
    ],
    ids=["12mp-jpeg", "16mp-png-at-the-ceiling"],
)
def test_a_phone_photo_passes_and_is_stored_downscaled(buyer_client, product, upload, expected):
    response = post(buyer_client, product_id=product.pk, images=[upload()])

    assert response.status_code == 201, response.content
    assert stored_size() == expected
    assert max(expected) == settings.REVIEW_IMAGE_MAX_SIDE


def test_exif_orientation_is_applied_to_a_downscaled_jpeg(buyer_client, product):
    # 4608x3456 (15.9 MP) is decoded at half scale, then downscaled to 2048 and turned.
    upload = halves_jpeg((4608, 3456), orientation=6)  # 6: turn 90° clockwise to display

    response = post(buyer_client, product_id=product.pk, images=[upload])

    assert response.status_code == 201, response.content
    with ReviewImage.objects.get().image.open("rb") as handle, Image.open(handle) as saved:
        assert saved.size == (1536, 2048)  # portrait, as the phone showed it
        red, _, blue = saved.convert("RGB").getpixel((768, 10))  # the stored left half: top
        assert red > 200 and blue < 60
        red, _, blue = saved.convert("RGB").getpixel((768, 2037))
        assert red < 60 and blue > 200
        assert dict(saved.getexif()) == {}  # the orientation went with the rest of the EXIF
    assert b"SpyCam" not in ReviewImage.objects.get().image.open("rb").read()


@override_settings(REVIEW_IMAGE_MAX_PIXELS=1000)
def test_the_pixel_ceiling_is_read_from_the_setting(buyer_client, product):
    response = post(buyer_client, product_id=product.pk, images=[image_file(size=(40, 30))])
    assert_too_large(response)
    assert "0.001 megapixels" in response.json()["errors"]["images"][0]


@override_settings(REVIEW_IMAGE_MAX_SIDE=16)
def test_the_stored_long_side_is_read_from_the_setting(buyer_client, product):
    response = post(buyer_client, product_id=product.pk, images=[image_file(size=(40, 30))])
    assert response.status_code == 201, response.content
    assert stored_size() == (16, 12)
