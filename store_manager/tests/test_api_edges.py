"""Edges found in review: extreme changes, out-of-range dates, DST 'same time', input casing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from store_manager import analytics
from store_manager.models import RevenueSnapshot
from store_manager.selectors.dashboard import manager_dashboard
from store_manager.services.snapshots import snapshots_upsert
from store_manager.tests.helpers import kg_customer, place, us_customer
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    make_manager,
    order_in,
)

pytestmark = pytest.mark.django_db


def test_a_huge_change_percent_is_shown_and_stored():
    manager = make_manager("manager", **ALL_FLAGS)
    now = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)  # 12:00 in Bishkek
    today = analytics.period_bounds("KG", "daily", now)
    place(kg_customer(), today.start - timedelta(hours=20), "1.00")  # yesterday 04:00
    place(kg_customer(), today.start + timedelta(hours=1), "200000.00")
    board = manager_dashboard(manager=manager, market="KG", now=now)
    assert board.today.revenue == Decimal("200000.00")
    hour = analytics.period_bounds("KG", "hourly", today.start + timedelta(hours=1))
    previous = analytics.previous_bounds("KG", "hourly", hour)
    place(kg_customer(), previous.start, "0.01")
    snapshots_upsert(market="KG", period="hourly", start=hour.start, end=hour.end)
    row = RevenueSnapshot.objects.get(market="KG", period="hourly", period_start=hour.start)
    assert row.change_percent == Decimal("1999999900.00")


def test_the_dashboard_api_answers_with_a_huge_change(settings):
    manager = make_manager("manager", **ALL_FLAGS)
    client = client_of(manager)
    now = datetime.now(UTC)
    today = analytics.period_bounds("KG", "daily", now)
    place(kg_customer(), today.start - timedelta(hours=23, minutes=59), "0.01")
    place(kg_customer(), today.start, "999999.00")
    response = client.get(BASE + "dashboard/")
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("revenue/", {"date_from": "0001-01-01"}),
        ("revenue/", {"date_from": "9999-12-30", "date_to": "9999-12-31"}),
        ("revenue/hourly/", {"date": "9999-12-31"}),
        ("orders/", {"date_to": "9999-12-31"}),
        ("orders/export/", {"date_to": "9999-12-31"}),
        ("activity/", {"date_from": "0001-01-01"}),
        ("reports/", {"date_from": "0001-01-01"}),
    ],
)
def test_dates_outside_the_supported_range_are_400(path, query):
    client = client_of(make_manager("admin", **ALL_FLAGS))
    response = client.get(BASE + path, query)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "invalid"
    assert set(response.json()["errors"]) & {"date", "date_from", "date_to"}


def test_revenue_from_a_future_date_alone_is_400():
    client = client_of(make_manager("manager", **ALL_FLAGS))
    future = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    response = client.get(BASE + "revenue/", {"date_from": future})
    assert response.status_code == 400
    assert "date_from" in response.json()["errors"]


def test_yesterday_same_time_is_the_same_wall_clock_after_a_clock_change():
    """New York sprang forward on 2026-03-08: 10:00 on the 9th is 23 h after 10:00 on the 8th."""
    manager = make_manager("manager", market="US", **ALL_FLAGS)
    zone = analytics.market_zone("US")
    now = datetime(2026, 3, 9, 10, 0, tzinfo=zone)
    place(us_customer(), datetime(2026, 3, 8, 9, 30, tzinfo=zone), "20.00")  # before 10:00
    place(us_customer(), datetime(2026, 3, 8, 10, 30, tzinfo=zone), "70.00")  # after 10:00
    board = manager_dashboard(manager=manager, market="US", now=now)
    assert board.yesterday_same_time.revenue == Decimal("20.00")


def test_bulk_status_takes_order_numbers_in_any_case():
    manager = make_manager("manager", **ALL_FLAGS)
    first, second = order_in("KG"), order_in("KG")
    response = client_of(manager).post(
        BASE + "orders/bulk-status/",
        {
            "order_numbers": [first.order_number.lower(), f" {second.order_number} "],
            "status": "confirmed",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["updated"] == 2
