"""`POST reviews/`: verified buyers only, one review per product, safe images, exact ratings."""

from __future__ import annotations

import io
import os
import threading
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.urls import reverse
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from conftest import authenticate
from main.exceptions import InvalidInput
from orders.models import OrderStatus
from orders.tests.factories import OrderFactory, OrderItemFactory
from products.models import Product
from products.tests.factories import ProductFactory, ProductPriceFactory
from reviews import services as review_services
from reviews.models import Review, ReviewImage
from reviews.services import (
    REVIEW_IMAGE_MAX_BYTES,
    ReviewExists,
    product_rating_refresh,
    review_create,
)
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/reviews/"


# --- helpers -------------------------------------------------------------------------


def sellable_product(**kwargs) -> Product:
    product = ProductFactory(**kwargs)
    ProductPriceFactory(product=product, market="KG", price=Decimal("1290.00"))
    return product


def bought(user, product, *, status=OrderStatus.DELIVERED):
    """An order item of `product` in an order of `user` with `status`."""
    order = OrderFactory(user=user, status=status)
    return OrderItemFactory(order=order, product=product, product_name=product.name)


def image_file(
    fmt="JPEG", name=None, *, size=(40, 30), exif=None, mode="RGB"
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    options = {"exif": exif} if exif is not None else {}
    color = {"RGB": (200, 30, 30), "RGBA": (200, 30, 30, 128)}[mode]
    Image.new(mode, size, color=color).save(buffer, fmt, **options)
    extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
    content_type = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}[fmt]
    return SimpleUploadedFile(name or f"photo.{extension}", buffer.getvalue(), content_type)


def post(client, **fields):
    data = {"rating": 5, "title": "Lovely", "text": "Soft and warm.", **fields}
    return client.post(URL, data, format="multipart")


@pytest.fixture
def product():
    return sellable_product(slug="wool-coat")


@pytest.fixture
def buyer(customer, product):
    bought(customer, product)
    return customer


@pytest.fixture
def buyer_client(api_client, buyer):
    return authenticate(api_client, buyer)


def assert_invalid(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"], body
    assert not Review.objects.exists()
    assert not ReviewImage.objects.exists()


# --- eligibility -----------------------------------------------------------------------


def test_anonymous_is_401(api_client, product):
    response = post(api_client, product_id=product.pk)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_without_any_order_is_403_not_a_buyer(customer_client, product):
    response = post(customer_client, product_id=product.pk)
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_buyer"
    assert not Review.objects.exists()


@pytest.mark.parametrize(
    "status", [OrderStatus.PENDING, OrderStatus.SHIPPED, OrderStatus.CANCELLED]
)
def test_order_not_delivered_is_403(customer, customer_client, product, status):
    bought(customer, product, status=status)
    response = post(customer_client, product_id=product.pk)
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_buyer"
    assert not Review.objects.exists()


def test_another_users_delivered_order_does_not_count(customer_client, product):
    bought(UserFactory(), product)
    response = post(customer_client, product_id=product.pk)
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_buyer"


def test_delivered_order_of_another_product_does_not_count(customer, customer_client, product):
    bought(customer, sellable_product())
    assert post(customer_client, product_id=product.pk).status_code == 403


def test_delivered_buyer_creates_review_linked_to_the_order_item(
    customer, customer_client, product
):
    item = bought(customer, product)
    response = post(customer_client, product_id=product.pk, fit="runs_small")

    assert response.status_code == 201, response.content
    body = response.json()
    review = Review.objects.get()
    assert body == {
        "id": review.pk,
        "product_id": product.pk,
        "rating": 5,
        "title": "Lovely",
        "text": "Soft and warm.",
        "fit": "runs_small",
        "is_approved": True,
        "images": [],
        "created_at": body["created_at"],
    }
    assert body["created_at"].endswith("Z")
    assert (review.user, review.order_item) == (customer, item)


def test_unknown_product_is_400(customer_client):
    assert_invalid(post(customer_client, product_id=999999), "product_id")


def test_second_review_of_the_same_product_is_409(buyer_client, product):
    assert post(buyer_client, product_id=product.pk).status_code == 201
    response = post(buyer_client, product_id=product.pk, rating=1, title="Changed my mind")
    assert response.status_code == 409
    assert response.json()["code"] == "review_exists"
    assert Review.objects.get().title == "Lovely"


def test_a_lost_race_on_the_unique_constraint_is_the_same_409(buyer, product, monkeypatch):
    """The pre-check passed, but another request inserted first: IntegrityError → 409."""
    Review.objects.create(user=buyer, product=product, rating=4, is_approved=True)
    real_filter = Review.objects.filter
    calls = {"n": 0}

    def filter_missing_once(*args, **kwargs):
        # The service's first existence check does not see the other request's row.
        calls["n"] += 1
        queryset = real_filter(*args, **kwargs)
        return queryset.none() if calls["n"] == 1 else queryset

    monkeypatch.setattr(review_services.Review.objects, "filter", filter_missing_once)
    with pytest.raises(ReviewExists):
        review_create(user=buyer, product_id=product.pk, rating=5)
    assert Review.objects.count() == 1


@pytest.mark.parametrize("rating", [0, 6, "", "five"])
def test_rating_outside_1_to_5_is_400(buyer_client, product, rating):
    assert_invalid(post(buyer_client, product_id=product.pk, rating=rating), "rating")


def test_title_over_200_and_text_over_5000_characters_are_400(buyer_client, product):
    assert_invalid(post(buyer_client, product_id=product.pk, title="x" * 201), "title")
    assert_invalid(post(buyer_client, product_id=product.pk, text="x" * 5001), "text")
    response = post(buyer_client, product_id=product.pk, title="x" * 200, text="y" * 5000)
    assert response.status_code == 201


def test_unknown_fit_is_400(buyer_client, product):
    assert_invalid(post(buyer_client, product_id=product.pk, fit="baggy"), "fit")


# --- images ------------------------------------------------------------------------------


def test_a_text_file_named_jpg_is_400(buyer_client, product):
    fake = SimpleUploadedFile("photo.jpg", b"just some text, not a picture", "image/jpeg")
    assert_invalid(post(buyer_client, product_id=product.pk, images=[fake]), "images")


def test_a_truncated_jpeg_is_400(buyer_client, product):
    data = image_file(size=(200, 200)).read()
    broken = SimpleUploadedFile("photo.jpg", data[: len(data) // 2], "image/jpeg")
    assert_invalid(post(buyer_client, product_id=product.pk, images=[broken]), "images")


def test_a_gif_is_400(buyer_client, product):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    gif = SimpleUploadedFile("photo.gif", buffer.getvalue(), "image/gif")
    assert_invalid(post(buyer_client, product_id=product.pk, images=[gif]), "images")


def test_six_images_are_400(buyer_client, product):
    images = [image_file() for _ in range(6)]
    assert_invalid(post(buyer_client, product_id=product.pk, images=images), "images")


def test_an_image_over_5_mb_is_400(buyer_client, product):
    # Random noise does not compress: a real PNG of about 6 MB.
    side = 1450
    noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG", compress_level=1)
    assert buffer.tell() > REVIEW_IMAGE_MAX_BYTES
    big = SimpleUploadedFile("big.png", buffer.getvalue(), "image/png")
    response = post(buyer_client, product_id=product.pk, images=[image_file(), big])
    assert_invalid(response, "images")
    assert "5 MB" in response.json()["errors"]["images"][0]


def test_jpeg_exif_is_stripped_and_urls_are_absolute(buyer_client, product):
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x0131] = "Secret editor"  # Software
    upload = image_file("JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(upload.read())) as original:
        assert original.getexif().get(0x010F) == "SpyCam Inc."
    upload.seek(0)

    response = post(buyer_client, product_id=product.pk, images=[upload])

    assert response.status_code == 201, response.content
    [image] = response.json()["images"]
    assert image["url"].startswith("http://testserver/media/reviews/")
    stored = ReviewImage.objects.get()
    assert stored.image.name.endswith(".jpg")
    with stored.image.open("rb") as handle, Image.open(handle) as saved:
        assert saved.format == "JPEG"
        assert saved.size == (40, 30)
        assert dict(saved.getexif()) == {}
        assert "exif" not in saved.info
    assert b"SpyCam" not in stored.image.open("rb").read()


def test_png_text_chunks_are_stripped(buyer_client, product):
    info = PngInfo()
    info.add_text("Comment", "home address: Chui Ave 120")
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(buffer, "PNG", pnginfo=info)
    upload = SimpleUploadedFile("photo.png", buffer.getvalue(), "image/png")

    assert post(buyer_client, product_id=product.pk, images=[upload]).status_code == 201
    stored = ReviewImage.objects.get().image.open("rb").read()
    assert b"Chui Ave" not in stored
    with Image.open(io.BytesIO(stored)) as saved:
        assert saved.format == "PNG" and "Comment" not in saved.info


def test_the_service_refuses_six_images_too(buyer, product):
    with pytest.raises(InvalidInput) as refused:
        review_create(
            user=buyer, product_id=product.pk, rating=5, images=[image_file() for _ in range(6)]
        )
    assert "images" in refused.value.errors
    assert not Review.objects.exists()


def test_png_and_webp_are_accepted_in_order(buyer_client, product):
    images = [image_file("PNG", mode="RGBA"), image_file("WEBP"), image_file("JPEG")]
    response = post(buyer_client, product_id=product.pk, images=images)
    assert response.status_code == 201, response.content
    stored = list(ReviewImage.objects.order_by("sort_order"))
    assert [s.image.name.rsplit(".", 1)[1] for s in stored] == ["png", "webp", "jpg"]
    assert [i["id"] for i in response.json()["images"]] == [s.pk for s in stored]
    with stored[0].image.open("rb") as handle, Image.open(handle) as png:
        assert png.mode == "RGBA"


def test_a_non_buyer_with_images_stores_nothing(customer_client, product):
    response = post(customer_client, product_id=product.pk, images=[image_file()])
    assert response.status_code == 403
    assert not ReviewImage.objects.exists()


# --- rating, approval, moderation ------------------------------------------------------


def test_product_rating_follows_new_reviews(api_client, product):
    for rating in (5, 4, 4):
        user = UserFactory()
        bought(user, product)
        response = post(authenticate(api_client, user), product_id=product.pk, rating=rating)
        assert response.status_code == 201
    product.refresh_from_db()
    assert (product.reviews_count, product.rating_avg) == (3, Decimal("4.33"))


def test_new_review_shows_on_the_cached_product_page(
    api_client, buyer, product, django_capture_on_commit_callbacks
):
    page = f"/api/v1/products/{product.slug}/"
    assert api_client.get(page).json()["reviews_count"] == 0  # now cached
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert post(authenticate(api_client, buyer), product_id=product.pk).status_code == 201
    assert callbacks  # the cache is invalidated only once the review is committed
    api_client.credentials()
    body = api_client.get(page).json()
    assert (body["reviews_count"], body["rating"]["count"]) == (1, 1)


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("+996700000098", "pw-123456")


def test_with_approval_required_the_review_waits_for_a_moderator(
    settings, buyer_client, product, admin_client, django_capture_on_commit_callbacks
):
    settings.REVIEWS_REQUIRE_APPROVAL = True
    response = post(buyer_client, product_id=product.pk, rating=2, fit="runs_large")
    assert response.status_code == 201
    assert response.json()["is_approved"] is False

    product.refresh_from_db()
    assert (product.reviews_count, product.rating_avg) == (0, Decimal("0.00"))
    buyer_client.credentials()
    listing = f"/api/v1/products/{product.slug}/reviews/"
    assert buyer_client.get(listing).json()["count"] == 0
    detail = buyer_client.get(f"/api/v1/products/{product.slug}/").json()
    assert detail["fit_summary"]["total"] == 0

    review = Review.objects.get()
    changelist = reverse("admin:reviews_review_changelist")
    approve = {"action": "approve_reviews", ACTION_CHECKBOX_NAME: [review.pk]}
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(changelist, approve).status_code == 302

    product.refresh_from_db()
    assert (product.reviews_count, product.rating_avg) == (1, Decimal("2.00"))
    assert buyer_client.get(listing).json()["count"] == 1
    detail = buyer_client.get(f"/api/v1/products/{product.slug}/").json()
    assert detail["fit_summary"] == {
        "runs_small": 0,
        "true_to_size": 0,
        "runs_large": 1,
        "total": 1,
        "percent": {"runs_small": 0, "true_to_size": 0, "runs_large": 100},
        "from_reviews": {"runs_small": 0, "true_to_size": 0, "runs_large": 1, "total": 1},
        "from_returns": {"runs_small": 0, "runs_large": 0, "total": 0},
    }

    unapprove = {"action": "unapprove_reviews", ACTION_CHECKBOX_NAME: [review.pk]}
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(changelist, unapprove).status_code == 302
    product.refresh_from_db()
    assert product.reviews_count == 0
    assert buyer_client.get(listing).json()["count"] == 0


def test_admin_change_form_and_delete_refresh_the_rating(admin_client, product):
    reviews = []
    for rating in (5, 3):
        user = UserFactory()
        item = bought(user, product)
        reviews.append(
            Review.objects.create(
                user=user, product=product, order_item=item, rating=rating, is_approved=False
            )
        )
    change = reverse("admin:reviews_review_change", args=[reviews[0].pk])
    assert admin_client.post(change, {"is_approved": "on", **_empty_inline()}).status_code == 302
    product.refresh_from_db()
    assert (product.reviews_count, product.rating_avg) == (1, Decimal("5.00"))

    Review.objects.filter(pk=reviews[1].pk).update(is_approved=True)
    delete = reverse("admin:reviews_review_delete", args=[reviews[0].pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    product.refresh_from_db()
    assert (product.reviews_count, product.rating_avg) == (1, Decimal("3.00"))

    changelist = reverse("admin:reviews_review_changelist")
    bulk = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [reviews[1].pk], "post": "yes"}
    assert admin_client.post(changelist, bulk).status_code == 302
    product.refresh_from_db()
    assert (product.reviews_count, product.rating_avg) == (0, Decimal("0.00"))


def _empty_inline() -> dict:
    return {
        "images-TOTAL_FORMS": "0",
        "images-INITIAL_FORMS": "0",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
    }


# --- fit summary ---------------------------------------------------------------------------


def test_fit_summary_counts_approved_reviews_only(api_client, product):
    fits = ["runs_small", "true_to_size", "true_to_size", "runs_large", "", "runs_small"]
    for index, fit in enumerate(fits):
        Review.objects.create(
            user=UserFactory(), product=product, rating=4, fit=fit, is_approved=index != 5
        )
    product_rating_refresh(product_id=product.pk)  # the counters the detail reads
    body = api_client.get(f"/api/v1/products/{product.slug}/").json()
    assert body["fit_summary"] == {
        "runs_small": 1,
        "true_to_size": 2,
        "runs_large": 1,
        "total": 4,
        "percent": {"runs_small": 25, "true_to_size": 50, "runs_large": 25},
        "from_reviews": {"runs_small": 1, "true_to_size": 2, "runs_large": 1, "total": 4},
        "from_returns": {"runs_small": 0, "runs_large": 0, "total": 0},
    }


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real concurrent connections and row locks (PostgreSQL); SQLite has one writer",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_of_one_product_keep_count_and_average_exact():
    product = sellable_product()
    ratings = [5, 4, 4, 2, 1]
    buyers = []
    for rating in ratings:
        user = UserFactory()
        bought(user, product)
        buyers.append((user, rating))
    errors: list[Exception] = []
    barrier = threading.Barrier(len(buyers))

    def write(user, rating) -> None:
        try:
            barrier.wait(timeout=10)
            review_create(user=user, product_id=product.pk, rating=rating)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=pair) for pair in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    product.refresh_from_db()
    assert product.reviews_count == 5
    assert product.rating_avg == Decimal("3.20")
