"""paid_amount and refunded_amount (issue 15): snapshots, reports, revenue, dashboard, filters.

Payments are written straight into the database (refunded <= captured <=
authorised <= amount, as the database insists), on orders created around the
local midnights of both markets. The figures follow the order: a payment counts
in the period its order was created in, cancelled orders included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.events import PAYMENT_REFUNDED, payment_refunded
from orders.models import Order, Payment, PaymentStatus, Refund
from store_manager import analytics
from store_manager.analytics import period_bounds, period_figures
from store_manager.api.serializers import ManagerOrderFilterInput
from store_manager.models import DailyReport, RevenueSnapshot, StoreManager
from store_manager.selectors.dashboard import manager_dashboard
from store_manager.services.reports import daily_report_build, daily_report_send
from store_manager.services.snapshots import snapshots_rebuild
from store_manager.tasks import recompute_order_periods
from store_manager.tests.helpers import kg_customer, pay, place, raw_figures, us_customer
from store_manager.tests.manager_api_support import ALL_FLAGS, BASE, client_of, make_manager
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 8)  # New York springs forward: a 23-hour US day
NOW = datetime(2026, 4, 2, tzinfo=UTC)  # long after: every period of March is closed
OTHER_FIGURES = ("revenue", "orders_count", "items_sold", "cancelled_count", "new_customers")
D = Decimal


def raw_payments(market, start, end) -> dict:
    """The payment figures by the most literal query: every payment of the period's orders."""
    sums = Payment.objects.filter(
        order__market=market, order__created_at__gte=start, order__created_at__lt=end
    ).aggregate(paid=Sum("amount_captured"), refunded=Sum("amount_refunded"))
    return {
        "paid_amount": sums["paid"] or D("0.00"),
        "refunded_amount": sums["refunded"] or D("0.00"),
    }


@pytest.fixture
def paid_days():
    """Paid, refunded, cancelled and twice-paid orders around 8 March in KG and US."""
    kg_a, kg_b, us_a, us_b = kg_customer(), kg_customer(), us_customer(), us_customer()
    kg = period_bounds("KG", "daily", DAY)
    us = period_bounds("US", "daily", DAY)
    orders = {}
    # KG, cash on delivery. The day before: 09:00 and 23:59:59.
    orders["kg_yesterday_9"] = place(
        kg_a, kg.start - timedelta(hours=15), "700.00", status="delivered"
    )
    pay(orders["kg_yesterday_9"], "700.00", "100.00")
    orders["kg_eve"] = place(kg_a, kg.start - timedelta(seconds=1), "1000.00", status="delivered")
    pay(orders["kg_eve"], "1000.00")
    # 8 March: midnight (part refunded), 05:00 (a cancelled payment, then a paid one),
    # 23:59:59 cancelled before any money, and the next midnight (cash still due).
    orders["kg_midnight"] = place(kg_a, kg.start, "2000.00", status="delivered", items=(2,))
    pay(orders["kg_midnight"], "2000.00", "500.00")
    orders["kg_twice"] = place(kg_b, kg.start + timedelta(hours=5), "1500.00", status="delivered")
    pay(orders["kg_twice"], status="canceled")
    pay(orders["kg_twice"], "1500.00")
    orders["kg_cancelled"] = place(
        kg_b, kg.end - timedelta(seconds=1), "3000.00", status="cancelled"
    )
    pay(orders["kg_cancelled"], status="canceled")
    orders["kg_next"] = place(kg_b, kg.end, "4000.00")
    pay(orders["kg_next"])
    # US, card. The evening before, 03:30 EDT (part refunded), a cancelled order refunded
    # in full at 23:59:59, and an authorised one at the next midnight.
    orders["us_eve"] = place(us_a, us.start - timedelta(seconds=1), "10.00", status="delivered")
    pay(orders["us_eve"], "10.00")
    orders["us_morning"] = place(
        us_a, us.start + timedelta(hours=2, minutes=30), "20.00", status="shipped"
    )
    pay(orders["us_morning"], "20.00", "5.00")
    orders["us_cancelled"] = place(us_b, us.end - timedelta(seconds=1), "30.00", status="cancelled")
    pay(orders["us_cancelled"], "30.00", "30.00")
    orders["us_next"] = place(us_b, us.end, "40.00")
    pay(orders["us_next"], authorized="40.00")
    return orders


def _snapshot(market, period, day):
    return RevenueSnapshot.objects.get(
        market=market, period=period, period_start=period_bounds(market, period, day).start
    )


def _payment_figures(obj) -> tuple[Decimal, Decimal]:
    return (obj.paid_amount, obj.refunded_amount)


# --------------------------------------------------------------------------- figures, snapshots


def test_day_figures_of_both_markets(paid_days):
    kg = period_figures(market="KG", **period_bounds("KG", "daily", DAY)._asdict())
    us = period_figures(market="US", **period_bounds("US", "daily", DAY)._asdict())
    # KG: 2000 + 1500 captured, 500 refunded; the cancelled order had taken nothing.
    assert _payment_figures(kg) == (D("3500.00"), D("500.00"))
    # US: the cancelled order counts: 30 captured and 30 refunded, next to 20 and 5.
    assert _payment_figures(us) == (D("50.00"), D("35.00"))
    assert (us.revenue, us.cancelled_count) == (D("20.00"), 1)
    yesterday = period_figures(
        market="KG", **period_bounds("KG", "daily", DAY - timedelta(days=1))._asdict()
    )
    assert _payment_figures(yesterday) == (D("1700.00"), D("100.00"))
    assert kg.as_dict()["paid_amount"] == "3500.00"
    assert kg.as_dict()["refunded_amount"] == "500.00"


def test_an_order_with_two_payments_counts_once_in_the_other_figures(paid_days):
    bounds = period_bounds("KG", "daily", DAY)
    figures = period_figures(market="KG", start=bounds.start, end=bounds.end)
    raw = raw_figures("KG", bounds.start, bounds.end)
    assert {f: getattr(figures, f) for f in OTHER_FIGURES} == raw
    assert (figures.revenue, figures.orders_count, figures.items_sold) == (D("3500.00"), 2, 3)


@pytest.mark.parametrize("period", ["hourly", "daily", "weekly", "monthly"])
def test_snapshots_equal_a_raw_aggregation_of_payments(paid_days, period):
    snapshots_rebuild(
        date_from=date(2026, 3, 6), date_to=date(2026, 3, 10), periods=[period], now=NOW
    )

    snapshots = RevenueSnapshot.objects.filter(period=period)
    assert snapshots.exists()
    for snapshot in snapshots:
        bounds = period_bounds(snapshot.market, period, snapshot.period_start)
        assert {
            "paid_amount": snapshot.paid_amount,
            "refunded_amount": snapshot.refunded_amount,
        } == raw_payments(snapshot.market, bounds.start, bounds.end)
        raw = raw_figures(snapshot.market, bounds.start, bounds.end)
        assert {f: getattr(snapshot, f) for f in OTHER_FIGURES} == raw
    # Every payment of the range once: none falls between two periods or into two.
    us = snapshots.filter(market="US").aggregate(p=Sum("paid_amount"), r=Sum("refunded_amount"))
    assert (us["p"], us["r"]) == (D("60.00"), D("35.00"))
    kg = snapshots.filter(market="KG").aggregate(p=Sum("paid_amount"), r=Sum("refunded_amount"))
    assert (kg["p"], kg["r"]) == (D("5200.00"), D("600.00"))


def test_daily_weekly_and_monthly_snapshots_of_the_day(paid_days):
    snapshots_rebuild(date_from=DAY, date_to=DAY, now=NOW)
    assert _payment_figures(_snapshot("KG", "daily", DAY)) == (D("3500.00"), D("500.00"))
    assert _payment_figures(_snapshot("US", "daily", DAY)) == (D("50.00"), D("35.00"))
    # Monday 2 to Sunday 8 March: the KG week has the day before too; the US
    # week too (its eve at 23:59:59 New York time).
    assert _payment_figures(_snapshot("KG", "weekly", DAY)) == (D("5200.00"), D("600.00"))
    assert _payment_figures(_snapshot("US", "weekly", DAY)) == (D("60.00"), D("35.00"))
    # March: everything, the next day's orders included (KG cash due, US only authorised).
    assert _payment_figures(_snapshot("KG", "monthly", DAY)) == (D("5200.00"), D("600.00"))
    assert _payment_figures(_snapshot("US", "monthly", DAY)) == (D("60.00"), D("35.00"))
    assert snapshots_rebuild(date_from=DAY, date_to=DAY, now=NOW) == 0  # idempotent


def test_the_database_refuses_negative_payment_figures():
    with pytest.raises(IntegrityError), transaction.atomic():
        RevenueSnapshot.objects.create(
            market="KG",
            period="daily",
            period_start=period_bounds("KG", "daily", DAY).start,
            currency="KGS",
            refunded_amount=D("-1.00"),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        DailyReport.objects.create(
            market="KG", report_date=DAY, currency="KGS", paid_amount=D("-1.00")
        )


# --------------------------------------------------------------------------- late refunds


def _refund_later(order, amount: str) -> Refund:
    """Record a further refund the way the payments service leaves the rows."""
    payment = order.payments.exclude(status="canceled").get()
    refund = Refund.objects.create(payment=payment, amount=D(amount), method="cash")
    Payment.objects.filter(pk=payment.pk).update(
        amount_refunded=payment.amount_refunded + refund.amount
    )
    return refund


def test_recompute_periods_is_subscribed_to_payment_refunded():
    assert "store_manager.tasks.recompute_order_periods" in PAYMENT_REFUNDED.subscribers


def test_a_later_refund_updates_the_days_snapshots_and_report(
    paid_days, django_capture_on_commit_callbacks
):
    snapshots_rebuild(date_from=date(2026, 3, 1), date_to=date(2026, 3, 9), now=NOW)
    report = daily_report_build(market="KG", report_date=DAY)
    DailyReport.objects.filter(pk=report.pk).update(emailed_at=NOW)
    next_day = daily_report_build(market="KG", report_date=DAY + timedelta(days=1))
    order = paid_days["kg_midnight"]

    with django_capture_on_commit_callbacks(execute=True):
        payment_refunded(order, refund=_refund_later(order, "300.00"))

    for period in ("hourly", "daily"):
        assert _payment_figures(_snapshot("KG", period, order.created_at)) == (
            D("2000.00") if period == "hourly" else D("3500.00"),
            D("800.00"),
        )
    assert _payment_figures(_snapshot("KG", "weekly", DAY)) == (D("5200.00"), D("900.00"))
    assert _payment_figures(_snapshot("KG", "monthly", DAY)) == (D("5200.00"), D("900.00"))
    report.refresh_from_db()
    assert _payment_figures(report) == (D("3500.00"), D("800.00"))
    next_day.refresh_from_db()  # its comparison shows the day before
    assert next_day.comparison["previous_day"]["refunded_amount"] == "800.00"
    assert mail.outbox == []  # refreshed, not e-mailed again
    assert recompute_order_periods(order.pk) == 0  # nothing left to change


def test_a_manager_refund_through_the_api_updates_the_snapshot(
    paid_days, django_capture_on_commit_callbacks
):
    snapshots_rebuild(date_from=DAY, date_to=DAY, periods=["daily"], now=NOW)
    order = paid_days["kg_twice"]
    client = client_of(make_manager("manager", **ALL_FLAGS))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            BASE + f"orders/{order.order_number}/refund/",
            {"amount": "200.00", "method": "bank_transfer"},
            format="json",
        )

    assert response.status_code == 200, response.json()
    assert _payment_figures(_snapshot("KG", "daily", DAY)) == (D("3500.00"), D("700.00"))


# --------------------------------------------------------------------------- reports


def test_daily_reports_show_paid_and_refunded(paid_days):
    kg = daily_report_build(market="KG", report_date=DAY)
    us = daily_report_build(market="US", report_date=DAY)
    assert _payment_figures(kg) == (D("3500.00"), D("500.00"))
    assert _payment_figures(us) == (D("50.00"), D("35.00"))
    previous = kg.comparison["previous_day"]
    assert (previous["paid_amount"], previous["refunded_amount"]) == ("1700.00", "100.00")
    assert kg.comparison["same_weekday_last_week"]["paid_amount"] == "0.00"


def test_the_report_email_lists_paid_and_refunded(paid_days):
    manager = StoreManager.objects.create(
        user=UserFactory(email="kg@example.com"), can_manage_kg=True, can_view_revenue=True
    )
    report = daily_report_build(market="KG", report_date=DAY)
    assert daily_report_send(report=report) == 1
    (message,) = mail.outbox
    assert message.to == [manager.user.email]
    assert "Paid:             3500.00 KGS" in message.body
    assert "Refunded:         500.00 KGS" in message.body
    html = message.alternatives[0][0]
    assert "Paid (KGS)" in html and "3500.00" in html and "Refunded (KGS)" in html


def test_reports_api_shows_paid_and_refunded(paid_days):
    daily_report_build(market="KG", report_date=DAY)
    client = client_of(make_manager("manager", **ALL_FLAGS))
    detail = client.get(BASE + f"reports/{DAY}/").json()
    assert (detail["paid_amount"], detail["refunded_amount"]) == ("3500.00", "500.00")
    previous = detail["comparison"]["previous_day"]
    assert (previous["paid_amount"], previous["refunded_amount"]) == ("1700.00", "100.00")
    (listed,) = client.get(BASE + "reports/").json()["results"]
    assert (listed["paid_amount"], listed["refunded_amount"]) == ("3500.00", "500.00")


# --------------------------------------------------------------------------- revenue


def test_revenue_series_and_totals_show_paid_and_refunded(paid_days):
    # The middle day from its snapshot, the others live: the same figures.
    snapshots_rebuild(date_from=DAY, date_to=DAY, periods=["daily"], now=NOW)
    client = client_of(make_manager("manager", **ALL_FLAGS))
    body = client.get(
        BASE + "revenue/", {"period": "daily", "date_from": "2026-03-07", "date_to": "2026-03-09"}
    ).json()
    series = {
        b["local_start"][:10]: (b["figures"]["paid_amount"], b["figures"]["refunded_amount"])
        for b in body["series"]
    }
    assert series == {
        "2026-03-07": ("1700.00", "100.00"),
        "2026-03-08": ("3500.00", "500.00"),
        "2026-03-09": ("0.00", "0.00"),  # cash still due
    }
    assert body["series"][1]["source"] == "snapshot"
    assert (body["totals"]["paid_amount"], body["totals"]["refunded_amount"]) == (
        "5200.00",
        "600.00",
    )
    assert body["previous_totals"]["paid_amount"] == "0.00"
    # Revenue counts the twice-paid order once, and the order whose cash is still due.
    assert body["totals"]["revenue"] == "9200.00"


def test_us_hourly_revenue_shows_paid_and_refunded(paid_days):
    client = client_of(make_manager("manager", market="US", **ALL_FLAGS))
    body = client.get(BASE + "revenue/hourly/", {"date": str(DAY)}).json()
    assert len(body["series"]) == 23
    assert (body["totals"]["paid_amount"], body["totals"]["refunded_amount"]) == (
        "50.00",
        "35.00",
    )
    last = body["series"][-1]["figures"]  # 23:00-24:00 EDT: the cancelled, refunded order
    assert (last["paid_amount"], last["refunded_amount"]) == ("30.00", "30.00")


# --------------------------------------------------------------------------- dashboard


def test_dashboard_today_and_yesterday_show_paid_and_refunded(paid_days):
    manager = make_manager("manager", **ALL_FLAGS)
    now = period_bounds("KG", "daily", DAY).start + timedelta(hours=10)  # 10:00 in Bishkek
    board = manager_dashboard(manager=manager, market="KG", now=now)
    assert _payment_figures(board.today) == (D("3500.00"), D("500.00"))
    # Yesterday until 10:00: the 09:00 order, not the one at 23:59:59.
    assert _payment_figures(board.yesterday_same_time) == (D("700.00"), D("100.00"))


def test_dashboard_api_shows_them_only_with_can_view_revenue():
    today = period_bounds("KG", "daily", timezone.now())
    pay(place(kg_customer(), today.start, "300.00", status="delivered"), "300.00", "50.00")
    full = client_of(make_manager("manager", **ALL_FLAGS)).get(BASE + "dashboard/").json()
    hidden = client_of(make_manager("manager")).get(BASE + "dashboard/").json()
    assert (full["today"]["paid_amount"], full["today"]["refunded_amount"]) == ("300.00", "50.00")
    assert full["yesterday_same_time"]["paid_amount"] == "0.00"
    for day in ("today", "yesterday_same_time"):
        assert hidden[day]["paid_amount"] is None
        assert hidden[day]["refunded_amount"] is None
    assert hidden["today"]["orders_count"] == 1


# --------------------------------------------------------------------------- query counts


def test_payment_figures_add_no_query(paid_days, django_assert_num_queries):
    bounds = period_bounds("KG", "daily", DAY)
    with django_assert_num_queries(2):  # orders (with payments), items
        period_figures(market="KG", start=bounds.start, end=bounds.end)
    with django_assert_num_queries(2):
        analytics.bucket_figures(market="US", period="hourly", start=bounds.start, end=bounds.end)


def test_revenue_query_count_does_not_grow_with_the_range_or_payments(paid_days):
    client = client_of(make_manager("manager", **ALL_FLAGS))

    def count(date_from, date_to):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(BASE + "revenue/", {"date_from": date_from, "date_to": date_to})
        assert response.status_code == 200
        return len(queries)

    assert count("2026-03-08", "2026-03-08") == count("2025-03-01", "2026-03-31")


def test_dashboard_queries_stay_bounded_with_payments():
    client = client_of(make_manager("manager", **ALL_FLAGS))
    for _ in range(5):
        order = place(kg_customer(), timezone.now() - timedelta(minutes=1), "10.00")
        pay(order, status="canceled")
        pay(order, "10.00", "2.00")
    with CaptureQueriesContext(connection) as queries:
        body = client.get(BASE + "dashboard/").json()
    assert body["today"]["refunded_amount"] is not None
    assert len(queries) <= 12, [q["sql"][:80] for q in queries]


# --------------------------------------------------------------------------- order filter


def test_the_payment_status_filter_knows_every_payment_status():
    choices = ManagerOrderFilterInput().fields["payment_status"].choices
    assert set(choices) == set(PaymentStatus.values)


@pytest.mark.parametrize("status", ["authorized", "partially_refunded"])
def test_orders_filter_by_new_payment_statuses(status):
    client = client_of(make_manager("manager", **ALL_FLAGS))
    now = timezone.now()
    wanted = set()
    for payment_status in ("unpaid", "authorized", "paid", "partially_refunded", "refunded"):
        order = place(kg_customer(), now - timedelta(minutes=5), "100.00")
        Order.objects.filter(pk=order.pk).update(payment_status=payment_status)
        if payment_status == status:
            wanted.add(order.order_number)
    us_order = place(us_customer(), now, "5.00")
    Order.objects.filter(pk=us_order.pk).update(payment_status=status)  # another market
    body = client.get(BASE + "orders/", {"payment_status": status}).json()
    assert {row["order_number"] for row in body["results"]} == wanted
    assert {row["payment_status"] for row in body["results"]} == {status}
    bad = client.get(BASE + "orders/", {"payment_status": "settled"})
    assert bad.status_code == 400
