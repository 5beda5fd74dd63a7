"""Product images on S3-compatible storage: a real S3 server on 127.0.0.1 (moto in server mode).

The storage settings are the ones `STORAGE_BACKEND=s3` builds (django-storages'
`S3Storage`); the upload, the worker's renditions and the API's URLs all go
through it, and the bucket is read back with boto3. Nothing leaves the machine.
"""

from __future__ import annotations

import io
import socket

import boto3
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from products.forms import ProductImageForm
from products.models import ProductImage
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory

pytestmark = pytest.mark.django_db

BUCKET = "marque-media-test"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    server_module = pytest.importorskip("moto.server")
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, settings):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "region_name": "us-east-1",
                "querystring_auth": False,
                "file_overwrite": False,
                "addressing_style": "path",
            },
        },
    }
    yield client
    objects = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for item in objects:
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _jpeg(size) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_upload_renditions_and_urls_through_s3(
    s3_bucket, s3_endpoint, api_client, django_capture_on_commit_callbacks
):
    product = ProductFactory(market="ALL", main_image="")
    ProductPriceFactory(product=product, market="KG")
    SKUFactory(product=product, size="M", color="Blue", stock=2)

    form = ProductImageForm(
        data={"alt_text": "Blue", "color": "Blue", "sort_order": 0},
        files={"image": SimpleUploadedFile("blue.jpg", _jpeg((900, 1200)))},
    )
    assert form.is_valid(), form.errors
    with django_capture_on_commit_callbacks(execute=True):
        image = form.save(commit=False)
        image.product = product
        image.save()  # the original goes to the bucket; the worker runs after commit
    assert type(default_storage._wrapped).__name__ == "S3Storage"

    image = ProductImage.objects.get(pk=image.pk)
    keys = {item["Key"] for item in s3_bucket.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert image.image.name in keys
    stem = image.image.name.rsplit(".", 1)[0]
    expected = {
        f"renditions/{stem}-{width}w.{ext}" for width in (320, 640, 900) for ext in ("webp", "jpg")
    }
    assert expected <= keys
    assert [item["name"] for item in image.renditions["renditions"]] == sorted(
        expected, key=lambda key: (not key.endswith("webp"), int(key.rsplit("-", 1)[1][:-6]))
    )

    body = s3_bucket.get_object(Bucket=BUCKET, Key=f"renditions/{stem}-640w.webp")["Body"].read()
    with Image.open(io.BytesIO(body)) as rendition:
        assert rendition.format == "WEBP" and rendition.size == (640, 853)

    row = api_client.get("/api/v1/products/", HTTP_X_MARKET="KG").json()["results"][0]
    assert row["main_image"] == f"{s3_endpoint}/{BUCKET}/{image.image.name}"
    assert row["main_image_set"]["srcset"]["webp"].startswith(
        f"{s3_endpoint}/{BUCKET}/renditions/{stem}-320w.webp 320w, "
    )
