"""The size loop (SPEC §10): size returns feed the product's fit summary beside review fit.

A return line sent back as too small counts as a "runs small" verdict, one as too
large as "runs large", while its return is not rejected or cancelled. Each test
moves returns through the returns service with the event subscribers running
after commit, and reads the product page as a shopper would.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import ReturnStatusHistory
from orders.services import returns
from orders.tests.returns_support import delivered_order, line, sizes
from products.models import Product
from reviews import tasks
from reviews.models import Review
from reviews.services import product_fit_refresh, product_rating_refresh
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shirt():
    """Sizes S, M, L of one product sold in KG."""
    return sizes()


@pytest.fixture
def run_events(django_capture_on_commit_callbacks):
    def run(move):
        with django_capture_on_commit_callbacks(execute=True):
            return move()

    return run


def page(api_client, product) -> dict:
    response = api_client.get(f"/api/v1/products/{product.slug}/")
    assert response.status_code == 200
    return response.json()["fit_summary"]


def counts(product) -> tuple[int, int]:
    row = Product.objects.get(pk=product.pk)
    return row.returned_too_small_count, row.returned_too_large_count


def request(user, order, *lines):
    return returns.return_request_create(
        user=user, order_number=order.order_number, items=list(lines)
    )


def reviewed(product, *fits) -> None:
    for fit in fits:
        Review.objects.create(
            user=UserFactory(), product=product, rating=4, fit=fit, is_approved=True
        )
    product_rating_refresh(product_id=product.pk)


def test_a_size_return_joins_the_reviews_in_the_fit_summary(
    api_client, customer, shirt, run_events
):
    small, medium, _ = shirt
    product = small.product
    reviewed(product, "runs_small", "true_to_size", "true_to_size", "runs_large")
    order = delivered_order(customer, (small, 2), (medium, 1))
    assert page(api_client, product)["total"] == 4  # cached from here on

    run_events(
        lambda: request(
            customer, order, line(order, small, 2), line(order, medium, 1, "size_too_large")
        )
    )

    assert counts(product) == (1, 1)  # lines, not units: the 2 x S are one verdict
    assert page(api_client, product) == {
        "runs_small": 2,
        "true_to_size": 2,
        "runs_large": 2,
        "total": 6,
        "percent": {"runs_small": 34, "true_to_size": 33, "runs_large": 33},
        "from_reviews": {"runs_small": 1, "true_to_size": 2, "runs_large": 1, "total": 4},
        "from_returns": {"runs_small": 1, "runs_large": 1, "total": 2},
    }


@pytest.mark.parametrize("how", ["cancelled", "rejected"])
def test_a_withdrawn_or_refused_return_drops_out(api_client, customer, shirt, run_events, how):
    small, _, _ = shirt
    order = delivered_order(customer, (small, 1))
    ret = run_events(lambda: request(customer, order, line(order, small, 1)))
    assert page(api_client, small.product)["from_returns"]["runs_small"] == 1

    if how == "cancelled":
        run_events(
            lambda: returns.return_cancel_by_customer(
                user=customer, return_number=ret.return_number
            )
        )
    else:
        run_events(
            lambda: returns.return_transition(ret=ret, to_status="rejected", actor=None, note="x")
        )

    assert counts(small.product) == (0, 0)
    summary = page(api_client, small.product)
    assert summary["from_returns"] == {"runs_small": 0, "runs_large": 0, "total": 0}
    assert summary["total"] == 0 and summary["percent"]["runs_small"] == 0


def test_a_return_keeps_counting_as_it_goes_through(customer, shirt, run_events):
    small, medium, _ = shirt
    order = delivered_order(customer, (small, 1))
    ret = run_events(lambda: request(customer, order, line(order, small, 1, exchange=medium)))
    ret = run_events(lambda: returns.return_transition(ret=ret, to_status="approved", actor=None))
    items = [{"id": ret.items.get().pk, "received_quantity": 1, "damaged_quantity": 0}]
    ret = run_events(lambda: returns.return_receive(ret=ret, actor=None, items=items))

    assert ret.status == "exchanged"
    assert counts(small.product) == (1, 0)


def test_other_reasons_say_nothing_about_fit(customer, shirt, run_events):
    small, medium, _ = shirt
    order = delivered_order(customer, (small, 1), (medium, 1))
    run_events(
        lambda: request(
            customer,
            order,
            line(order, small, 1, "defective"),
            line(order, medium, 1, "changed_mind"),
        )
    )
    assert counts(small.product) == (0, 0)


def test_two_returns_of_two_customers_add_up(customer, shirt, run_events):
    small, _, large = shirt
    other = UserFactory()
    first = delivered_order(customer, (small, 1))
    second = delivered_order(other, (large, 1))
    run_events(lambda: request(customer, first, line(first, small, 1)))
    run_events(lambda: request(other, second, line(second, large, 1)))
    assert counts(small.product) == (2, 0)


def test_the_task_is_idempotent_and_skips_steps_that_change_nothing(customer, shirt):
    small, _, _ = shirt
    order = delivered_order(customer, (small, 1))
    ret = request(customer, order, line(order, small, 1))  # subscribers not run yet
    requested = ReturnStatusHistory.objects.get(return_request=ret)

    def deliver(event_id, from_status, to_status) -> int:
        return tasks.refresh_fit_from_returns(
            return_id=ret.pk,
            order_id=order.pk,
            event_id=event_id,
            from_status=from_status,
            to_status=to_status,
        )

    assert deliver(requested.pk, None, "requested") == 1
    assert deliver(requested.pk, None, "requested") == 0  # delivered again: nothing moves
    assert counts(small.product) == (1, 0)

    # Approval keeps the return counting: no lock, no write.
    with CaptureQueriesContext(connection) as queries:
        assert deliver(requested.pk + 1, "requested", "approved") == 0
    assert len(queries) == 0


def test_refresh_corrects_counts_whatever_they_were(customer, shirt):
    small, _, _ = shirt
    order = delivered_order(customer, (small, 1))
    request(customer, order, line(order, small, 1, "size_too_large"))
    Product.objects.filter(pk=small.product_id).update(
        returned_too_small_count=7, returned_too_large_count=0
    )
    assert product_fit_refresh(product_ids=[small.product_id, None]) == [small.product_id]
    assert counts(small.product) == (0, 1)
    assert product_fit_refresh(product_ids=[]) == []


def test_the_product_page_costs_the_same_queries_with_size_returns(
    api_client, customer, shirt, run_events
):
    small, _, _ = shirt
    url = f"/api/v1/products/{small.product.slug}/"
    list_url = "/api/v1/products/"

    def queries(path) -> int:
        cache.clear()  # build the body, not read it from the cache
        with CaptureQueriesContext(connection) as captured:
            assert api_client.get(path).status_code == 200
        return len(captured)

    before = (queries(url), queries(list_url))
    order = delivered_order(customer, (small, 1))
    run_events(lambda: request(customer, order, line(order, small, 1)))
    assert page(api_client, small.product)["runs_small"] == 1
    assert (queries(url), queries(list_url)) == before


def test_the_migration_fills_the_counts_of_returns_made_before_it(customer, shirt):
    small, medium, _ = shirt
    order = delivered_order(customer, (small, 1), (medium, 1))
    request(customer, order, line(order, small, 1), line(order, medium, 1, "size_too_large"))
    cancelled = delivered_order(customer, (small, 1))
    gone = request(customer, cancelled, line(cancelled, small, 1))
    returns.return_cancel_by_customer(user=customer, return_number=gone.return_number)
    Product.objects.update(returned_too_small_count=0, returned_too_large_count=0)

    migration = importlib.import_module("reviews.migrations.0004_fill_product_returned_counts")
    migration.fill(django_apps, SimpleNamespace(connection=connection))

    assert counts(small.product) == (1, 1)
