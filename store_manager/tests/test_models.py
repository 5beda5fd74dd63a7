from datetime import UTC, datetime
from decimal import Decimal

import pytest

from main.testing import violates_constraint
from store_manager.models import (
    DailyReport,
    ManagerActivityLog,
    ManagerNotification,
    RevenueSnapshot,
    StoreManager,
)
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # 00:00 in Bishkek


def _snapshot(**kwargs):
    fields = {
        "market": "KG",
        "period": "daily",
        "period_start": START,
        "currency": "KGS",
        "revenue": Decimal("12900.00"),
    }
    return RevenueSnapshot.objects.create(**(fields | kwargs))


def test_one_snapshot_per_market_period_and_start():
    _snapshot()
    _snapshot(period="hourly")  # another period: fine
    _snapshot(market="US", currency="USD")  # another market: fine
    with violates_constraint("snapshot_market_period_unique"):
        _snapshot()


def test_one_daily_report_per_market_and_date():
    DailyReport.objects.create(market="KG", report_date=START.date(), currency="KGS")
    with violates_constraint("report_market_date_unique"):
        DailyReport.objects.create(market="KG", report_date=START.date(), currency="KGS")


def test_manager_active_market_is_kg_or_us():
    with violates_constraint("manager_active_market_valid"):
        StoreManager.objects.create(user=UserFactory(), active_market="RU")


def test_deleting_a_manager_keeps_the_audit_log_and_drops_notifications():
    manager = StoreManager.objects.create(user=UserFactory(), role="manager")
    ManagerActivityLog.objects.create(manager=manager, action="order_status_changed", market="KG")
    ManagerNotification.objects.create(manager=manager, title="New order")
    manager.delete()
    log = ManagerActivityLog.objects.get()
    assert (log.manager_id, log.action) == (None, "order_status_changed")
    assert not ManagerNotification.objects.exists()
