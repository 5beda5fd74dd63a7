"""The SKU admin moves stock by a delta, so it never undoes a concurrent checkout."""

import pytest

from products.models import SKU
from products.tests.factories import ProductFactory, SKUFactory
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("+996700000097", "pw-123456"))
    return client


def form(sku, **overrides):
    data = {
        "product": sku.product_id,
        "code": sku.code,
        "size": sku.size,
        "color": sku.color,
        "color_hex": sku.color_hex,
        "is_active": "on",
        "stock_adjustment": "0",
    }
    data.update(overrides)
    return data


def test_an_adjustment_keeps_units_sold_while_the_page_was_open(staff_client):
    sku = SKUFactory(stock=5)
    page = staff_client.get(f"/admin/products/sku/{sku.pk}/change/")
    assert page.status_code == 200
    SKU.objects.filter(pk=sku.pk).update(stock=3)  # a checkout sold 2 meanwhile

    response = staff_client.post(
        f"/admin/products/sku/{sku.pk}/change/", form(sku, stock_adjustment="10", color="Navy")
    )

    assert response.status_code == 302, response.content[:800]
    sku.refresh_from_db()
    assert (sku.stock, sku.color) == (13, "Navy")


def test_an_edit_without_adjustment_leaves_stock_alone(staff_client):
    sku = SKUFactory(stock=5)
    SKU.objects.filter(pk=sku.pk).update(stock=4)
    response = staff_client.post(f"/admin/products/sku/{sku.pk}/change/", form(sku, size="XL"))
    assert response.status_code == 302
    assert SKU.objects.get(pk=sku.pk).stock == 4


def test_removing_more_than_is_in_stock_is_a_form_error(staff_client):
    sku = SKUFactory(stock=2)
    response = staff_client.post(
        f"/admin/products/sku/{sku.pk}/change/", form(sku, stock_adjustment="-3")
    )
    assert response.status_code == 200
    assert b"Only 2 in stock" in response.content
    assert SKU.objects.get(pk=sku.pk).stock == 2


def test_a_new_sku_starts_with_its_adjustment(staff_client):
    product = ProductFactory()
    response = staff_client.post(
        "/admin/products/sku/add/",
        {"product": product.pk, "code": "NEW-1", "size": "M", "color": "Red",
         "color_hex": "#ff0000", "is_active": "on", "stock_adjustment": "7"},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:800]
    assert SKU.objects.get(code="NEW-1").stock == 7


def test_the_sku_list_cannot_set_stock(staff_client):
    sku = SKUFactory(stock=5)
    staff_client.post(
        "/admin/products/sku/",
        {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": sku.pk,
         "form-0-stock": "99", "form-0-is_active": "", "_save": "Save"},
    )  # fmt: skip
    sku.refresh_from_db()
    assert (sku.stock, sku.is_active) == (5, False)


def test_the_product_page_inline_adjusts_too(staff_client):
    sku = SKUFactory(stock=5)
    product = sku.product
    page = staff_client.get(f"/admin/products/product/{product.pk}/change/")
    assert page.status_code == 200
    assert b"stock_adjustment" in page.content
