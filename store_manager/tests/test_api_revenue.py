"""manager/revenue/, revenue/hourly/, dashboard/ and reports/: figures equal a raw aggregation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orders.tests.helpers import priced_sku
from store_manager import analytics
from store_manager.models import DailyReport, ManagerNotification, RevenueSnapshot
from store_manager.selectors.dashboard import manager_dashboard
from store_manager.services.snapshots import snapshots_rebuild
from store_manager.tests.helpers import kg_customer, place, raw_figures, us_customer
from store_manager.tests.manager_api_support import ALL_FLAGS, BASE, client_of, make_manager

pytestmark = pytest.mark.django_db

FIELDS = ("revenue", "orders_count", "items_sold", "cancelled_count", "new_customers")
URL = BASE + "revenue/"


@pytest.fixture
def manager():
    return make_manager("manager", **ALL_FLAGS)


@pytest.fixture
def client(manager):
    return client_of(manager)


def _api(figures: dict) -> dict:
    return {f: Decimal(figures[f]) if f == "revenue" else figures[f] for f in FIELDS}


def _raw(market, start, end) -> dict:
    raw = raw_figures(market, start, end)
    return {f: Decimal(raw[f]) if f == "revenue" else raw[f] for f in FIELDS}


@pytest.fixture
def march():
    """KG and US orders around the local midnights of 2026-03-07..09 (US: DST starts 03-08)."""
    a, b, c = kg_customer(), kg_customer(), us_customer()
    for day in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)):
        bounds = analytics.period_bounds("KG", "daily", day)
        place(a, bounds.start - timedelta(seconds=1), "100.00")  # previous local day
        place(a, bounds.start, "250.00", items=(2, 1))  # 18:00 UTC the day before
        place(b, bounds.start + timedelta(hours=5), "75.50", status="cancelled")
        place(b, bounds.end - timedelta(seconds=1), "40.00", status="delivered")
        place(c, analytics.period_bounds("US", "daily", day).start, "19.99")
    return date(2026, 3, 7), date(2026, 3, 9)


def test_daily_series_and_totals_equal_raw_aggregation(client, march):
    date_from, date_to = march
    # Snapshots for the middle day only: the others are aggregated live. Same figures.
    now = datetime(2026, 4, 1, tzinfo=UTC)
    snapshots_rebuild(
        date_from=date(2026, 3, 8), date_to=date(2026, 3, 8), periods=["daily"], now=now
    )
    response = client.get(URL, {"period": "daily", "date_from": date_from, "date_to": date_to})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["market"], body["currency"], body["period"]) == ("KG", "KGS", "daily")
    assert [b["local_start"][:10] for b in body["series"]] == [
        "2026-03-07",
        "2026-03-08",
        "2026-03-09",
    ]
    assert {b["source"] for b in body["series"]} == {"snapshot", "live"}
    for bucket in body["series"]:
        start = parse_datetime(bucket["start"])
        bounds = analytics.period_bounds("KG", "daily", start)
        assert _api(bucket["figures"]) == _raw("KG", bounds.start, bounds.end)
    whole = analytics.date_range_bounds("KG", date_from, date_to)
    assert _api(body["totals"]) == _raw("KG", whole.start, whole.end)
    previous = analytics.date_range_bounds("KG", date(2026, 3, 4), date(2026, 3, 6))
    assert (body["previous_date_from"], body["previous_date_to"]) == ("2026-03-04", "2026-03-06")
    assert _api(body["previous_totals"]) == _raw("KG", previous.start, previous.end)


def test_a_snapshot_is_not_trusted_for_the_open_period(client):
    """Today's bucket is always live, even if a (stale) snapshot row exists."""
    now = timezone.now()
    today = analytics.local_date("KG", now)
    bounds = analytics.period_bounds("KG", "daily", today)
    place(kg_customer(), bounds.start, "500.00")
    RevenueSnapshot.objects.create(
        market="KG", period="daily", period_start=bounds.start, currency="KGS", revenue=1
    )
    body = client.get(URL, {"period": "daily", "date_from": today, "date_to": today}).json()
    (bucket,) = body["series"]
    assert bucket["source"] == "live"
    assert bucket["figures"]["revenue"] == "500.00"


def test_hourly_series_is_zero_filled_and_exact(client, march):
    response = client.get(URL + "hourly/", {"date": "2026-03-08"})
    body = response.json()
    assert len(body["series"]) == 24
    assert body["series"][0]["local_start"] == "2026-03-08T00:00:00+06:00"
    # 00:00 (250), 23:59:59 (40 and the next day's eve, 100); the cancelled one is not counted.
    assert sum(b["figures"]["orders_count"] for b in body["series"]) == 3
    assert [b["figures"]["orders_count"] for b in body["series"]].count(0) == 22
    day = analytics.date_range_bounds("KG", date(2026, 3, 8), date(2026, 3, 8))
    assert _api(body["totals"]) == _raw("KG", day.start, day.end)


def test_us_hourly_on_the_spring_forward_day_has_23_buckets(march):
    manager = make_manager("manager", market="US", **ALL_FLAGS)
    body = client_of(manager).get(URL + "hourly/", {"date": "2026-03-08"}).json()
    assert len(body["series"]) == 23
    assert body["currency"] == "USD"
    assert Decimal(body["totals"]["revenue"]) == Decimal("19.99")


def test_weekly_range_widens_to_whole_weeks(client, march):
    body = client.get(
        URL, {"period": "weekly", "date_from": "2026-03-04", "date_to": "2026-03-10"}
    ).json()
    assert (body["date_from"], body["date_to"]) == ("2026-03-02", "2026-03-15")
    assert len(body["series"]) == 2
    whole = analytics.date_range_bounds("KG", date(2026, 3, 2), date(2026, 3, 15))
    assert _api(body["totals"]) == _raw("KG", whole.start, whole.end)
    assert (body["previous_date_from"], body["previous_date_to"]) == ("2026-02-16", "2026-03-01")


def test_revenue_is_scoped_to_the_active_market(client, march):
    kg = client.get(URL, {"date_from": "2026-03-08", "date_to": "2026-03-08"}).json()
    us_manager = make_manager("manager", market="US", **ALL_FLAGS)
    us = client_of(us_manager).get(URL, {"date_from": "2026-03-08", "date_to": "2026-03-08"})
    assert kg["totals"]["revenue"] == "390.00"  # 250 + 100 (next day's eve) + 40
    assert us.json()["totals"]["revenue"] == "19.99"


def test_revenue_input_errors(client):
    assert client.get(URL, {"period": "yearly"}).status_code == 400
    bad = client.get(URL, {"date_from": "2026-03-09", "date_to": "2026-03-01"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    long = client.get(URL, {"period": "hourly", "date_from": "2025-01-01", "date_to": "2026-01-01"})
    assert (long.status_code, long.json()["code"]) == (400, "invalid")


def test_revenue_query_count_does_not_grow_with_the_range(client, march):
    def count(date_from, date_to):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, {"date_from": date_from, "date_to": date_to})
        assert response.status_code == 200
        return len(queries)

    assert count("2026-03-08", "2026-03-08") == count("2025-03-01", "2026-03-31")


# --------------------------------------------------------------------------- dashboard


def test_dashboard_figures_equal_raw_aggregation_across_local_midnight():
    """Fixed instant: 10:00 in Bishkek, so "today" began at 18:00 UTC the day before."""
    manager = make_manager("manager", **ALL_FLAGS)
    now = datetime(2026, 3, 9, 4, 0, tzinfo=UTC)  # 10:00 local
    today = analytics.period_bounds("KG", "daily", now)
    yesterday = analytics.previous_bounds("KG", "daily", today)
    a, b = kg_customer(), kg_customer()
    sku = priced_sku(market="KG", stock=2)
    place(a, today.start, "300.00", items=(3,), product=sku.product)  # 00:00 local
    place(b, today.start - timedelta(seconds=1), "999.00")  # yesterday 23:59:59
    place(b, yesterday.start + timedelta(hours=9), "200.00")  # yesterday 09:00: same time
    place(b, yesterday.start + timedelta(hours=11), "50.00")  # yesterday after 10:00
    place(a, today.start + timedelta(hours=1), "80.00", status="cancelled")
    place(us_customer(), today.start + timedelta(hours=2), "12.00")  # US: never counted
    board = manager_dashboard(manager=manager, market="KG", now=now)
    assert board.today.revenue == raw_figures("KG", today.start, now)["revenue"] == Decimal("300")
    assert board.today.orders_count == 1 and board.today.items_sold == 3
    same_time = raw_figures("KG", yesterday.start, yesterday.start + (now - today.start))
    assert board.yesterday_same_time.revenue == same_time["revenue"] == Decimal("200")
    assert board.pending_orders == 4  # place() makes pending orders unless told
    assert len(board.series) == 7
    assert board.series[-1].figures.revenue == Decimal("300")
    assert board.series[-2].figures.revenue == raw_figures("KG", *yesterday)["revenue"]
    assert [row["product_id"] for row in board.top_products] == [sku.product_id]
    assert [row["sku_id"] for row in board.low_stock] == [sku.pk]


def test_dashboard_api_hides_money_without_revenue_permission():
    now = timezone.now()
    place(kg_customer(), analytics.period_bounds("KG", "daily", now).start, "300.00")
    with_revenue = client_of(make_manager("manager", **ALL_FLAGS)).get(BASE + "dashboard/")
    without = client_of(make_manager("manager")).get(BASE + "dashboard/")
    full, hidden = with_revenue.json(), without.json()
    assert full["revenue_visible"] is True and hidden["revenue_visible"] is False
    assert full["today"]["revenue"] == "300.00"
    assert hidden["today"]["revenue"] is None
    assert hidden["today"]["average_order_value"] is None
    assert hidden["today"]["orders_count"] == full["today"]["orders_count"] == 1
    assert all(day["revenue"] is None for day in hidden["last_7_days"])
    assert hidden["change_percent"]["revenue"] is None
    assert len(full["last_7_days"]) == 7
    assert full["last_7_days"][-1]["date"] == full["date"]


def test_dashboard_counts_unread_notifications_and_runs_bounded_queries():
    manager = make_manager("manager", **ALL_FLAGS)
    ManagerNotification.objects.create(manager=manager, title="New order")
    client = client_of(manager)
    for _ in range(5):
        place(kg_customer(), timezone.now() - timedelta(minutes=1), "10.00")
        priced_sku(market="KG", stock=1)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(BASE + "dashboard/").json()
    assert body["unread_notifications"] == 1
    assert len(queries) <= 12, [q["sql"][:80] for q in queries]


# --------------------------------------------------------------------------- reports


def test_reports_list_and_detail_are_scoped_to_the_market(client):
    DailyReport.objects.create(
        market="KG", report_date=date(2026, 3, 8), currency="KGS", revenue=Decimal("390.00")
    )
    DailyReport.objects.create(market="KG", report_date=date(2026, 3, 7), currency="KGS")
    DailyReport.objects.create(market="US", report_date=date(2026, 3, 6), currency="USD")
    body = client.get(BASE + "reports/").json()
    assert [r["report_date"] for r in body["results"]] == ["2026-03-08", "2026-03-07"]
    ranged = client.get(BASE + "reports/", {"date_from": "2026-03-08"}).json()
    assert [r["report_date"] for r in ranged["results"]] == ["2026-03-08"]
    detail = client.get(BASE + "reports/2026-03-08/").json()
    assert detail["revenue"] == "390.00"
    foreign = client.get(BASE + "reports/2026-03-06/")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "not_found")
    assert client.get(BASE + "reports/2026-02-30/").status_code == 404
