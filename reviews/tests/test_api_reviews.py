from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from main.markets import CatalogMarket
from products.tests.factories import ProductFactory, ProductPriceFactory
from reviews.models import Review, ReviewImage
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def url(slug):
    return f"/api/v1/products/{slug}/reviews/"


def make_product(*, market=CatalogMarket.ALL, markets=("KG",), **kwargs):
    product = ProductFactory(market=market, **kwargs)
    for price_market in markets:
        ProductPriceFactory(product=product, market=price_market, price=Decimal("10.00"))
    return product


def add_review(product, *, rating=5, approved=True, days_ago=0, **kwargs):
    review = Review.objects.create(
        user=UserFactory(**kwargs), product=product, rating=rating, is_approved=approved
    )
    Review.objects.filter(pk=review.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return review


def test_approved_reviews_newest_first_with_images(api_client):
    product = make_product(slug="p")
    old = add_review(product, rating=3, days_ago=5, first_name="Ann", last_name="Lee")
    new = add_review(product, rating=5, days_ago=1)
    add_review(product, approved=False)
    ReviewImage.objects.create(review=new, image=ContentFile(b"x", name="r.png"))

    body = api_client.get(url("p")).json()
    assert body["count"] == 2
    assert [r["id"] for r in body["results"]] == [new.pk, old.pk]
    assert body["results"][0]["images"][0]["url"].startswith("http://testserver/")
    assert body["results"][1]["author"] == "Ann L."
    assert "phone" not in body["results"][0]


def test_reviews_404_for_product_of_other_market(api_client):
    make_product(slug="us", market=CatalogMarket.US, markets=("US",))
    response = api_client.get(url("us"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert api_client.get(url("us"), HTTP_X_MARKET="US").status_code == 200


def test_reviews_pagination_cap(api_client):
    product = make_product(slug="p")
    for _ in range(3):
        add_review(product)
    body = api_client.get(url("p"), {"page_size": 1000}).json()
    assert len(body["results"]) == 3
    assert len(api_client.get(url("p"), {"page_size": 2}).json()["results"]) == 2


@pytest.mark.parametrize("page_size", [1, 100])
def test_reviews_query_count_is_constant(api_client, django_assert_max_num_queries, page_size):
    product = make_product(slug="p")
    for _ in range(100):
        review = add_review(product)
        ReviewImage.objects.create(review=review, image="reviews/x.png")
    # product, count, page (with users), images
    with django_assert_max_num_queries(4):
        response = api_client.get(url("p"), {"page_size": page_size})
    assert len(response.json()["results"]) == page_size
