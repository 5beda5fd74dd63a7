"""Daily reports: content, recipients, exactly-once delivery (SPEC §3, §6)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.forms.models import model_to_dict

from orders.models import Order
from products.tests.factories import ProductFactory
from store_manager.analytics import date_range_bounds
from store_manager.models import DailyReport, ManagerNotification, ManagerSettings, StoreManager
from store_manager.report_services import (
    daily_report_build,
    daily_report_build_and_send,
    daily_report_send,
    report_recipients,
    reports_rebuild,
)
from store_manager.tasks import recompute_order_periods, send_daily_report, snapshot_after_midnight
from store_manager.tests.helpers import kg_customer, place, us_customer
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 23)  # a Monday


def _manager(email="", *, role="manager", reports=True, report_email="", **flags):
    user = UserFactory(email=email)
    manager = StoreManager.objects.create(user=user, role=role, **flags)
    ManagerSettings.objects.create(
        manager=manager, email_reports=reports, report_email=report_email
    )
    return manager


@pytest.fixture
def managers():
    return {
        "admin": _manager("admin@example.com", role="admin"),
        "kg": _manager("kg@example.com", can_manage_kg=True, can_view_revenue=True),
        "kg_other_address": _manager(
            "own@example.com",
            report_email="reports@example.com",
            can_manage_kg=True,
            can_view_revenue=True,
        ),
        "kg_opted_out": _manager(
            "out@example.com", reports=False, can_manage_kg=True, can_view_revenue=True
        ),
        "kg_no_money": _manager("nomoney@example.com", can_manage_kg=True),
        "kg_inactive": _manager(
            "gone@example.com", can_manage_kg=True, can_view_revenue=True, is_active=False
        ),
        "kg_no_email": _manager("", can_manage_kg=True, can_view_revenue=True),
        "us": _manager("us@example.com", can_manage_us=True, can_view_revenue=True),
    }


@pytest.fixture
def kg_sales():
    shirt, coat, scarf = (ProductFactory(name=n) for n in ("Shirt", "Coat", "Scarf"))
    ann, bek = kg_customer(), kg_customer()
    day = date_range_bounds("KG", DAY, DAY)
    place(ann, day.start, "1000.00", items=(4,), product=shirt)
    place(bek, day.start + timedelta(hours=9), "3000.00", items=(1,), product=coat)
    place(
        bek,
        day.start + timedelta(hours=10),
        "9000.00",
        items=(9,),
        product=scarf,
        status="cancelled",
    )
    place(ann, day.start - timedelta(days=1), "2000.00", product=shirt)  # the day before
    place(ann, day.start - timedelta(days=7), "500.00", product=shirt)  # a week before
    place(us_customer(), day.start + timedelta(hours=12), "77.00")  # the US market
    return {"shirt": shirt, "coat": coat}


def test_report_figures_top_products_and_comparison(kg_sales):
    report = daily_report_build(market="KG", report_date=DAY)

    assert (report.currency, report.revenue, report.orders_count, report.items_sold) == (
        "KGS",
        Decimal("4000.00"),
        2,
        5,
    )
    assert report.average_order_value == Decimal("2000.00")
    assert (report.cancelled_count, report.new_customers) == (1, 1)  # ann bought before
    assert [p["name"] for p in report.top_products["by_revenue"]] == ["Coat", "Shirt"]
    assert [(p["name"], p["units"]) for p in report.top_products["by_units"]] == [
        ("Shirt", 4),
        ("Coat", 1),
    ]
    previous = report.comparison["previous_day"]
    assert (previous["date"], previous["revenue"], previous["revenue_change_percent"]) == (
        "2026-11-22",
        "2000.00",
        "100.00",
    )
    last_week = report.comparison["same_weekday_last_week"]
    assert (last_week["date"], last_week["revenue"], last_week["revenue_change_percent"]) == (
        "2026-11-16",
        "500.00",
        "700.00",
    )
    assert report.emailed_at is None


def test_recipients_manage_the_market_see_money_and_asked(managers):
    assert set(report_recipients("KG")) == {
        managers[k] for k in ("admin", "kg", "kg_other_address", "kg_no_email")
    }
    assert set(report_recipients("US")) == {managers["admin"], managers["us"]}


def test_the_report_is_emailed_to_each_recipient_once(kg_sales, managers):
    report = daily_report_build_and_send(market="KG", report_date=DAY)

    assert sorted(m.to[0] for m in mail.outbox) == [
        "admin@example.com",
        "kg@example.com",
        "reports@example.com",  # report_email wins over the user's e-mail
    ]
    message = mail.outbox[0]
    assert "KG daily report 2026-11-23: 4000.00 KGS" in message.subject
    assert "Revenue:          4000.00 KGS" in message.body
    assert "1. Coat: 3000.00 KGS, 1 units" in message.body
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    assert "<strong>4000.00</strong>" in html and "Shirt" in html
    notified = ManagerNotification.objects.filter(type="report_ready")
    assert set(notified.values_list("manager", flat=True)) == {
        managers[k].pk for k in ("admin", "kg", "kg_other_address", "kg_no_email")
    }
    assert notified.first().data["report_date"] == "2026-11-23"
    report.refresh_from_db()
    assert report.emailed_at is not None

    # Again, by every route: nothing more is sent, nothing changes.
    before = model_to_dict(report) | {"generated_at": report.generated_at}
    daily_report_build_and_send(market="KG", report_date=DAY)
    daily_report_send(report=report)
    send_daily_report("KG", DAY.isoformat())
    reports_rebuild(date_from=DAY, date_to=DAY, markets=["KG"], send_email=True)
    assert len(mail.outbox) == 3
    assert notified.count() == 4
    report.refresh_from_db()
    assert model_to_dict(report) | {"generated_at": report.generated_at} == before


def test_other_market_and_opted_out_managers_get_nothing(kg_sales, managers):
    daily_report_build_and_send(market="US", report_date=DAY)
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@example.com", "us@example.com"]
    assert "77.00 USD" in mail.outbox[0].subject
    for key in ("kg", "kg_opted_out", "kg_no_money", "kg_inactive"):
        assert not managers[key].notifications.exists()


def test_the_scheduled_job_snapshots_then_reports(kg_sales, managers, monkeypatch):
    from django.utils import timezone

    # 00:15 on 24 November in Bishkek.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 23, 18, 15, tzinfo=UTC))
    assert snapshot_after_midnight("KG") == "2026-11-23"
    assert snapshot_after_midnight("KG") == "2026-11-23"
    report = DailyReport.objects.get(market="KG", report_date=DAY)
    assert report.revenue == Decimal("4000.00") and report.emailed_at is not None
    assert len(mail.outbox) == 3


def test_a_late_cancellation_refreshes_the_report_without_resending(kg_sales, managers):
    daily_report_build_and_send(market="KG", report_date=DAY)
    coat_order = Order.objects.get(total=Decimal("3000.00"))
    Order.objects.filter(pk=coat_order.pk).update(status="cancelled")
    recompute_order_periods(coat_order.pk)
    report = DailyReport.objects.get(market="KG", report_date=DAY)
    assert (report.revenue, report.cancelled_count) == (Decimal("1000.00"), 2)
    assert len(mail.outbox) == 3


def test_reports_rebuild_without_email(kg_sales, managers):
    assert reports_rebuild(date_from=DAY - timedelta(days=2), date_to=DAY) == 6
    assert DailyReport.objects.count() == 6
    assert not DailyReport.objects.filter(emailed_at__isnull=False).exists()
    assert mail.outbox == []
