"""The daily report in the admin: its JSON figures read as tables; lists use short headers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from store_manager.models import DailyReport, RevenueSnapshot
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    """pytest-django's own admin_user passes phone="admin", which our manager refuses."""
    return User.objects.create_superuser("+996700000098", "pw-123456")


def make_report() -> DailyReport:
    row = {"product_id": 1, "slug": "linen", "name": "Linen <b>shirt</b>", "revenue": "2580.00"}
    return DailyReport.objects.create(
        market="KG",
        report_date=date(2026, 11, 25),
        currency="KGS",
        revenue=Decimal("2580.00"),
        orders_count=2,
        average_order_value=Decimal("1290.00"),
        top_products={
            "by_revenue": [{**row, "units": 2}, {**row, "name": "Wool coat", "units": 1}],
            "by_units": [{**row, "units": 2}],
        },
        comparison={
            "previous_day": {
                "date": "2026-11-24",
                "revenue": "1290.00",
                "orders_count": 1,
                "revenue_change_percent": "100.00",
            },
            "same_weekday_last_week": {"date": "2026-11-18", "revenue": "0.00"},
        },
    )


def test_report_figures_read_as_tables_not_json(admin_client):
    report = make_report()
    response = admin_client.get(reverse("admin:store_manager_dailyreport_change", args=[report.pk]))
    html = response.content.decode()

    assert response.status_code == 200
    # Product names in table cells, escaped (data is never marked safe).
    assert "<td>Linen &lt;b&gt;shirt&lt;/b&gt;</td>" in html
    assert "<td>Wool coat</td>" in html
    assert "<b>shirt</b>" not in html
    assert "<th>By revenue</th>" not in html and "<strong>By units</strong>" in html
    # The comparison: a row per figure, a column per day compared.
    assert "Previous day (2026-11-24)" in html and "Week before (2026-11-18)" in html
    assert "<th>Revenue change, %</th><td>-</td><td>100.00</td><td>-</td>" in html
    # Not the raw JSON.
    for raw in ('"by_revenue"', "&quot;by_revenue&quot;", "{&quot;", '{"'):
        assert raw not in html


def test_an_empty_or_early_report_still_renders(admin_client):
    report = DailyReport.objects.create(
        market="US", report_date=date(2026, 11, 25), currency="USD", top_products=[]
    )
    response = admin_client.get(reverse("admin:store_manager_dailyreport_change", args=[report.pk]))
    assert response.status_code == 200
    assert "No sales" in response.content.decode()


def test_report_and_snapshot_lists_use_short_headers(admin_client):
    make_report()
    RevenueSnapshot.objects.create(
        market="KG",
        period="daily",
        period_start="2026-11-24T18:00:00Z",
        currency="KGS",
        revenue=Decimal("1290.00"),
    )
    for name in ("dailyreport", "revenuesnapshot"):
        html = admin_client.get(reverse(f"admin:store_manager_{name}_changelist")).content.decode()
        assert ">AOV<" in html and ">Cur.<" in html
        assert "Average order value" not in html


def test_lists_show_net_revenue_and_returns_next_to_revenue(admin_client):
    report = make_report()
    DailyReport.objects.filter(pk=report.pk).update(
        net_revenue=Decimal("1935.00"), returns_count=1, refunded_amount=Decimal("645.00")
    )
    RevenueSnapshot.objects.create(
        market="KG",
        period="daily",
        period_start="2026-11-24T18:00:00Z",
        currency="KGS",
        revenue=Decimal("1290.00"),
        net_revenue=Decimal("1177.00"),
        returns_count=3,
    )
    for name, net, returns in (("dailyreport", "1935.00", 1), ("revenuesnapshot", "1177.00", 3)):
        html = admin_client.get(reverse(f"admin:store_manager_{name}_changelist")).content.decode()
        assert ">Net<" in html and ">Ret.<" in html
        assert f'<td class="field-net">{net}</td>' in html
        assert f'<td class="field-returns">{returns}</td>' in html
        assert '<td class="field-cur">KGS</td>' in html  # the code: a narrow column
