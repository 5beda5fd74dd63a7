"""Demo returns (`demo/returns.py`): made through the returns service, staged by age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from demo.returns import seed_returns
from orders.models import ReturnItem, ReturnRequest
from orders.tests.returns_support import delivered_order, sizes
from products.models import Product
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered():
    """Forty delivered orders, half per market, delivered 0 to 13 days ago."""
    now = timezone.now()
    for market, prefix in (("KG", "+99670090"), ("US", "+1202555")):
        skus = sizes(market=market, price="50.00", stocks=(100, 100, 100))
        for i in range(20):
            buyer = UserFactory(phone=f"{prefix}{i:04d}")
            at = now - timedelta(days=13 - i * 13 / 19, hours=1)
            delivered_order(buyer, (skus[i % 3], 2), at=at)
    return now


def test_some_delivered_orders_come_back_in_every_stage(delivered):
    made = seed_returns(staff=None, now=delivered, seed=7)

    demo_returns = ReturnRequest.objects.select_related("order").prefetch_related(
        "items__order_item", "status_history"
    )
    assert made == len(demo_returns) > 0
    assert {ret.market for ret in demo_returns} == {"KG", "US"}
    assert {"requested", "refunded"} <= {ret.status for ret in demo_returns}
    for ret in demo_returns:
        assert ret.created_at >= ret.order.delivered_at
        assert all(item.quantity <= item.order_item.quantity for item in ret.items.all())
        history = list(ret.status_history.all())
        assert [h.created_at for h in history] == sorted(h.created_at for h in history)
        assert history[-1].to_status == ret.status
    # Events were held back, yet size returns count in the products' fit summaries.
    sized = ReturnItem.objects.filter(reason__in=("size_too_small", "size_too_large")).exclude(
        return_request__status__in=("rejected", "cancelled")
    )
    assert sized.exists()
    counted = Product.objects.filter(pk__in=sized.values("order_item__product_id"))
    assert sum(p.returned_too_small_count + p.returned_too_large_count for p in counted) == (
        sized.count()
    )
    # Made once: a second run adds nothing.
    assert seed_returns(staff=None, now=delivered, seed=7) == 0
