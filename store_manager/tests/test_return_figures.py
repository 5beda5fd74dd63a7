"""returns_count and net_revenue (SPEC §10): snapshots, reports, revenue, dashboard, export.

Returns and payments are written straight into the database (statuses set
directly), on orders created around the local midnights of both markets; one
test walks a return through `orders.services.returns` end to end. The figures
follow the order: a return or a refund counts in the period its order was
created in. `net_revenue` is revenue less the refunds of the non-cancelled
orders (a cancelled order's refund is only in `refunded_amount`). Replacement
orders (an exchange's shipment, total 0) count in no figure.
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import events
from orders.models import (
    Order,
    OrderStatus,
    Payment,
    ReturnItem,
    ReturnRequest,
    ReturnStatus,
    ReturnStatusHistory,
)
from orders.services.returns import (
    return_receive,
    return_refund,
    return_request_create,
    return_transition,
)
from orders.tests.returns_support import delivered_order, line, sizes
from products.tests.factories import ProductFactory
from store_manager import analytics
from store_manager.analytics import FIGURE_NAMES, Figures, period_bounds, period_figures
from store_manager.models import DailyReport, RevenueSnapshot, StoreManager
from store_manager.selectors.dashboard import manager_dashboard
from store_manager.services import export as export_services
from store_manager.services.reports import daily_report_build, daily_report_send
from store_manager.services.snapshots import snapshots_rebuild
from store_manager.tasks import recompute_order_periods
from store_manager.tests.helpers import kg_customer, pay, place, raw_figures, us_customer
from store_manager.tests.manager_api_support import ALL_FLAGS, BASE, client_of, make_manager
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 8)  # New York springs forward: a 23-hour US day
NOW = datetime(2026, 4, 2, tzinfo=UTC)  # long after: every period of March is closed
D = Decimal
R = ReturnStatus
_return_numbers = itertools.count(1)


def give_back(order, status: str, *lines: tuple[int, int], refunded: str = "0.00", at=None):
    """A return of `order` in `status`; `lines` are (index of the order's item, units)."""
    ret = ReturnRequest.objects.create(
        return_number=f"R-T{next(_return_numbers):06d}",
        order=order,
        user=order.user,
        market=order.market,
        currency=order.currency,
        status=status,
        refunded_amount=D(refunded),
    )
    items = list(order.items.order_by("id"))
    for index, units in lines or ((0, 1),):
        ReturnItem.objects.create(
            return_request=ret, order_item=items[index], quantity=units, reason="size_too_small"
        )
    if at is not None:
        ReturnRequest.objects.filter(pk=ret.pk).update(created_at=at)
    return ret


def raw_returns(market: str, start: datetime, end: datetime) -> dict:
    """The two figures by the most literal queries, to check the aggregation against."""
    orders = Order.objects.filter(
        market=market, created_at__gte=start, created_at__lt=end, is_replacement=False
    )
    live = orders.exclude(status=OrderStatus.CANCELLED)
    revenue = live.aggregate(s=Sum("total"))["s"] or D("0.00")
    refunded = Payment.objects.filter(order__in=live).aggregate(s=Sum("amount_refunded"))["s"]
    returns = ReturnRequest.objects.filter(order__in=orders).exclude(
        status__in=(R.REJECTED, R.CANCELLED)
    )
    return {"returns_count": returns.count(), "net_revenue": revenue - (refunded or 0)}


def _returns(obj) -> tuple[int, Decimal]:
    return (obj.returns_count, obj.net_revenue)


def _snapshot(market, period, day):
    return RevenueSnapshot.objects.get(
        market=market, period=period, period_start=period_bounds(market, period, day).start
    )


@pytest.fixture
def returned_days():
    """Returns, refunds, cancellations and exchanges around 8 March in KG and US.

    KG 7 March: 1700 of revenue, 400 refunded, 2 live returns (net 1300).
    KG 8 March: 4200 (3 orders), 500 refunded on them and 3000 on a cancelled
    order, 3 live returns next to a rejected and a cancelled one, and three
    replacement orders (one the customer's earliest, one cancelled): net 3700.
    US 8 March (23 hours): 50 (2 orders), 35 refunded, 3 live returns: net 15.
    """
    kg_a, kg_b, kg_d, kg_e = kg_customer(), kg_customer(), kg_customer(), kg_customer()
    us_a, us_b, us_c = us_customer(), us_customer(), us_customer()
    kg = period_bounds("KG", "daily", DAY)
    us = period_bounds("US", "daily", DAY)
    shirt = ProductFactory(name="Exchange shirt", market="KG")
    o = {}
    # KG, 7 March: 09:00 and 23:59:59.
    o["kg_morning_before"] = place(
        kg_a, kg.start - timedelta(hours=15), "700.00", status="delivered"
    )
    pay(o["kg_morning_before"], "700.00", "100.00")
    give_back(o["kg_morning_before"], R.REQUESTED)
    o["kg_eve"] = place(kg_a, kg.start - timedelta(seconds=1), "1000.00", status="delivered")
    pay(o["kg_eve"], "1000.00", "300.00")
    give_back(o["kg_eve"], R.REFUNDED, refunded="300.00")
    # KG, 8 March from local midnight.
    o["kg_midnight"] = place(kg_a, kg.start, "2000.00", status="delivered", items=(2, 1))
    pay(o["kg_midnight"], "2000.00", "500.00")
    give_back(o["kg_midnight"], R.REFUNDED, (0, 1), refunded="500.00", at=NOW)  # made in April
    give_back(o["kg_midnight"], R.REJECTED, (0, 1))
    give_back(o["kg_midnight"], R.REQUESTED, (0, 1), (1, 1))
    # A replacement is kg_d's earliest order: their real order still makes them new.
    o["kg_replacement_first"] = place(
        kg_d, kg.start + timedelta(hours=1), "0.00", status="confirmed", replacement=True
    )
    pay(o["kg_replacement_first"], provider="cash_on_delivery")
    o["kg_d_real"] = place(kg_d, kg.start + timedelta(hours=2), "700.00")
    o["kg_cancelled"] = place(kg_b, kg.start + timedelta(hours=5), "3000.00", status="cancelled")
    pay(o["kg_cancelled"], "3000.00", "3000.00")
    o["kg_exchanged"] = place(kg_b, kg.start + timedelta(hours=8), "1500.00", status="delivered")
    pay(o["kg_exchanged"], "1500.00")
    give_back(o["kg_exchanged"], R.EXCHANGED)
    give_back(o["kg_exchanged"], R.CANCELLED)
    o["kg_replacement"] = place(
        kg_b,
        kg.start + timedelta(hours=9),
        "0.00",
        status="confirmed",
        replacement=True,
        product=shirt,
        items=(3,),
    )
    pay(o["kg_replacement"], provider="cash_on_delivery")
    o["kg_replacement_cancelled"] = place(
        kg_e, kg.start + timedelta(hours=10), "0.00", status="cancelled", replacement=True
    )
    o["kg_next"] = place(kg_b, kg.end, "4000.00")
    pay(o["kg_next"])
    # US: the evening before, 03:30 EDT (two returns of one line each), a replacement,
    # an order refunded in full through its return at 23:59:59, and the next midnight.
    o["us_eve"] = place(us_a, us.start - timedelta(seconds=1), "10.00", status="delivered")
    pay(o["us_eve"], "10.00")
    give_back(o["us_eve"], R.REQUESTED)
    o["us_morning"] = place(
        us_a, us.start + timedelta(hours=2, minutes=30), "20.00", status="delivered", items=(1, 1)
    )
    pay(o["us_morning"], "20.00", "5.00")
    give_back(o["us_morning"], R.RECEIVED, (0, 1))
    give_back(o["us_morning"], R.APPROVED, (1, 1))
    o["us_replacement"] = place(
        us_c, us.start + timedelta(hours=5), "0.00", status="confirmed", replacement=True
    )
    pay(o["us_replacement"], provider="cash_on_delivery", status="due_on_delivery")
    o["us_late"] = place(us_b, us.end - timedelta(seconds=1), "30.00", status="delivered")
    pay(o["us_late"], "30.00", "30.00")
    give_back(o["us_late"], R.REFUNDED, refunded="30.00")
    o["us_next"] = place(us_b, us.end, "40.00", status="delivered")
    pay(o["us_next"], "40.00")
    give_back(o["us_next"], R.REQUESTED)
    return o


# --------------------------------------------------------------------------- figures


def test_day_figures_of_both_markets(returned_days):
    kg = period_figures(market="KG", **period_bounds("KG", "daily", DAY)._asdict())
    assert _returns(kg) == (3, D("3700.00"))
    # The cancelled order's 3000 refund is in refunded_amount, not taken from net revenue.
    assert (kg.revenue, kg.refunded_amount) == (D("4200.00"), D("3500.00"))
    assert kg.as_dict()["returns_count"] == 3
    assert kg.as_dict()["net_revenue"] == "3700.00"
    before = period_figures(
        market="KG", **period_bounds("KG", "daily", DAY - timedelta(days=1))._asdict()
    )
    assert _returns(before) == (2, D("1300.00"))
    us = period_figures(market="US", **period_bounds("US", "daily", DAY)._asdict())
    assert _returns(us) == (3, D("15.00"))
    assert (us.revenue, us.refunded_amount, us.orders_count) == (D("50.00"), D("35.00"), 2)


def test_replacement_orders_count_in_no_figure(returned_days):
    kg = period_bounds("KG", "daily", DAY)
    figures = period_figures(market="KG", start=kg.start, end=kg.end)
    # Three real orders: midnight (2 + 1 units), kg_d's (1) and the exchanged one (1);
    # kg_b and kg_d are new (a replacement is nobody's first order), kg_a is not.
    assert (figures.orders_count, figures.items_sold, figures.new_customers) == (3, 5, 2)
    assert figures.cancelled_count == 1  # the cancelled replacement is not a cancelled sale
    assert figures.average_order_value == D("1400.00")
    assert figures.paid_amount == D("6500.00")
    assert {f: getattr(figures, f) for f in raw_figures("KG", kg.start, kg.end)} == raw_figures(
        "KG", kg.start, kg.end
    )
    # An hour holding nothing but a replacement order has zero figures.
    for hours, market in ((1, "KG"), (9, "KG"), (10, "KG")):
        hour = period_bounds(market, "hourly", kg.start + timedelta(hours=hours))
        assert period_figures(market=market, start=hour.start, end=hour.end) == Figures(
            currency="KGS"
        )
    us_hour = period_bounds("US", "hourly", returned_days["us_replacement"].created_at)
    assert period_figures(market="US", **us_hour._asdict()) == Figures(currency="USD")
    # Nor in the best sellers.
    top = analytics.top_products(market="KG", start=kg.start, end=kg.end)
    assert "Exchange shirt" not in {row["name"] for row in top["by_units"]}
    assert sum(row["units"] for row in top["by_units"]) == 5


@pytest.mark.parametrize("period", ["hourly", "daily", "weekly", "monthly"])
def test_snapshots_equal_a_raw_aggregation_of_returns(returned_days, period):
    snapshots_rebuild(
        date_from=date(2026, 3, 6), date_to=date(2026, 3, 10), periods=[period], now=NOW
    )

    snapshots = RevenueSnapshot.objects.filter(period=period)
    assert snapshots.exists()
    for snapshot in snapshots:
        bounds = period_bounds(snapshot.market, period, snapshot.period_start)
        assert {
            "returns_count": snapshot.returns_count,
            "net_revenue": snapshot.net_revenue,
        } == raw_returns(snapshot.market, bounds.start, bounds.end)
        raw = raw_figures(snapshot.market, bounds.start, bounds.end)
        assert {f: getattr(snapshot, f) for f in raw} == raw
    # Every live return once: none falls between two periods or into two.
    kg = snapshots.filter(market="KG").aggregate(r=Sum("returns_count"), n=Sum("net_revenue"))
    assert (kg["r"], kg["n"]) == (5, D("9000.00"))
    us = snapshots.filter(market="US").aggregate(r=Sum("returns_count"), n=Sum("net_revenue"))
    assert (us["r"], us["n"]) == (5, D("65.00"))


def test_daily_weekly_and_monthly_snapshots_of_the_day(returned_days):
    snapshots_rebuild(date_from=DAY, date_to=DAY, now=NOW)
    assert _returns(_snapshot("KG", "daily", DAY)) == (3, D("3700.00"))
    assert _returns(_snapshot("US", "daily", DAY)) == (3, D("15.00"))
    # Monday 2 to Sunday 8 March: the day before is in both weeks.
    assert _returns(_snapshot("KG", "weekly", DAY)) == (5, D("5000.00"))
    assert _returns(_snapshot("US", "weekly", DAY)) == (4, D("25.00"))
    # March: the next day's orders too.
    assert _returns(_snapshot("KG", "monthly", DAY)) == (5, D("9000.00"))
    assert _returns(_snapshot("US", "monthly", DAY)) == (5, D("65.00"))
    # The hour of the midnight order (its April return included), and the US
    # 23:00 EDT hour whose order was refunded in full.
    assert _returns(_snapshot("KG", "hourly", returned_days["kg_midnight"].created_at)) == (
        2,
        D("1500.00"),
    )
    assert _returns(_snapshot("US", "hourly", returned_days["us_late"].created_at)) == (
        1,
        D("0.00"),
    )
    assert snapshots_rebuild(date_from=DAY, date_to=DAY, now=NOW) == 0  # idempotent


# --------------------------------------------------------------------------- late returns


def test_recompute_periods_is_subscribed_to_return_status_changed():
    assert "store_manager.tasks.recompute_order_periods" in events.RETURN_STATUS_CHANGED.subscribers


def _move(ret: ReturnRequest, to_status: str, *, from_status: str | None) -> None:
    """Change a return's status the way the returns service does: history row, then event."""
    ReturnRequest.objects.filter(pk=ret.pk).update(status=to_status)
    ret.status = to_status
    history = ReturnStatusHistory.objects.create(
        return_request=ret, from_status=from_status, to_status=to_status
    )
    events.return_status_changed(ret, event_id=history.pk, from_status=from_status)


def test_a_return_event_recomputes_the_orders_snapshots_and_reports(
    returned_days, django_capture_on_commit_callbacks
):
    snapshots_rebuild(date_from=date(2026, 3, 1), date_to=date(2026, 3, 9), now=NOW)
    report = daily_report_build(market="KG", report_date=DAY)
    DailyReport.objects.filter(pk=report.pk).update(emailed_at=NOW)
    next_day = daily_report_build(market="KG", report_date=DAY + timedelta(days=1))
    order = returned_days["kg_exchanged"]

    with django_capture_on_commit_callbacks(execute=True):
        late = give_back(order, R.REQUESTED, at=NOW)
        _move(late, R.REQUESTED, from_status=None)

    assert _returns(_snapshot("KG", "hourly", order.created_at)) == (2, D("1500.00"))
    assert _returns(_snapshot("KG", "daily", DAY)) == (4, D("3700.00"))
    assert _returns(_snapshot("KG", "weekly", DAY)) == (6, D("5000.00"))
    assert _returns(_snapshot("KG", "monthly", DAY)) == (6, D("9000.00"))
    report.refresh_from_db()
    assert _returns(report) == (4, D("3700.00"))
    next_day.refresh_from_db()  # its comparison shows the day before
    assert next_day.comparison["previous_day"]["returns_count"] == 4

    with django_capture_on_commit_callbacks(execute=True):
        _move(late, R.REJECTED, from_status=R.REQUESTED)

    assert _returns(_snapshot("KG", "daily", DAY)) == (3, D("3700.00"))
    assert _returns(_snapshot("KG", "monthly", DAY)) == (5, D("9000.00"))
    report.refresh_from_db()
    assert report.returns_count == 3
    assert mail.outbox == []  # refreshed, not e-mailed again
    assert recompute_order_periods(order.pk) == 0  # nothing left to change


def test_a_return_through_the_services_moves_the_figures(django_capture_on_commit_callbacks):
    """Request (a refund line and an exchange line), approve, receive, refund: every
    step's event leaves the order's snapshots equal to the live figures."""
    customer = kg_customer()
    small, medium, large = sizes(market="KG", price="1000.00")
    with django_capture_on_commit_callbacks(execute=True):
        order = delivered_order(customer, (small, 2), (medium, 1))
    day = period_bounds("KG", "daily", order.created_at)

    def daily() -> RevenueSnapshot:
        return RevenueSnapshot.objects.get(market="KG", period="daily", period_start=day.start)

    def assert_snapshot_is_live() -> None:
        live = period_figures(market="KG", start=day.start, end=day.end)
        snapshot = daily()
        assert {f: getattr(snapshot, f) for f in FIGURE_NAMES} == {
            f: getattr(live, f) for f in FIGURE_NAMES
        }

    assert _returns(daily()) == (0, order.total)
    with django_capture_on_commit_callbacks(execute=True):
        ret = return_request_create(
            user=customer,
            order_number=order.order_number,
            items=[line(order, small, 1), line(order, medium, 1, exchange=large)],
        )
    assert daily().returns_count == 1
    assert_snapshot_is_live()
    with django_capture_on_commit_callbacks(execute=True):
        ret = return_transition(ret=ret, to_status=R.APPROVED, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        ret = return_receive(
            ret=ret,
            actor=None,
            items=[
                {"id": item.pk, "received_quantity": item.quantity, "damaged_quantity": 0}
                for item in ret.items.all()
            ],
        )
    ret.refresh_from_db()
    assert ret.replacement_order is not None and ret.replacement_order.is_replacement
    assert_snapshot_is_live()
    with django_capture_on_commit_callbacks(execute=True):
        refund = return_refund(ret=ret, actor=None)

    assert refund.amount == D("1000.00")
    snapshot = daily()
    assert (snapshot.revenue, snapshot.orders_count, snapshot.items_sold) == (order.total, 1, 3)
    assert (snapshot.refunded_amount, snapshot.returns_count) == (D("1000.00"), 1)
    assert snapshot.net_revenue == order.total - D("1000.00")
    assert_snapshot_is_live()


# --------------------------------------------------------------------------- reports


def test_daily_reports_and_their_comparison(returned_days):
    kg = daily_report_build(market="KG", report_date=DAY)
    us = daily_report_build(market="US", report_date=DAY)
    assert _returns(kg) == (3, D("3700.00"))
    assert _returns(us) == (3, D("15.00"))
    previous = kg.comparison["previous_day"]
    assert (previous["returns_count"], previous["net_revenue"]) == (2, "1300.00")
    week_ago = kg.comparison["same_weekday_last_week"]
    assert (week_ago["returns_count"], week_ago["net_revenue"]) == (0, "0.00")
    after = daily_report_build(market="US", report_date=DAY + timedelta(days=1))
    assert _returns(after) == (1, D("40.00"))
    assert after.comparison["previous_day"]["net_revenue"] == "15.00"


def test_the_report_email_lists_returns_and_net_revenue(returned_days):
    manager = StoreManager.objects.create(
        user=UserFactory(email="kg@example.com"), can_manage_kg=True, can_view_revenue=True
    )
    report = daily_report_build(market="KG", report_date=DAY)
    assert daily_report_send(report=report) == 1
    (message,) = mail.outbox
    assert message.to == [manager.user.email]
    assert "Net revenue:      3700.00 KGS" in message.body
    assert "Returns:          3" in message.body
    assert "net revenue 1300.00 KGS, 2 returns" in message.body  # the previous day
    html = message.alternatives[0][0]
    assert "Net revenue (KGS)" in html and "<strong>3700.00</strong>" in html
    assert "<td>Returns</td>" in html


def test_reports_api_shows_returns_and_net_revenue(returned_days):
    daily_report_build(market="KG", report_date=DAY)
    client = client_of(make_manager("manager", **ALL_FLAGS))
    detail = client.get(BASE + f"reports/{DAY}/").json()
    assert (detail["returns_count"], detail["net_revenue"]) == (3, "3700.00")
    previous = detail["comparison"]["previous_day"]
    assert (previous["returns_count"], previous["net_revenue"]) == (2, "1300.00")
    (listed,) = client.get(BASE + "reports/").json()["results"]
    assert (listed["returns_count"], listed["net_revenue"]) == (3, "3700.00")


# --------------------------------------------------------------------------- revenue


def test_revenue_series_and_totals_show_returns_and_net_revenue(returned_days):
    # The middle day from its snapshot, the others live: the same figures.
    snapshots_rebuild(date_from=DAY, date_to=DAY, periods=["daily"], now=NOW)
    client = client_of(make_manager("manager", **ALL_FLAGS))
    body = client.get(
        BASE + "revenue/", {"period": "daily", "date_from": "2026-03-07", "date_to": "2026-03-09"}
    ).json()
    series = {
        b["local_start"][:10]: (b["figures"]["returns_count"], b["figures"]["net_revenue"])
        for b in body["series"]
    }
    assert series == {
        "2026-03-07": (2, "1300.00"),
        "2026-03-08": (3, "3700.00"),
        "2026-03-09": (0, "4000.00"),
    }
    assert body["series"][1]["source"] == "snapshot"
    assert (body["totals"]["returns_count"], body["totals"]["net_revenue"]) == (5, "9000.00")
    assert body["totals"]["revenue"] == "9900.00"
    previous = body["previous_totals"]
    assert (previous["returns_count"], previous["net_revenue"]) == (0, "0.00")


def test_us_hourly_revenue_shows_returns_and_net_revenue(returned_days):
    client = client_of(make_manager("manager", market="US", **ALL_FLAGS))
    body = client.get(BASE + "revenue/hourly/", {"date": str(DAY)}).json()
    assert len(body["series"]) == 23
    assert (body["totals"]["returns_count"], body["totals"]["net_revenue"]) == (3, "15.00")
    last = body["series"][-1]["figures"]  # 23:00-24:00 EDT: refunded in full
    assert (last["returns_count"], last["net_revenue"], last["revenue"]) == (1, "0.00", "30.00")


# --------------------------------------------------------------------------- dashboard


def test_dashboard_today_yesterday_and_series(returned_days):
    manager = make_manager("manager", **ALL_FLAGS)
    now = period_bounds("KG", "daily", DAY).start + timedelta(hours=10, minutes=30)
    board = manager_dashboard(manager=manager, market="KG", now=now)
    assert _returns(board.today) == (3, D("3700.00"))
    # Yesterday until 10:30: the 09:00 order, not the one at 23:59:59.
    assert _returns(board.yesterday_same_time) == (1, D("600.00"))
    assert _returns(board.series[-2].figures) == (2, D("1300.00"))


def test_dashboard_api_hides_net_revenue_without_can_view_revenue():
    today = period_bounds("KG", "daily", timezone.now())
    customer = kg_customer()
    order = place(customer, today.start, "300.00", status="delivered")
    pay(order, "300.00", "50.00")
    give_back(order, R.RECEIVED)
    place(customer, today.start, "0.00", status="confirmed", replacement=True)
    full = client_of(make_manager("manager", **ALL_FLAGS)).get(BASE + "dashboard/").json()
    hidden = client_of(make_manager("manager")).get(BASE + "dashboard/").json()
    assert (full["today"]["returns_count"], full["today"]["net_revenue"]) == (1, "250.00")
    assert full["today"]["orders_count"] == 1  # the replacement is not an order sold
    yesterday = full["yesterday_same_time"]
    assert (yesterday["returns_count"], yesterday["net_revenue"]) == (0, "0.00")
    assert (full["last_7_days"][-1]["returns_count"], full["last_7_days"][-1]["net_revenue"]) == (
        1,
        "250.00",
    )
    for day in ("today", "yesterday_same_time"):
        assert hidden[day]["net_revenue"] is None
    # A count, like orders_count: shown without can_view_revenue.
    assert hidden["today"]["returns_count"] == 1
    assert hidden["last_7_days"][-1]["returns_count"] == 1
    assert all(row["net_revenue"] is None for row in hidden["last_7_days"])


# --------------------------------------------------------------------------- export


def _csv(response) -> list[dict[str, str]]:
    raw = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(raw)))
    assert rows[0] == list(export_services.EXPORT_HEADER)
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_export_has_returned_units_and_net_total_per_order():
    client = client_of(make_manager("manager", **ALL_FLAGS))
    now = timezone.now()
    customer = kg_customer()
    returned = place(customer, now - timedelta(minutes=9), "2000.00", status="delivered",
                     items=(2, 1))  # fmt: skip
    pay(returned, "2000.00", "500.00")
    give_back(returned, R.REFUNDED, (0, 1), refunded="500.00")
    give_back(returned, R.REQUESTED, (0, 1), (1, 1))
    give_back(returned, R.REJECTED, (1, 1))  # not counted
    cancelled = place(customer, now - timedelta(minutes=8), "3000.00", status="cancelled")
    pay(cancelled, "3000.00", "3000.00")
    replacement = place(customer, now - timedelta(minutes=7), "0.00", status="confirmed",
                        replacement=True)  # fmt: skip
    plain = place(customer, now - timedelta(minutes=6), "100.00")

    rows = _csv(client.get(BASE + "orders/export/"))

    assert list(export_services.EXPORT_HEADER)[-2:] == ["order_returned_units", "order_net_total"]
    by_order = {
        row["order_number"]: (row["order_returned_units"], row["order_net_total"]) for row in rows
    }
    assert by_order == {
        returned.order_number: ("3", "1500.00"),
        cancelled.order_number: ("0", "0.00"),  # its revenue never counted
        replacement.order_number: ("0", "0.00"),  # an exchange's shipment, not a sale
        plain.order_number: ("0", "100.00"),
    }
    assert sum(1 for row in rows if row["order_number"] == returned.order_number) == 2


def test_export_queries_do_not_grow_with_returns():
    client = client_of(make_manager("manager", **ALL_FLAGS))
    customer = kg_customer()

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(BASE + "orders/export/")
            b"".join(response.streaming_content)
        return len(queries)

    order = place(customer, timezone.now() - timedelta(minutes=1), "10.00", status="delivered")
    give_back(order, R.REQUESTED)
    few = count()
    for minutes in range(2, 8):
        order = place(customer, timezone.now() - timedelta(minutes=minutes), "10.00",
                      status="delivered", items=(1, 1))  # fmt: skip
        pay(order, "10.00", "1.00")
        give_back(order, R.RECEIVED, (0, 1), (1, 1))
        give_back(order, R.CANCELLED)
    assert count() == few


# --------------------------------------------------------------------------- query counts


def test_return_figures_add_no_query(returned_days, django_assert_num_queries):
    bounds = period_bounds("KG", "daily", DAY)
    with django_assert_num_queries(2):  # orders (with payments and returns), items
        period_figures(market="KG", start=bounds.start, end=bounds.end)
    with django_assert_num_queries(2):
        analytics.bucket_figures(market="US", period="hourly", start=bounds.start, end=bounds.end)


def test_revenue_query_count_does_not_grow_with_the_range_or_returns(returned_days):
    client = client_of(make_manager("manager", **ALL_FLAGS))

    def count(date_from, date_to):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(BASE + "revenue/", {"date_from": date_from, "date_to": date_to})
        assert response.status_code == 200
        return len(queries)

    assert count("2026-03-08", "2026-03-08") == count("2025-03-01", "2026-03-31")


def test_dashboard_queries_stay_bounded_with_returns():
    client = client_of(make_manager("manager", **ALL_FLAGS))
    for _ in range(5):
        order = place(kg_customer(), timezone.now() - timedelta(minutes=1), "10.00",
                      status="delivered")  # fmt: skip
        pay(order, "10.00", "2.00")
        give_back(order, R.REFUNDED, refunded="2.00")
        place(order.user, timezone.now() - timedelta(minutes=1), "0.00", replacement=True)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(BASE + "dashboard/").json()
    assert body["today"]["returns_count"] == 5
    assert len(queries) <= 12, [q["sql"][:80] for q in queries]
