from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from banners.api.views import BannerCounterThrottle
from banners.models import Banner
from conftest import authenticate
from products.tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
LIST_URL = reverse("api:banner-list")


def _banner(**kwargs) -> Banner:
    return Banner.objects.create(**({"title": "Sale", "image": "banners/x.jpg"} | kwargs))


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()]


def _counter_url(banner: Banner, action: str) -> str:
    return reverse(f"api:banner-{action}", args=[banner.pk])


# --- list: market --------------------------------------------------------------


@pytest.fixture
def by_market():
    return {
        "KG": _banner(title="kg", market="KG"),
        "US": _banner(title="us", market="US"),
        "ALL": _banner(title="all", market="ALL"),
    }


def test_anonymous_default_market_is_kg(api_client, by_market):
    assert sorted(_titles(api_client.get(LIST_URL))) == ["all", "kg"]


def test_anonymous_names_the_market_with_the_header_or_query(api_client, by_market):
    assert sorted(_titles(api_client.get(LIST_URL, HTTP_X_MARKET="US"))) == ["all", "us"]
    assert sorted(_titles(api_client.get(LIST_URL, {"market": "us"}))) == ["all", "us"]


def test_signed_in_customer_sees_only_their_market_whatever_the_header(
    api_client, customer, us_customer, by_market
):
    authenticate(api_client, customer)
    assert sorted(_titles(api_client.get(LIST_URL, HTTP_X_MARKET="US"))) == ["all", "kg"]
    authenticate(api_client, us_customer)
    assert sorted(_titles(api_client.get(LIST_URL, HTTP_X_MARKET="KG"))) == ["all", "us"]


def test_invalid_market_is_400(api_client, by_market):
    response = api_client.get(LIST_URL, HTTP_X_MARKET="FR")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_market"


# --- list: filters and order -----------------------------------------------------


def test_type_filter(api_client):
    _banner(title="hero", banner_type="hero")
    _banner(title="promo", banner_type="promo")
    _banner(title="category", banner_type="category")
    assert _titles(api_client.get(LIST_URL, {"type": "promo"})) == ["promo"]
    assert _titles(api_client.get(LIST_URL, {"type": "category"})) == ["category"]


def test_unknown_type_is_400(api_client):
    response = api_client.get(LIST_URL, {"type": "popup"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "type" in body["errors"]


def test_only_active_banners_inside_their_window(api_client):
    now = timezone.now()
    _banner(title="open")
    _banner(title="window", starts_at=now - DAY, ends_at=now + DAY)
    _banner(title="started", starts_at=now - DAY)
    _banner(title="until", ends_at=now + DAY)
    _banner(title="not started", starts_at=now + DAY)
    _banner(title="ended", starts_at=now - 2 * DAY, ends_at=now - DAY)
    _banner(title="inactive", is_active=False)
    assert sorted(_titles(api_client.get(LIST_URL))) == ["open", "started", "until", "window"]


def test_ordered_by_type_then_sort_order(api_client):
    _banner(title="category 1", banner_type="category", sort_order=1)
    _banner(title="promo 2", banner_type="promo", sort_order=2)
    _banner(title="hero 5", banner_type="hero", sort_order=5)
    _banner(title="promo 0", banner_type="promo", sort_order=0)
    _banner(title="hero 1", banner_type="hero", sort_order=1)
    assert _titles(api_client.get(LIST_URL)) == [
        "hero 1",
        "hero 5",
        "promo 0",
        "promo 2",
        "category 1",
    ]


# --- list: shape ----------------------------------------------------------------------


def test_row_shape_with_absolute_image_urls(api_client):
    category = CategoryFactory(slug="dresses", market="ALL")
    starts = timezone.now().replace(microsecond=0) - DAY
    banner = _banner(
        title="Summer",
        subtitle="Up to 50%",
        image="banners/summer.jpg",
        mobile_image="banners/mobile/summer.jpg",
        link_url="/catalog/dresses",
        banner_type="category",
        category=category,
        market="KG",
        starts_at=starts,
    )
    [row] = api_client.get(LIST_URL).json()
    assert row == {
        "id": banner.pk,
        "title": "Summer",
        "subtitle": "Up to 50%",
        "image": "http://testserver/media/banners/summer.jpg",
        "mobile_image": "http://testserver/media/banners/mobile/summer.jpg",
        "link_url": "/catalog/dresses",
        "banner_type": "category",
        "category": "dresses",
        "market": "KG",
        "starts_at": starts.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "ends_at": None,
    }
    assert "view_count" not in row and "ctr" not in row  # analytics are not public


def test_missing_mobile_image_and_category_are_null(api_client):
    _banner()
    [row] = api_client.get(LIST_URL).json()
    assert row["mobile_image"] is None
    assert row["category"] is None
    assert row["image"].startswith("http://testserver/")


def test_category_hidden_in_the_market_is_not_linked(api_client):
    _banner(title="us category", category=CategoryFactory(market="US"))
    _banner(title="inactive category", category=CategoryFactory(is_active=False))
    rows = api_client.get(LIST_URL).json()
    assert [row["category"] for row in rows] == [None, None]


def test_list_is_not_paginated_and_capped(api_client, monkeypatch):
    from banners import selectors

    monkeypatch.setattr(selectors, "BANNER_LIST_LIMIT", 3)
    for n in range(5):
        _banner(title=f"b{n}", sort_order=n)
    assert _titles(api_client.get(LIST_URL)) == ["b0", "b1", "b2"]


@pytest.mark.parametrize("size", [5, 40])
def test_list_query_count_does_not_grow_with_banners(
    api_client, customer, django_assert_max_num_queries, size
):
    category = CategoryFactory()
    for n in range(size):
        _banner(title=f"b{n}", category=category if n % 2 else None)
    authenticate(api_client, customer)
    with django_assert_max_num_queries(2):  # the signed-in user + the banners
        response = api_client.get(LIST_URL)
    assert len(response.json()) == size


# --- counters ---------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "field"), [("view", "view_count"), ("click", "click_count")])
def test_counter_grows_by_exactly_the_accepted_calls(api_client, action, field):
    banner = _banner(market="KG", view_count=7, click_count=7)
    stale = Banner.objects.get(pk=banner.pk)
    for _ in range(3):
        response = api_client.post(_counter_url(banner, action))
        assert response.status_code == 204
        assert response.content == b""
    stale.refresh_from_db()
    assert getattr(stale, field) == 10
    other = "click_count" if field == "view_count" else "view_count"
    assert getattr(stale, other) == 7


def test_counters_follow_the_viewer_market(api_client, us_customer):
    banner = _banner(market="US")
    assert api_client.post(_counter_url(banner, "view")).status_code == 404  # KG by default
    assert api_client.post(_counter_url(banner, "view"), HTTP_X_MARKET="US").status_code == 204
    authenticate(api_client, us_customer)
    assert api_client.post(_counter_url(banner, "click")).status_code == 204
    banner.refresh_from_db()
    assert (banner.view_count, banner.click_count) == (1, 1)


@pytest.mark.parametrize(
    "attrs",
    [
        {"market": "US"},
        {"is_active": False},
        {"starts_at": "future"},
        {"ends_at": "past"},
    ],
    ids=["other-market", "inactive", "not-started", "ended"],
)
@pytest.mark.parametrize("action", ["view", "click"])
def test_counter_of_a_banner_the_viewer_cannot_see_is_404(api_client, attrs, action):
    now = timezone.now()
    attrs = dict(attrs)
    if attrs.get("starts_at") == "future":
        attrs["starts_at"] = now + DAY
    if attrs.get("ends_at") == "past":
        attrs["starts_at"], attrs["ends_at"] = now - 2 * DAY, now - DAY
    banner = _banner(**({"market": "KG"} | attrs))

    response = api_client.post(_counter_url(banner, action), HTTP_X_MARKET="KG")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    banner.refresh_from_db()
    assert (banner.view_count, banner.click_count) == (0, 0)


@pytest.mark.parametrize("banner_id", ["999999", "99999999999999999999999999"])
def test_counter_of_an_unknown_banner_is_404(api_client, banner_id):
    response = api_client.post(f"/api/v1/banners/{banner_id}/view/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_counter_with_an_invalid_market_is_400(api_client):
    banner = _banner()
    response = api_client.post(_counter_url(banner, "view"), HTTP_X_MARKET="XX")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_market"


def test_counters_are_post_only(api_client):
    assert api_client.get(_counter_url(_banner(), "view")).status_code == 405


# --- throttling -------------------------------------------------------------------------


def test_throttled_after_the_rate_and_the_counter_stops(api_client):
    banner = _banner()
    limit, _ = BannerCounterThrottle().parse_rate(BannerCounterThrottle.rate)
    assert limit == 30
    for _ in range(limit):
        assert api_client.post(_counter_url(banner, "view")).status_code == 204

    for _ in range(3):
        response = api_client.post(_counter_url(banner, "view"))
        assert response.status_code == 429
        assert response.json()["code"] == "throttled"
        assert 1 <= int(response["Retry-After"]) <= 60

    banner.refresh_from_db()
    assert banner.view_count == limit


def test_throttle_is_per_ip_banner_and_action(api_client, monkeypatch):
    monkeypatch.setattr(BannerCounterThrottle, "rate", "2/min")
    first, second = _banner(), _banner()

    def post(banner, action, ip="10.0.0.1"):
        return api_client.post(_counter_url(banner, action), REMOTE_ADDR=ip).status_code

    assert [post(first, "view") for _ in range(3)] == [204, 204, 429]
    assert [post(first, "click") for _ in range(3)] == [204, 204, 429]  # other action
    assert [post(second, "view") for _ in range(3)] == [204, 204, 429]  # other banner
    assert [post(first, "view", ip="10.0.0.2") for _ in range(3)] == [204, 204, 429]  # other IP

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.view_count, first.click_count, second.view_count) == (4, 2, 2)


def test_list_is_not_throttled_by_the_counter_rate(api_client, monkeypatch):
    monkeypatch.setattr(BannerCounterThrottle, "rate", "1/min")
    _banner()
    assert all(api_client.get(LIST_URL).status_code == 200 for _ in range(3))


def test_a_forged_forwarded_for_header_does_not_reset_the_throttle(api_client, monkeypatch):
    # NUM_PROXIES=0 (the default): X-Forwarded-For is ignored, REMOTE_ADDR is the client.
    monkeypatch.setattr(BannerCounterThrottle, "rate", "2/min")
    banner = _banner()
    statuses = [
        api_client.post(_counter_url(banner, "view"), HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        for n in range(3)
    ]
    assert [response.status_code for response in statuses] == [204, 204, 429]
    banner.refresh_from_db()
    assert banner.view_count == 2
