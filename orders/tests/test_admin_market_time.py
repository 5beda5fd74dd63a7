"""Staff read market-bound times on the market's wall clock (issue 19), not in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from orders.models import Order, OrderStatusHistory, Payment, Refund
from orders.tests.helpers import checkout, fill_cart, priced_sku
from store_manager.analytics import period_bounds
from store_manager.services.snapshots import snapshots_rebuild
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PLACED = datetime(2026, 11, 25, 22, 49, tzinfo=UTC)  # 04:49 on the 26th in Bishkek


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("+996700000094", "pw-123456"))
    return client


def placed(phone: str, market: str) -> Order:
    user = UserFactory(phone=phone)
    fill_cart(user, (priced_sku(market=market, price="100.00"), 1))
    order = checkout(user).order
    Order.objects.filter(pk=order.pk).update(created_at=PLACED)
    return order


def test_the_order_list_shows_each_order_in_its_market_time(staff_client):
    kg = placed("+996700444001", "KG")
    us = placed("+12025550177", "US")

    page = staff_client.get("/admin/orders/order/").content.decode()

    assert "2026-11-26 04:49 Bishkek" in page  # kg
    assert "2026-11-25 17:49 New York" in page  # us
    assert kg.order_number in page and us.order_number in page


def test_the_order_page_shows_its_times_in_the_market_zone(staff_client):
    order = placed("+996700444002", "KG")

    page = staff_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()

    assert "Nov. 26, 2026, 4:49 a.m." in page
    assert "Nov. 25, 2026, 10:49 p.m." not in page  # the UTC reading of the placement


def test_a_daily_snapshot_starts_at_the_markets_midnight(staff_client):
    placed("+996700444003", "KG")
    snapshots_rebuild(date_from=date(2026, 11, 26), date_to=date(2026, 11, 26), markets=["KG"],
                      periods=["daily"], now=datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip
    assert period_bounds("KG", "daily", date(2026, 11, 26)).start == datetime(
        2026, 11, 25, 18, tzinfo=UTC
    )

    page = staff_client.get("/admin/store_manager/revenuesnapshot/").content.decode()

    assert "2026-11-26 00:00 Bishkek" in page


def test_payments_refunds_and_histories_read_in_their_orders_market_time(staff_client):
    kg = placed("+996700444004", "KG")
    us = placed("+12025550178", "US")
    payment = Payment.objects.get(order=kg)
    Payment.objects.filter(order__in=[kg, us]).update(created_at=PLACED)
    OrderStatusHistory.objects.filter(order__in=[kg, us]).update(created_at=PLACED)
    refund = Refund.objects.create(
        payment=payment, amount=Decimal("10.00"), method="cash", status="succeeded"
    )
    Refund.objects.filter(pk=refund.pk).update(created_at=PLACED)

    for path in (
        "/admin/orders/payment/",
        "/admin/orders/orderstatushistory/",
        "/admin/orders/refund/",
    ):
        page = staff_client.get(path).content.decode()
        assert "(market time)" in page, path
        assert "2026-11-26 04:49 Bishkek" in page, path
        if path != "/admin/orders/refund/":
            assert "2026-11-25 17:49 New York" in page, path

    page = staff_client.get(f"/admin/orders/payment/{payment.pk}/change/").content.decode()
    assert "Nov. 26, 2026, 4:49 a.m." in page
    assert "Nov. 25, 2026, 10:49 p.m." not in page
