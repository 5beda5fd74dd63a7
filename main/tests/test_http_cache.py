from decimal import Decimal

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from conftest import authenticate
from main.http_cache import (
    VARY_HEADERS,
    HttpCacheMixin,
    apply_http_caching,
    cache_key,
    cached_data,
    catalogue_cache_invalidate,
)
from products.models import ProductPrice
from products.tests.factories import ProductFactory, ProductPriceFactory

URL = "/api/v1/products/"


def vary(response):
    return {part.strip() for part in response["Vary"].split(",")}


# --- helpers on their own ------------------------------------------------------------


class _Hello(HttpCacheMixin, APIView):
    authentication_classes = ()
    permission_classes = ()

    def get(self, request):
        return Response({"hello": request.GET.get("name", "world")})


def test_mixin_sets_etag_cache_control_vary_and_answers_304():
    factory = RequestFactory()
    response = _Hello.as_view()(factory.get("/x"))
    assert response.status_code == 200
    assert response["ETag"].startswith('"')
    assert "public" in response["Cache-Control"] and "max-age=" in response["Cache-Control"]
    assert vary(response) >= set(VARY_HEADERS)

    again = _Hello.as_view()(factory.get("/x", HTTP_IF_NONE_MATCH=response["ETag"]))
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == response["ETag"]
    assert vary(again) >= set(VARY_HEADERS)

    other = _Hello.as_view()(factory.get("/x?name=you", HTTP_IF_NONE_MATCH=response["ETag"]))
    assert other.status_code == 200
    assert other["ETag"] != response["ETag"]


def test_weak_and_listed_etags_match():
    factory = RequestFactory()
    etag = _Hello.as_view()(factory.get("/x"))["ETag"]
    header = f'"other", W/{etag}'
    assert _Hello.as_view()(factory.get("/x", HTTP_IF_NONE_MATCH=header)).status_code == 304


def test_private_and_errors_and_non_get():
    factory = RequestFactory()
    request = factory.get("/x")
    response = Response({"a": 1})
    response.accepted_renderer = JSONRenderer()
    response.accepted_media_type = "application/json"
    response.renderer_context = {}
    private = apply_http_caching(request, response, private=True)
    assert "private" in private["Cache-Control"] and "public" not in private["Cache-Control"]

    error = apply_http_caching(factory.get("/x"), HttpResponse(status=404))
    assert not error.has_header("ETag") and vary(error) >= set(VARY_HEADERS)
    post = apply_http_caching(factory.post("/x"), HttpResponse("ok"))
    assert not post.has_header("ETag")


def test_cache_key_depends_on_market_path_and_sorted_query():
    factory = RequestFactory()
    a = cache_key(factory.get("/p/?b=2&a=1"), market="KG")
    assert a == cache_key(factory.get("/p/?a=1&b=2"), market="KG")
    assert a != cache_key(factory.get("/p/?a=1&b=2"), market="US")
    assert a != cache_key(factory.get("/q/?a=1&b=2"), market="KG")
    assert a != cache_key(factory.get("/p/?a=1&b=3"), market="KG")


def test_cached_data_builds_once_until_invalidated():
    request = RequestFactory().get("/p/")
    calls = []

    def build():
        calls.append(1)
        return {"n": len(calls)}

    assert cached_data(request, market="KG", build=build) == {"n": 1}
    assert cached_data(request, market="KG", build=build) == {"n": 1}
    assert cached_data(request, market="US", build=build) == {"n": 2}
    catalogue_cache_invalidate()
    # A request reads the catalogue version once; the next request sees the new one.
    assert cached_data(request, market="KG", build=build) == {"n": 1}
    assert cached_data(RequestFactory().get("/p/"), market="KG", build=build) == {"n": 3}


# --- through the catalogue API --------------------------------------------------------


@pytest.fixture
def product(db):
    product = ProductFactory(slug="p")
    ProductPriceFactory(product=product, market="KG", price=Decimal("100.00"))
    ProductPriceFactory(product=product, market="US", price=Decimal("5.00"))
    return product


@pytest.mark.parametrize(
    "path",
    [URL, f"{URL}p/", f"{URL}facets/", f"{URL}p/reviews/", "/api/v1/categories/"],
)
def test_catalogue_endpoints_send_etag_and_answer_304(api_client, product, path):
    response = api_client.get(path)
    assert response.status_code == 200
    assert "public" in response["Cache-Control"]
    assert vary(response) >= set(VARY_HEADERS)
    not_modified = api_client.get(path, HTTP_IF_NONE_MATCH=response["ETag"])
    assert not_modified.status_code == 304
    # Another market's body has another ETag: no 304 with KG's tag.
    other = api_client.get(path, HTTP_X_MARKET="US", HTTP_IF_NONE_MATCH=response["ETag"])
    assert other.status_code == 200


def test_server_cache_serves_market_bodies_until_invalidated(
    api_client, product, django_assert_num_queries
):
    assert api_client.get(URL).json()["results"][0]["price"] == "100.00"
    assert api_client.get(URL, HTTP_X_MARKET="US").json()["results"][0]["price"] == "5.00"

    price = ProductPrice.objects.get(product=product, market="KG")
    price.price = Decimal("80.00")
    price.save()  # a model save moves the read model, not the cache: that is invalidation's job
    with django_assert_num_queries(0):
        assert api_client.get(URL).json()["results"][0]["price"] == "100.00"

    catalogue_cache_invalidate()
    assert api_client.get(URL).json()["results"][0]["price"] == "80.00"
    assert api_client.get(URL, HTTP_X_MARKET="US").json()["results"][0]["price"] == "5.00"


def test_signed_in_detail_is_private_and_not_shared(api_client, product, customer):
    authenticate(api_client, customer)
    response = api_client.get(f"{URL}p/")
    assert "private" in response["Cache-Control"]
    assert "Authorization" in vary(response)


def test_errors_are_not_cached(api_client, product):
    assert api_client.get(URL, {"min_price": "x"}).status_code == 400
    response = api_client.get(f"{URL}nope/")
    assert response.status_code == 404
    assert not response.has_header("ETag")


# --- anonymous GETs replayed from the cache ------------------------------------------------

REPLAYED = ("Content-Type", "Allow", "Vary", "Cache-Control", "ETag")
CATALOGUE_GETS = [URL, f"{URL}?page_size=1&ordering=price", f"{URL}p/", f"{URL}facets/"]


@pytest.mark.parametrize("path", [*CATALOGUE_GETS, "/api/v1/categories/"])
def test_an_anonymous_get_is_replayed_byte_for_byte_without_the_database(
    api_client, product, path, django_assert_num_queries
):
    first = api_client.get(path, HTTP_X_MARKET="US")
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = api_client.get(path, HTTP_X_MARKET="US")
    assert again.status_code == 200
    assert again.content == first.content
    assert {h: again[h] for h in REPLAYED} == {h: first[h] for h in REPLAYED}

    # A conditional GET is a 304 with the same validators, still without the database.
    with django_assert_num_queries(0):
        not_modified = api_client.get(path, HTTP_X_MARKET="US", HTTP_IF_NONE_MATCH=first["ETag"])
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == first["ETag"]
    assert vary(not_modified) == vary(first)


def test_a_replayed_response_follows_the_catalogue_version(api_client, product):
    assert api_client.get(URL).json()["results"][0]["price"] == "100.00"
    price = ProductPrice.objects.get(product=product, market="KG")
    price.price = Decimal("80.00")
    price.save()
    assert api_client.get(URL).json()["results"][0]["price"] == "100.00"  # until invalidated
    catalogue_cache_invalidate()
    assert api_client.get(URL).json()["results"][0]["price"] == "80.00"
    # Each market keeps its own.
    assert api_client.get(URL, HTTP_X_MARKET="US").json()["results"][0]["price"] == "5.00"


def test_signed_in_and_invalid_market_requests_are_never_replayed(
    api_client, product, customer, django_assert_max_num_queries
):
    api_client.get(f"{URL}p/")  # stored for anonymous KG
    assert api_client.get(f"{URL}p/", HTTP_X_MARKET="XX").status_code == 400

    authenticate(api_client, customer)
    response = api_client.get(f"{URL}p/")
    assert response.status_code == 200
    assert "private" in response["Cache-Control"]  # built for the customer, not replayed
    assert response.json()["in_wishlist"] is False


def test_replay_needs_a_json_answer(api_client, product):
    api_client.get(URL)
    # `?format=` and non-JSON Accept values go through DRF's negotiation as before.
    assert api_client.get(URL, {"format": "json"}).status_code == 200
    assert api_client.get(URL, HTTP_ACCEPT="text/html").status_code == 406
    assert api_client.get(URL, HTTP_ACCEPT="").status_code == 406  # as DRF answers it cold
    axios = api_client.get(URL, HTTP_ACCEPT="application/json, text/plain, */*")
    assert axios.status_code == 200
    assert axios.json()["count"] == 1


def test_replay_with_the_cache_down_builds_from_the_database(api_client, product, monkeypatch):
    from django.core.cache import cache

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    api_client.get(URL)
    monkeypatch.setattr(cache, "get_many", broken)
    monkeypatch.setattr(cache, "get", broken)
    monkeypatch.setattr(cache, "set", broken)
    response = api_client.get(URL)
    assert response.status_code == 200
    assert response.json()["results"][0]["slug"] == "p"


def test_zero_cache_seconds_keeps_no_bodies_but_the_list_totals(
    api_client, product, settings, django_assert_num_queries
):
    settings.CATALOGUE_CACHE_SECONDS = 0
    assert api_client.get(URL, {"brand": product.brand}).json()["count"] == 1
    price = ProductPrice.objects.get(product=product, market="KG")
    price.price = Decimal("80.00")
    price.save()
    # Built again (no body kept), with the memoised total: only the page query runs.
    with django_assert_num_queries(1):
        body = api_client.get(URL, {"brand": product.brand}).json()
    assert body["results"][0]["price"] == "80.00"
    assert body["count"] == 1


@pytest.mark.parametrize("path", [f"{URL}?brand=x", f"{URL}p/", "/api/v1/categories/"])
def test_a_request_tries_a_failing_cache_once(api_client, product, monkeypatch, path):
    from django.core.cache import cache

    calls = []

    def broken(*args, **kwargs):
        calls.append(args[:1])
        raise ConnectionError("redis does not answer")

    for method in ("get", "get_many", "set", "add"):
        monkeypatch.setattr(cache, method, broken)
    assert api_client.get(path).status_code == 200
    assert len(calls) == 1  # one wait for a dead Redis per request, not one per cache use
