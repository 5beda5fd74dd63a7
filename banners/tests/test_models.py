from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from banners.models import Banner
from main.testing import violates_constraint
from products.tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db


def _banner(**kwargs):
    return Banner.objects.create(**({"title": "Sale", "image": "banners/x.jpg"} | kwargs))


def test_live_banners_respect_market_activity_and_date_window():
    now = timezone.now()
    day = timedelta(days=1)
    kg = _banner(market="KG")
    everywhere = _banner(market="ALL", starts_at=now - day, ends_at=now + day)
    _banner(market="US")
    _banner(market="KG", is_active=False)
    _banner(market="KG", starts_at=now + day)  # not started
    _banner(market="KG", starts_at=now - 2 * day, ends_at=now - day)  # over
    assert set(Banner.objects.live("KG", now=now)) == {kg, everywhere}


def test_window_must_end_after_it_starts():
    now = timezone.now()
    with violates_constraint("banner_window_ordered"):
        _banner(starts_at=now, ends_at=now - timedelta(hours=1))


def test_ctr_is_a_percentage_and_zero_before_any_view():
    assert _banner().ctr == Decimal("0.00")
    assert _banner(view_count=400, click_count=9).ctr == Decimal("2.25")


def test_deleting_a_category_keeps_its_banners():
    category = CategoryFactory()
    banner = _banner(banner_type="category", category=category)
    category.delete()
    banner.refresh_from_db()
    assert banner.category is None
