import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from banners.models import Banner
from banners.services import banner_record_click, banner_record_view
from main.exceptions import NotFound

DAY = timedelta(days=1)


def _banner(**kwargs) -> Banner:
    return Banner.objects.create(**({"title": "Sale", "image": "banners/x.jpg"} | kwargs))


@pytest.mark.django_db
def test_each_call_adds_exactly_one_even_over_a_stale_object():
    banner = _banner(market="KG", view_count=10, click_count=2)
    stale = Banner.objects.get(pk=banner.pk)

    for _ in range(3):
        banner_record_view(banner_id=banner.pk, market="KG")
    banner_record_click(banner_id=banner.pk, market="KG")

    assert stale.view_count == 10  # nothing was loaded, changed and saved back
    stale.refresh_from_db()
    assert (stale.view_count, stale.click_count) == (13, 3)


@pytest.mark.django_db
def test_ctr_follows_the_counters():
    banner = _banner(market="ALL")
    for _ in range(4):
        banner_record_view(banner_id=banner.pk, market="US")
    banner_record_click(banner_id=banner.pk, market="US")
    banner.refresh_from_db()
    assert banner.ctr == Decimal("25.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "attrs",
    [
        {"market": "US"},
        {"market": "KG", "is_active": False},
        {"market": "KG", "starts_at_offset": DAY},
        {"market": "KG", "ends_at_offset": -DAY},
    ],
    ids=["other-market", "inactive", "not-started", "ended"],
)
@pytest.mark.parametrize("record", [banner_record_view, banner_record_click])
def test_only_live_banners_of_the_market_are_counted(attrs, record):
    now = timezone.now()
    attrs = dict(attrs)
    if offset := attrs.pop("starts_at_offset", None):
        attrs["starts_at"] = now + offset
    if offset := attrs.pop("ends_at_offset", None):
        attrs["starts_at"], attrs["ends_at"] = now - 2 * DAY, now + offset
    banner = _banner(**attrs)

    with pytest.raises(NotFound) as excinfo:
        record(banner_id=banner.pk, market="KG", now=now)

    assert excinfo.value.status_code == 404
    assert excinfo.value.code == "not_found"
    banner.refresh_from_db()
    assert (banner.view_count, banner.click_count) == (0, 0)


@pytest.mark.django_db
def test_unknown_banner_is_not_found():
    with pytest.raises(NotFound):
        banner_record_view(banner_id=987654, market="KG")


@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_are_never_lost():
    """Real threads on PostgreSQL; SQLite serialises writers, so there they run one by one."""
    banner = _banner(market="KG")
    workers, per_worker = 8, 25

    def work():
        for _ in range(per_worker):
            banner_record_view(banner_id=banner.pk, market="KG")
            banner_record_click(banner_id=banner.pk, market="KG")

    if connection.vendor == "postgresql":
        start = threading.Barrier(workers)
        errors: list[BaseException] = []

        def in_thread():
            try:
                start.wait(timeout=10)
                work()
            except BaseException as exc:  # re-raised in the main thread below
                errors.append(exc)
            finally:
                connection.close()  # each thread has its own connection

        threads = [threading.Thread(target=in_thread) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
    else:
        for _ in range(workers):
            work()

    banner.refresh_from_db()
    assert banner.view_count == workers * per_worker
    assert banner.click_count == workers * per_worker
