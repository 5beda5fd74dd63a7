"""The demo store always shows a working day: orders today, reports up to yesterday.

Whatever the hour `seed_demo` runs, in each market's own time zone: early in the
Bishkek morning as well, and again days later with no beat having run.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from demo.catalogue import seed_catalogue
from demo.management.commands.seed_demo import rebuild_figures
from demo.managers import seed_managers
from demo.orders import seed_orders
from demo.users import seed_admin, seed_customers
from main.markets import Market, market_config
from orders.models import Order
from store_manager.analytics import local_date, local_midnight
from store_manager.models import DailyReport, RevenueSnapshot

pytestmark = pytest.mark.django_db


def early_kg_morning(days_ago: int) -> datetime:
    """00:20 in Bishkek, `days_ago` local days before today (18:20 UTC the day before)."""
    zone = market_config("KG").time_zone
    day = timezone.now().astimezone(zone).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(0, 20)).replace(tzinfo=zone)


def seed_at(now: datetime):
    seed_admin()
    seed_catalogue(small=True)
    customers = seed_customers(small=True)
    seed_managers()
    history = seed_orders(customers, small=True, now=now)
    rebuild_figures(first_day=history.first_day, now=now)


def assert_a_working_day(now: datetime) -> None:
    for market in Market.values:
        today = local_date(market, now)
        placed = Order.objects.filter(
            market=market, created_at__gte=local_midnight(market, today), created_at__lt=now
        )
        assert placed.exists(), market
        newest = DailyReport.objects.filter(market=market).order_by("-report_date").first()
        assert newest.report_date == today - timedelta(days=1), market
        snapshot = RevenueSnapshot.objects.get(
            market=market, period="daily", period_start=local_midnight(market, today)
        )
        assert snapshot.orders_count + snapshot.cancelled_count == placed.count(), market


def test_twenty_minutes_after_midnight_in_bishkek_kg_already_has_orders_today():
    now = early_kg_morning(days_ago=4)

    seed_at(now)

    assert_a_working_day(now)


def test_a_run_days_later_adds_today_and_the_missing_reports():
    first = early_kg_morning(days_ago=4)
    seed_at(first)
    orders_before = Order.objects.count()

    later = first + timedelta(days=3, hours=2)
    seed_at(later)

    assert Order.objects.count() > orders_before
    assert_a_working_day(later)
    # The days between got their reports too, none twice.
    for market in Market.values:
        reports = DailyReport.objects.filter(market=market)
        dates = list(reports.values_list("report_date", flat=True))
        assert len(dates) == len(set(dates))
        yesterday = local_date(market, later) - timedelta(days=1)
        assert {yesterday - timedelta(days=i) for i in range(4)} <= set(dates)

    # The same day again changes nothing.
    orders, reports = Order.objects.count(), DailyReport.objects.count()
    seed_at(later + timedelta(minutes=30))
    assert (Order.objects.count(), DailyReport.objects.count()) == (orders, reports)
