"""Figures, periods and time zones of store_manager.analytics (SPEC §2, §3, §4)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from store_manager.analytics import (
    Figures,
    bucket_figures,
    date_range_bounds,
    iter_periods,
    last_closed,
    period_bounds,
    period_figures,
    previous_bounds,
    top_products,
)
from store_manager.tests.helpers import kg_customer, place, raw_figures, us_customer

NY = ZoneInfo("America/New_York")
BISHKEK = ZoneInfo("Asia/Bishkek")


def _hours(bounds):
    return (bounds.end - bounds.start) / timedelta(hours=1)


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 11, 2), 24)],
)
def test_a_new_york_day_follows_daylight_saving(day, hours):
    bounds = period_bounds("US", "daily", day)
    assert bounds.start.astimezone(NY) == datetime(day.year, day.month, day.day, tzinfo=NY)
    assert _hours(bounds) == hours
    assert len(list(iter_periods("US", "hourly", *bounds))) == hours


def test_a_bishkek_day_starts_at_local_midnight():
    bounds = period_bounds("KG", "daily", date(2026, 11, 24))
    assert bounds.start == datetime(2026, 11, 23, 18, tzinfo=UTC)
    assert _hours(bounds) == 24


def test_an_instant_belongs_to_the_market_day_not_the_utc_day():
    instant = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)  # 01:30 on the 24th in Bishkek
    assert period_bounds("KG", "daily", instant).start.astimezone(BISHKEK).date() == date(
        2026, 11, 24
    )
    assert period_bounds("US", "daily", instant).start.astimezone(NY).date() == date(2026, 11, 23)


def test_weeks_start_on_monday_and_months_on_the_first():
    week = period_bounds("US", "weekly", date(2026, 11, 1))  # a Sunday
    assert week.start.astimezone(NY) == datetime(2026, 10, 26, tzinfo=NY)
    assert week.end.astimezone(NY) == datetime(2026, 11, 2, tzinfo=NY)
    assert _hours(week) == 7 * 24 + 1  # the fall-back hour
    month = period_bounds("KG", "monthly", datetime(2026, 12, 31, 19, tzinfo=UTC))  # 1 Jan local
    assert month.start.astimezone(BISHKEK) == datetime(2027, 1, 1, tzinfo=BISHKEK)
    assert month.end.astimezone(BISHKEK) == datetime(2027, 2, 1, tzinfo=BISHKEK)
    february = period_bounds("US", "monthly", date(2028, 2, 10))
    assert february.end.astimezone(NY) == datetime(2028, 3, 1, tzinfo=NY)


def test_the_two_fall_back_hours_are_two_periods():
    first = period_bounds("US", "hourly", datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # 01:30 EDT
    second = period_bounds("US", "hourly", datetime(2026, 11, 1, 6, 30, tzinfo=UTC))  # 01:30 EST
    assert first != second
    assert first.end == second.start
    assert previous_bounds("US", "hourly", second) == first


def test_previous_and_last_closed_periods():
    now = datetime(2026, 11, 24, 18, 30, tzinfo=UTC)  # 00:30 on the 25th in Bishkek
    assert last_closed("KG", "daily", now) == period_bounds("KG", "daily", date(2026, 11, 24))
    assert last_closed("US", "daily", now) == period_bounds("US", "daily", date(2026, 11, 23))
    march = period_bounds("US", "monthly", date(2026, 3, 15))
    assert previous_bounds("US", "monthly", march) == period_bounds(
        "US", "monthly", date(2026, 2, 1)
    )


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        period_bounds("KG", "daily", datetime(2026, 11, 24, 12))


# --------------------------------------------------------------------------- figures


@pytest.mark.django_db
def test_figures_follow_the_spec_and_local_midnight_in_kg():
    ann, bek = kg_customer(), kg_customer()
    day = period_bounds("KG", "daily", date(2026, 11, 24))
    # Before local midnight (23:59 on the 23rd in Bishkek): the day before.
    place(ann, day.start - timedelta(minutes=1), "100.00")
    place(ann, day.start, "250.00", items=(2, 1))  # ann's second order: not new
    place(bek, day.start + timedelta(hours=5), "300.00", status="cancelled")
    place(bek, day.end - timedelta(seconds=1), "401.00", status="delivered")  # bek's first live
    place(bek, day.end, "999.00")  # next local day

    figures = period_figures(market="KG", start=day.start, end=day.end)

    assert figures == Figures(
        revenue=Decimal("651.00"),
        orders_count=2,
        items_sold=4,
        average_order_value=Decimal("325.50"),
        cancelled_count=1,
        new_customers=1,
        net_revenue=Decimal("651.00"),  # nothing refunded
        currency="KGS",
    )
    assert figures.as_dict()["revenue"] == "651.00"
    raw = raw_figures("KG", day.start, day.end)
    assert {k: getattr(figures, k) for k in raw} == raw


@pytest.mark.django_db
@pytest.mark.parametrize("day", [date(2026, 3, 8), date(2026, 11, 1)])
def test_us_figures_on_a_daylight_saving_day(day):
    customer = us_customer()
    bounds = period_bounds("US", "daily", day)
    place(customer, bounds.start - timedelta(seconds=1), "10.00")  # 23:59:59 the day before
    place(customer, bounds.start, "20.00")
    place(us_customer(), bounds.end - timedelta(minutes=1), "30.00")  # last minute of the day
    place(customer, bounds.end, "40.00")  # next day
    place(kg_customer(), bounds.start + timedelta(hours=3), "5000.00")  # KG: never mixed in

    figures = period_figures(market="US", start=bounds.start, end=bounds.end)

    assert (figures.revenue, figures.orders_count, figures.new_customers) == (
        Decimal("50.00"),
        2,
        1,
    )
    assert figures.currency == "USD"
    raw = raw_figures("US", bounds.start, bounds.end)
    assert {k: getattr(figures, k) for k in raw} == raw


@pytest.mark.django_db
def test_an_order_after_a_cancelled_one_makes_a_new_customer():
    customer = kg_customer()
    monday = period_bounds("KG", "daily", date(2026, 11, 23))
    place(customer, monday.start - timedelta(days=3), "100.00", status="cancelled")
    place(customer, monday.start + timedelta(hours=1), "100.00")
    assert period_figures(market="KG", start=monday.start, end=monday.end).new_customers == 1


@pytest.mark.django_db
def test_no_orders_give_zero_figures():
    day = period_bounds("US", "daily", date(2026, 11, 24))
    assert period_figures(market="US", start=day.start, end=day.end) == Figures(currency="USD")


@pytest.mark.django_db
@pytest.mark.parametrize("period", ["hourly", "daily", "weekly", "monthly"])
def test_buckets_equal_one_period_each(period):
    ny_1, ny_2, kg = us_customer(), us_customer(), kg_customer()
    # Around the US fall-back night and a month end.
    instants = [
        datetime(2026, 10, 31, 3, 59, tzinfo=UTC),  # 23:59 on 30 Oct NY
        datetime(2026, 10, 31, 4, 0, tzinfo=UTC),  # 00:00 on 31 Oct NY
        datetime(2026, 11, 1, 5, 10, tzinfo=UTC),  # 01:10 EDT
        datetime(2026, 11, 1, 6, 10, tzinfo=UTC),  # 01:10 EST
        datetime(2026, 11, 2, 4, 59, tzinfo=UTC),  # 23:59 on 1 Nov NY
        datetime(2026, 11, 2, 5, 0, tzinfo=UTC),  # 00:00 on 2 Nov NY, a Monday
    ]
    for n, at in enumerate(instants):
        place(ny_1 if n % 2 else ny_2, at, f"{10 + n}.00", items=(n + 1,))
    place(ny_1, instants[3], "7.00", status="cancelled")
    place(kg, instants[2], "999.00")
    start = period_bounds("US", period, date(2026, 10, 30)).start
    end = period_bounds("US", period, date(2026, 11, 3)).end

    buckets = bucket_figures(market="US", period=period, start=start, end=end)

    assert list(buckets) == [b.start for b in iter_periods("US", period, start, end)]
    for bucket_start, figures in buckets.items():
        bounds = period_bounds("US", period, bucket_start)
        assert figures == period_figures(market="US", start=bounds.start, end=bounds.end)
    assert sum(f.revenue for f in buckets.values()) == Decimal(sum(10 + n for n in range(6)))
    assert sum(f.cancelled_count for f in buckets.values()) == 1
    assert sum(f.new_customers for f in buckets.values()) == 2
    if period == "hourly":
        fall_back = [buckets[period_bounds("US", "hourly", instants[i]).start] for i in (2, 3)]
        assert [f.revenue for f in fall_back] == [Decimal("12.00"), Decimal("13.00")]


@pytest.mark.django_db
def test_top_products_by_revenue_and_units():
    from products.tests.factories import ProductFactory

    shirt, coat = ProductFactory(name="Shirt"), ProductFactory(name="Coat")
    customer = kg_customer()
    day = date_range_bounds("KG", date(2026, 11, 24), date(2026, 11, 24))
    place(customer, day.start, "100.00", items=(5,), product=shirt)
    place(customer, day.start + timedelta(hours=1), "900.00", items=(1,), product=coat)
    place(customer, day.start + timedelta(hours=2), "5000.00", items=(9,), status="cancelled")

    top = top_products(market="KG", start=day.start, end=day.end)

    assert [(p["name"], p["revenue"], p["units"]) for p in top["by_revenue"]] == [
        ("Coat", "900.00", 1),
        ("Shirt", "100.00", 5),
    ]
    assert [p["product_id"] for p in top["by_units"]] == [shirt.id, coat.id]
