from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from conftest import authenticate
from main.markets import CatalogMarket
from products.models import ProductFeature, ProductImage, Wishlist, WishlistItem
from products.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductPriceFactory,
    SKUFactory,
    SubcategoryFactory,
)
from reviews.models import Review
from reviews.services import product_rating_refresh
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def url(slug):
    return f"/api/v1/products/{slug}/"


def make_product(*, market=CatalogMarket.ALL, kg="1000.00", us="20.00", **kwargs):
    product = ProductFactory(market=market, **kwargs)
    if kg:
        ProductPriceFactory(product=product, market="KG", price=Decimal(kg))
    if us:
        ProductPriceFactory(product=product, market="US", price=Decimal(us))
    return product


def test_detail_shape_price_skus_and_no_stock_number(api_client, settings):
    settings.LOW_STOCK_THRESHOLD = 3
    sub = SubcategoryFactory()
    product = make_product(
        slug="coat", category=sub.category, subcategory=sub, kg="4500", us="60.5"
    )
    ProductImage.objects.create(product=product, image=ContentFile(b"x", name="a.png"))
    ProductFeature.objects.create(product=product, name="Material", value="Wool")
    SKUFactory(product=product, size="S", color="Black", color_hex="#000000", stock=10)
    SKUFactory(product=product, size="M", color="Black", stock=2)
    SKUFactory(product=product, size="L", color="Black", stock=0)
    SKUFactory(product=product, size="XL", stock=5, is_active=False)

    body = api_client.get(url("coat")).json()
    assert body["price"] == "4500.00" and body["currency"] == "KGS"
    assert body["images"][0]["url"].startswith("http://testserver/")
    assert body["features"] == [{"name": "Material", "value": "Wool"}]
    assert [(s["size"], s["in_stock"], s["low_stock"]) for s in body["skus"]] == [
        ("S", True, False),
        ("M", True, True),
        ("L", False, False),
    ]
    assert all("stock" not in sku for sku in body["skus"])
    assert body["skus"][0]["color_hex"] == "#000000"
    assert body["category"]["slug"] == sub.category.slug
    assert body["subcategory"]["slug"] == sub.slug
    assert body["in_wishlist"] is False

    us = api_client.get(url("coat"), HTTP_X_MARKET="US").json()
    assert (us["price"], us["currency"]) == ("60.50", "USD")


def test_rating_summary_counts_approved_reviews_only(api_client):
    product = make_product(slug="p")
    for rating, approved in [(5, True), (5, True), (4, True), (1, True), (2, False)]:
        Review.objects.create(
            user=UserFactory(), product=product, rating=rating, is_approved=approved
        )
    product_rating_refresh(product_id=product.pk)  # the counters the detail reads
    rating = api_client.get(url("p")).json()["rating"]
    assert rating == {
        "average": "3.75",
        "count": 4,
        "distribution": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 2},
    }


def test_related_products_same_subcategory_up_to_8(api_client):
    sub = SubcategoryFactory()
    other_sub = SubcategoryFactory(category=sub.category)
    product = make_product(slug="main", category=sub.category, subcategory=sub)
    for _ in range(10):
        make_product(category=sub.category, subcategory=sub)
    make_product(slug="us-only", market=CatalogMarket.US, kg=None, subcategory=sub)
    make_product(slug="elsewhere", category=sub.category, subcategory=other_sub)

    related = api_client.get(url(product.slug)).json()["related"]
    assert len(related) == 8
    assert {"main", "us-only", "elsewhere"}.isdisjoint(r["slug"] for r in related)
    assert related[0]["currency"] == "KGS"


@pytest.mark.parametrize(
    ("kwargs", "market"),
    [
        ({"market": CatalogMarket.US, "kg": None}, "KG"),
        ({"market": CatalogMarket.KG, "us": None}, "US"),
        ({"is_active": False}, "KG"),
        ({"kg": None}, "KG"),  # ALL but unpriced in KG
    ],
)
def test_detail_404_across_markets_inactive_and_unpriced(api_client, kwargs, market):
    make_product(slug="hidden", **kwargs)
    response = api_client.get(url("hidden"), HTTP_X_MARKET=market)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_signed_in_kg_customer_cannot_see_us_product(api_client, customer):
    make_product(slug="us-only", market=CatalogMarket.US, kg=None)
    authenticate(api_client, customer)
    assert api_client.get(url("us-only"), HTTP_X_MARKET="US").status_code == 404


def test_in_wishlist_for_signed_in_user_is_private(api_client, customer):
    product = make_product(slug="p")
    make_product(slug="q")
    WishlistItem.objects.create(wishlist=Wishlist.objects.create(user=customer), product=product)

    anonymous = api_client.get(url("p"))
    assert "public" in anonymous["Cache-Control"]
    authenticate(api_client, customer)
    response = api_client.get(url("p"))
    assert response.json()["in_wishlist"] is True
    assert "private" in response["Cache-Control"]
    assert "public" not in response["Cache-Control"]
    assert api_client.get(url("q")).json()["in_wishlist"] is False


def test_detail_query_count_is_bounded(api_client, django_assert_max_num_queries):
    sub = SubcategoryFactory(category=CategoryFactory())
    product = make_product(slug="p", category=sub.category, subcategory=sub)
    for _ in range(20):
        SKUFactory(product=product)
        ProductImage.objects.create(product=product, image="products/gallery/x.png")
        make_product(category=sub.category, subcategory=sub)
    # product, images, features, skus, rating summary, related
    with django_assert_max_num_queries(6):
        assert api_client.get(url("p")).status_code == 200
