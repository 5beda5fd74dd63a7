"""Staff edits in the admin reach customers at once, even with a warm catalogue cache."""

from decimal import Decimal

import pytest

from banners.models import Banner
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)  # invalidation runs on commit


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("+996700000098", "pw-123456"))
    return client


def _kg_price(api_client, slug):
    return api_client.get(f"/api/v1/products/{slug}/", HTTP_X_MARKET="KG").json()["price"]


def test_a_price_changed_in_the_admin_shows_at_once(api_client, staff_client):
    product = ProductFactory(market="KG")
    SKUFactory(product=product, stock=5)
    price = ProductPriceFactory(product=product, market="KG", price=Decimal("1290.00"))
    assert _kg_price(api_client, product.slug) == "1290.00"  # now cached

    response = staff_client.post(
        f"/admin/products/productprice/{price.pk}/change/",
        {"product": product.pk, "market": "KG", "price": "990.00", "original_price": "1290.00"},
    )
    assert response.status_code == 302, response.content[:500]
    assert _kg_price(api_client, product.slug) == "990.00"


def test_stock_adjusted_in_the_admin_shows_at_once(api_client, staff_client):
    product = ProductFactory(market="KG")
    ProductPriceFactory(product=product, market="KG")
    sku = SKUFactory(product=product, stock=3)
    listed = api_client.get("/api/v1/products/", {"in_stock": "true"}, HTTP_X_MARKET="KG")
    assert listed.json()["count"] == 1

    response = staff_client.post(
        f"/admin/products/sku/{sku.pk}/change/",
        {
            "product": product.pk,
            "code": sku.code,
            "size": sku.size,
            "color": sku.color,
            "color_hex": sku.color_hex,
            "is_active": "on",
            "stock_adjustment": "-3",
        },
    )
    assert response.status_code == 302, response.content[:500]
    listed = api_client.get("/api/v1/products/", {"in_stock": "true"}, HTTP_X_MARKET="KG")
    assert listed.json()["count"] == 0


def test_a_banner_deleted_in_the_admin_disappears_at_once(api_client, staff_client):
    banner = Banner.objects.create(title="Winter sale", image="banners/x.jpg", market="KG")
    assert len(api_client.get("/api/v1/banners/", HTTP_X_MARKET="KG").json()) == 1

    staff_client.post(
        "/admin/banners/banner/",
        {"action": "delete_selected", "_selected_action": [banner.pk], "post": "yes"},
    )
    assert not Banner.objects.exists()
    assert api_client.get("/api/v1/banners/", HTTP_X_MARKET="KG").json() == []
