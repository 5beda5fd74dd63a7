"""Revenue snapshots: exact figures, idempotent upserts, late changes (SPEC §3, §6)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from orders.models import Order
from store_manager.analytics import date_range_bounds, period_bounds, period_figures
from store_manager.models import RevenueSnapshot
from store_manager.services.snapshots import (
    snapshots_after_midnight,
    snapshots_last_hour,
    snapshots_rebuild,
    snapshots_upsert,
)
from store_manager.tasks import recompute_order_periods
from store_manager.tests.helpers import kg_customer, place, raw_figures, us_customer

pytestmark = pytest.mark.django_db

FIELDS = ("revenue", "orders_count", "items_sold", "cancelled_count", "new_customers")


def _rows():
    """Every snapshot, every column: what "identical rows" means."""
    return [model_to_dict(s) | {"updated_at": s.updated_at} for s in RevenueSnapshot.objects.all()]


def _snapshot(market, period, day):
    return RevenueSnapshot.objects.get(
        market=market, period=period, period_start=period_bounds(market, period, day).start
    )


@pytest.fixture
def two_markets():
    """Orders of both markets around local midnights and the US spring-forward day."""
    kg_1, kg_2, us_1, us_2 = kg_customer(), kg_customer(), us_customer(), us_customer()
    kg_day = period_bounds("KG", "daily", date(2026, 3, 8))
    us_day = period_bounds("US", "daily", date(2026, 3, 8))  # 23 hours
    place(kg_1, kg_day.start - timedelta(seconds=1), "1000.00")
    place(kg_1, kg_day.start, "2000.00", items=(2,))
    place(kg_2, kg_day.start + timedelta(hours=23, minutes=59), "3000.00", status="cancelled")
    place(kg_2, kg_day.end, "4000.00")
    place(us_1, us_day.start - timedelta(seconds=1), "10.00")
    place(us_1, us_day.start + timedelta(hours=2, minutes=30), "20.00")  # 03:30 EDT
    place(us_2, us_day.end - timedelta(seconds=1), "30.00", items=(1, 2))
    place(us_2, us_day.end, "40.00", status="cancelled")
    return {"KG": kg_day, "US": us_day}


@pytest.mark.parametrize("period", ["hourly", "daily", "weekly", "monthly"])
def test_snapshots_equal_a_raw_aggregation(two_markets, period):
    now = datetime(2026, 4, 2, tzinfo=UTC)
    snapshots_rebuild(
        date_from=date(2026, 3, 6), date_to=date(2026, 3, 10), periods=[period], now=now
    )

    snapshots = RevenueSnapshot.objects.filter(period=period)
    assert snapshots.exists()
    for snapshot in snapshots:
        bounds = period_bounds(snapshot.market, period, snapshot.period_start)
        raw = raw_figures(snapshot.market, bounds.start, bounds.end)
        assert {f: getattr(snapshot, f) for f in FIELDS} == raw
        assert snapshot.currency == {"KG": "KGS", "US": "USD"}[snapshot.market]
    # Every US order of the range, once: no order falls between two periods or into two.
    assert sum(s.revenue for s in snapshots.filter(market="US")) == Decimal("60.00")
    assert sum(s.cancelled_count for s in snapshots.filter(market="US")) == 1


def _daily_snapshot(market, day):
    snapshots_upsert(market=market, period="daily", start=day.start, end=day.end)
    return RevenueSnapshot.objects.get(market=market, period="daily", period_start=day.start)


def test_daily_snapshot_of_the_23_hour_day(two_markets):
    snapshot = _daily_snapshot("US", two_markets["US"])
    assert (snapshot.revenue, snapshot.orders_count, snapshot.items_sold) == (
        Decimal("50.00"),
        2,
        4,
    )
    assert snapshot.average_order_value == Decimal("25.00")
    assert snapshot.previous_revenue == Decimal("10.00")
    assert snapshot.change_percent == Decimal("400.00")
    assert snapshot.new_customers == 1  # us_1 bought the day before
    kg = _daily_snapshot("KG", two_markets["KG"])
    assert (kg.revenue, kg.cancelled_count, kg.currency) == (Decimal("2000.00"), 1, "KGS")


def test_hourly_snapshots_cover_23_hours(two_markets):
    day = two_markets["US"]
    snapshots_upsert(market="US", period="hourly", start=day.start, end=day.end)
    hourly = RevenueSnapshot.objects.filter(market="US", period="hourly")
    assert hourly.count() == 23
    assert sum(s.revenue for s in hourly) == Decimal("50.00")


def test_every_job_twice_leaves_identical_rows(two_markets):
    now = datetime(2026, 3, 9, 5, 30, tzinfo=UTC)  # after both markets' midnight
    jobs = [
        lambda: snapshots_last_hour(now=now),
        lambda: snapshots_after_midnight(market="KG", now=now),
        lambda: snapshots_after_midnight(market="US", now=now),
        lambda: snapshots_rebuild(date_from=date(2026, 3, 1), date_to=date(2026, 3, 9), now=now),
        lambda: recompute_order_periods(Order.objects.first().pk),
    ]
    for job in jobs:
        job()
    first = _rows()
    assert snapshots_rebuild(date_from=date(2026, 3, 1), date_to=date(2026, 3, 9), now=now) == 0
    for job in jobs:
        job()
    assert _rows() == first


def test_the_after_midnight_run_closes_yesterday(two_markets):
    # 00:15 on 9 March in Bishkek: KG's 8 March is over, the US one is not.
    now = datetime(2026, 3, 8, 18, 15, tzinfo=UTC)
    assert snapshots_after_midnight(market="KG", now=now) == date(2026, 3, 8)
    assert _snapshot("KG", "daily", date(2026, 3, 8)).revenue == Decimal("2000.00")
    assert _snapshot("KG", "weekly", date(2026, 3, 8)).revenue == Decimal("3000.00")  # Mon 2 Mar
    # The open month so far: every March order in the table.
    assert _snapshot("KG", "monthly", date(2026, 3, 8)).revenue == Decimal("7000.00")
    assert not RevenueSnapshot.objects.filter(market="US").exists()


def test_the_hourly_run_takes_the_last_closed_hour_of_each_market():
    customer = us_customer()
    place(customer, datetime(2026, 11, 24, 14, 20, tzinfo=UTC), "15.00")
    snapshots_last_hour(now=datetime(2026, 11, 24, 15, 5, tzinfo=UTC))
    assert set(RevenueSnapshot.objects.values_list("market", "period", "period_start")) == {
        ("US", "hourly", datetime(2026, 11, 24, 14, tzinfo=UTC)),
        ("KG", "hourly", datetime(2026, 11, 24, 14, tzinfo=UTC)),
    }
    assert RevenueSnapshot.objects.get(market="US").revenue == Decimal("15.00")


def test_cancelling_last_weeks_order_corrects_its_snapshots():
    customer, other = kg_customer(), kg_customer()
    last_week = date(2026, 11, 17)  # Tuesday of the week before 24 Nov
    day = date_range_bounds("KG", last_week, last_week)
    old = place(customer, day.start + timedelta(hours=10), "500.00", items=(3,))
    place(other, day.start + timedelta(hours=11), "200.00")
    later = place(customer, datetime(2026, 11, 24, 6, tzinfo=UTC), "100.00")  # this week
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    snapshots_rebuild(date_from=date(2026, 11, 1), date_to=date(2026, 11, 24), now=now)
    assert _snapshot("KG", "daily", last_week).revenue == Decimal("700.00")
    this_week = _snapshot("KG", "weekly", date(2026, 11, 24))
    assert (this_week.previous_revenue, this_week.new_customers) == (Decimal("700.00"), 0)

    Order.objects.filter(pk=old.pk).update(status="cancelled")
    recompute_order_periods(old.pk)

    for period in ("daily", "weekly", "monthly", "hourly"):
        snapshot = RevenueSnapshot.objects.get(
            market="KG",
            period=period,
            period_start=period_bounds("KG", period, old.created_at).start,
        )
        bounds = period_bounds("KG", period, snapshot.period_start)
        assert {f: getattr(snapshot, f) for f in FIELDS} == raw_figures("KG", *bounds)
    daily = _snapshot("KG", "daily", last_week)
    assert (daily.revenue, daily.items_sold, daily.cancelled_count) == (Decimal("200.00"), 1, 1)
    assert _snapshot("KG", "weekly", last_week).revenue == Decimal("200.00")
    assert _snapshot("KG", "monthly", last_week).revenue == Decimal("300.00")
    # The week after compares with the corrected week, and the customer's later
    # order is now their first non-cancelled one.
    this_week = _snapshot("KG", "weekly", date(2026, 11, 24))
    assert (this_week.previous_revenue, this_week.new_customers) == (Decimal("200.00"), 1)
    assert _snapshot("KG", "daily", date(2026, 11, 24)).new_customers == 1
    assert later.pk


def test_a_missing_order_is_nothing_to_recompute():
    assert recompute_order_periods(987654) == 0


def test_snapshot_figures_match_period_figures_after_rebuild(two_markets):
    now = datetime(2026, 3, 20, tzinfo=UTC)
    snapshots_rebuild(date_from=date(2026, 3, 8), date_to=date(2026, 3, 8), markets=["US"], now=now)
    assert not RevenueSnapshot.objects.filter(market="KG").exists()
    week = period_bounds("US", "weekly", date(2026, 3, 8))  # Monday 2 to Sunday 8 March
    snapshot = RevenueSnapshot.objects.get(market="US", period="weekly", period_start=week.start)
    assert snapshot.revenue == period_figures(market="US", start=week.start, end=week.end).revenue


def test_rebuild_snapshots_command(two_markets):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    call_command(
        "rebuild_snapshots",
        "--from",
        "2026-03-08",
        "--to",
        "2026-03-08",
        "--market",
        "KG",
        "--period",
        "daily",
        stdout=out,
    )
    assert "1/1 KG daily 2026-03-08" in out.getvalue()  # not a terminal: plain lines
    assert "1 rows written" in out.getvalue()
    assert list(RevenueSnapshot.objects.values_list("market", "period")) == [("KG", "daily")]
    call_command(
        "rebuild_snapshots",
        "--from",
        "2026-03-08",
        "--to",
        "2026-03-08",
        "--market",
        "KG",
        "--period",
        "daily",
        stdout=out,
    )
    assert "0 rows written" in out.getvalue()
    with pytest.raises(CommandError, match="after"):
        call_command("rebuild_snapshots", "--from", "2026-03-09", "--to", "2026-03-08")


def test_weeks_and_months_are_rolled_up_from_days_even_without_daily_rows(two_markets):
    week = period_bounds("US", "weekly", date(2026, 3, 8))
    snapshots_upsert(market="US", period="weekly", start=week.start, end=week.end)
    snapshot = RevenueSnapshot.objects.get(period="weekly")
    assert {f: getattr(snapshot, f) for f in FIELDS} == raw_figures("US", *week)
    assert not RevenueSnapshot.objects.filter(period="daily").exists()  # computed, not written
    # With daily rows present, the week is their sum.
    snapshots_upsert(market="US", period="daily", start=week.start, end=week.end)
    RevenueSnapshot.objects.filter(period="weekly").delete()
    snapshots_upsert(market="US", period="weekly", start=week.start, end=week.end)
    assert RevenueSnapshot.objects.get(period="weekly").revenue == snapshot.revenue


def test_the_beat_schedule_closes_each_market_after_its_local_midnight():
    from zoneinfo import ZoneInfo

    from django.conf import settings

    from main.celery import app

    schedule = settings.CELERY_BEAT_SCHEDULE
    for entry in schedule.values():
        if entry["task"].startswith("store_manager."):
            assert entry["task"] in app.tasks  # a typo would only show at 00:15 in production
    for name, market, zone in (
        ("revenue-close-day-kg", "KG", "Asia/Bishkek"),
        ("revenue-close-day-us", "US", "America/New_York"),
    ):
        entry = schedule[name]
        assert entry["args"] == (market,)
        (hour,), (minute,) = entry["schedule"].hour, entry["schedule"].minute
        for month in (1, 7):  # standard time and daylight-saving time
            fired = datetime(2026, month, 15, hour, minute, tzinfo=UTC).astimezone(ZoneInfo(zone))
            assert 0 <= fired.hour < 3, (name, fired)  # shortly after local midnight
    assert schedule["revenue-snapshot-last-hour"]["schedule"].minute == {5}


def test_the_after_midnight_run_repairs_a_lost_recompute(settings):
    customer = kg_customer()
    old_day = date(2026, 10, 25)
    order = place(customer, date_range_bounds("KG", old_day, old_day).start, "700.00")
    place(customer, date_range_bounds("KG", old_day, old_day).start + timedelta(days=5), "30.00")
    monday = datetime(2026, 11, 23, 18, 15, tzinfo=UTC)  # 00:15 on 24 November in Bishkek
    snapshots_after_midnight(market="KG", now=monday)
    assert _snapshot("KG", "daily", old_day).revenue == Decimal("700.00")
    # Cancelled, and the recompute it queued was lost (broker down): the rows are stale.
    Order.objects.filter(pk=order.pk).update(status="cancelled")

    # 14..23 November, and the weeks and months around them (from 1 November).
    settings.SNAPSHOT_RECONCILE_DAYS = 10
    snapshots_after_midnight(market="KG", now=monday)
    assert _snapshot("KG", "daily", old_day).revenue == Decimal("700.00")

    settings.SNAPSHOT_RECONCILE_DAYS = 35  # from 20 October
    snapshots_after_midnight(market="KG", now=monday)
    for period in ("daily", "weekly", "monthly"):
        snapshot = _snapshot("KG", period, old_day)
        bounds = period_bounds("KG", period, snapshot.period_start)
        assert {f: getattr(snapshot, f) for f in FIELDS} == raw_figures("KG", *bounds)
    assert _snapshot("KG", "daily", old_day).cancelled_count == 1
    assert _snapshot("KG", "daily", old_day + timedelta(days=5)).new_customers == 1
    assert _snapshot("KG", "monthly", old_day).revenue == Decimal("30.00")
    before = _rows()
    snapshots_after_midnight(market="KG", now=monday)
    assert _rows() == before
