"""What staff read on admin pages: image thumbnails and readable history captions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from banners.models import Banner
from main.admin_mixins import thumbnail
from main.tests.test_admin import admin_url, make_everything
from orders.models import (
    Order,
    OrderItem,
    OrderStatusHistory,
    Payment,
    Refund,
    ReturnItem,
    ReturnStatusHistory,
)
from products.models import Product, ProductImage
from reviews.models import ReviewImage
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    """pytest-django's own admin_user passes phone="admin", which our manager refuses."""
    return User.objects.create_superuser("+996700000097", "pw-123456")


def test_thumbnail_escapes_the_url_and_reads_a_dash_without_a_file(settings):
    settings.MEDIA_URL = "/media/"
    html = thumbnail('products/a"b<.jpg', size=32)
    assert 'src="/media/products/a&quot;b&lt;.jpg"' in html
    assert "max-height: 32px" in html
    assert thumbnail("") == "-" and thumbnail(None) == "-"
    assert 'src="https://cdn.example.com/x.jpg"' in thumbnail("https://cdn.example.com/x.jpg")


def test_lists_and_pages_show_thumbnails(admin_client, settings):
    settings.MEDIA_URL = "/media/"
    made = make_everything()
    Product.objects.update(main_image="products/main/linen.jpg")
    OrderItem.objects.update(image="products/main/linen.jpg")
    product = Product.objects.get()

    html = admin_client.get(admin_url(Product, "changelist")).content.decode()
    assert '<img src="/media/products/main/linen.jpg"' in html
    page = admin_client.get(admin_url(Product, "change", product.pk)).content.decode()
    assert '<img src="/media/products/main/linen.jpg"' in page  # main image
    assert '<img src="/media/products/gallery/front.jpg"' in page  # gallery inline

    for model, url in (
        (ProductImage, "/media/products/gallery/front.jpg"),
        (Banner, "/media/banners/summer.jpg"),
        (ReviewImage, "/media/reviews/front.jpg"),
        (OrderItem, "/media/products/main/linen.jpg"),
    ):
        html = admin_client.get(admin_url(model, "changelist")).content.decode()
        assert f'<img src="{url}"' in html, model
        obj = model.objects.get()
        html = admin_client.get(admin_url(model, "change", obj.pk)).content.decode()
        assert f'<img src="{url}"' in html, model

    order = admin_client.get(admin_url(Order, "change", made["order"].pk)).content.decode()
    assert '<img src="/media/products/main/linen.jpg"' in order  # the order's line


def test_order_list_uses_short_headers(admin_client):
    make_everything()
    html = admin_client.get(admin_url(Order, "changelist")).content.decode()
    assert ">Cur.<" in html and ">Currency<" not in html


def test_history_rows_read_as_status_moves_with_their_time():
    order = make_everything()["order"]
    row = OrderStatusHistory.objects.get(order=order)
    at = datetime(2026, 11, 25, 22, 49, tzinfo=UTC)
    OrderStatusHistory.objects.filter(pk=row.pk).update(created_at=at)
    row.refresh_from_db()
    row.from_status, row.to_status = "pending", "confirmed"

    with timezone.override("Asia/Bishkek"):
        assert str(row) == "pending → confirmed (2026-11-26 04:49)"
    row.from_status = None
    with timezone.override("UTC"):
        assert str(row) == "new → confirmed (2026-11-25 22:49)"

    ret = ReturnStatusHistory.objects.get()
    assert str(ret).startswith("new → requested (")


def test_the_order_page_captions_its_history_in_market_time(admin_client):
    order = make_everything()["order"]
    at = datetime(2026, 11, 25, 22, 49, tzinfo=UTC)
    OrderStatusHistory.objects.filter(order=order).update(created_at=at)
    html = admin_client.get(admin_url(Order, "change", order.pk)).content.decode()
    assert "new → pending (2026-11-26 04:49)" in html
    assert "∅" not in html


def test_payment_refund_and_return_line_captions_read_as_words():
    everything = make_everything()
    order = everything["order"]
    payment = Payment.objects.filter(order=order).first() or Payment.objects.create(
        order=order, provider="cash_on_delivery", status="due_on_delivery", amount=order.total
    )
    assert str(payment) == (
        f"{order.order_number} · {payment.get_provider_display()} · {payment.amount} · "
        f"{payment.get_status_display()}"
    )
    assert "_" not in str(payment)
    refund = Refund(
        payment=payment, amount=Decimal("10.00"), method="bank_transfer", status="pending"
    )
    assert str(refund) == "10.00 · Bank transfer · Pending"
    line = ReturnItem.objects.select_related("order_item").first()
    assert str(line) == (
        f"{line.quantity} x {line.order_item.sku_code} · {line.get_reason_display()}"
    )
