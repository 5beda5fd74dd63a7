"""Every manager route, method and kind of caller, generated from the urlpatterns.

A new route (or a new method on a route) without a rule in `RULES` fails
`test_every_route_and_method_has_a_rule`, so nobody can add an endpoint without
deciding who may call it.
"""

from __future__ import annotations

from datetime import date

import pytest

from orders.models import OrderStatus, Payment
from store_manager.api.base import ManagerAPIView
from store_manager.api.urls import urlpatterns
from store_manager.models import DailyReport, ManagerNotification
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    customer_of,
    make_manager,
    order_in,
)
from store_manager.tests.returns_api_support import make_return, receipt

pytestmark = pytest.mark.django_db

ANY = None  # any active manager of the market (no flag)
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

# url name -> {method: flag needed (ANY: none)}
RULES: dict[str, dict[str, str | None]] = {
    "manager-me": {"get": ANY, "patch": ANY},
    "manager-settings": {"get": ANY, "patch": ANY},
    "manager-dashboard": {"get": ANY},
    "manager-orders": {"get": "can_view_orders"},
    "manager-orders-export": {"get": "can_export_data"},
    "manager-orders-bulk-status": {"post": "can_edit_orders"},
    "manager-order-detail": {"get": "can_view_orders"},
    "manager-order-status": {"post": "can_edit_orders"},
    "manager-order-cancel": {"post": "can_cancel_orders"},
    "manager-order-resume": {"post": "can_cancel_orders"},
    "manager-order-refund": {"post": "can_refund"},
    "manager-returns": {"get": "can_view_orders"},
    "manager-return-rates": {"get": "can_view_orders"},
    "manager-return-detail": {"get": "can_view_orders"},
    "manager-return-approve": {"post": "can_edit_orders"},
    "manager-return-reject": {"post": "can_edit_orders"},
    "manager-return-receive": {"post": "can_edit_orders"},
    "manager-return-refund": {"post": "can_refund"},
    "manager-revenue": {"get": "can_view_revenue"},
    "manager-revenue-hourly": {"get": "can_view_revenue"},
    "manager-reports": {"get": "can_view_revenue"},
    "manager-report-detail": {"get": "can_view_revenue"},
    "manager-notifications": {"get": ANY},
    "manager-notifications-read-all": {"post": ANY},
    "manager-notifications-unread-count": {"get": ANY},
    "manager-notification-read": {"post": ANY},
    "manager-activity": {"get": ANY},
}
WRITE_FLAGS = {"can_edit_orders", "can_cancel_orders", "can_refund"}
CALLERS = ("anonymous", "customer", "viewer", "manager_without", "manager_with", "admin")


def _routes():
    for pattern in urlpatterns:
        view = pattern.callback.view_class
        methods = [m for m in HTTP_METHODS if hasattr(view, m)]
        yield pattern.name, view, methods


def test_every_route_and_method_has_a_rule():
    found = {name: sorted(methods) for name, _, methods in _routes()}
    assert found == {name: sorted(methods) for name, methods in RULES.items()}


def test_every_route_uses_the_manager_base_view():
    for name, view, _ in _routes():
        assert issubclass(view, ManagerAPIView), name


def test_a_view_cannot_replace_the_access_checks():
    with pytest.raises(TypeError):

        class Sneaky(ManagerAPIView):
            permission_classes = ()


def _expected(caller: str, flag: str | None) -> str:
    if caller == "anonymous":
        return "401"
    if caller == "customer":
        return "403"
    if caller in ("admin", "manager_with"):
        return "ok"
    if caller == "viewer":  # every flag stored, both markets
        return "403" if flag in WRITE_FLAGS else "ok"
    return "403" if flag else "ok"  # manager_without: no flag at all


def _caller(caller: str, flag: str | None):
    if caller == "anonymous":
        return None, None
    if caller == "customer":
        user = customer_of("KG")
        return user, None
    if caller == "viewer":
        manager = make_manager("viewer", **ALL_FLAGS, can_manage_us=True)
    elif caller == "admin":
        manager = make_manager("admin", can_manage_kg=False)  # role beats flags
    elif caller == "manager_with" and flag:
        manager = make_manager("manager", **{flag: True})
    else:
        manager = make_manager("manager")
    return manager.user, manager


def _request(name: str, manager):
    """(path, body) of a request that succeeds for a caller who is allowed."""
    order = order_in("KG")
    path = {
        "manager-me": "me/",
        "manager-settings": "settings/",
        "manager-dashboard": "dashboard/",
        "manager-orders": "orders/",
        "manager-orders-export": "orders/export/",
        "manager-orders-bulk-status": "orders/bulk-status/",
        "manager-order-detail": f"orders/{order.order_number}/",
        "manager-order-status": f"orders/{order.order_number}/status/",
        "manager-order-cancel": f"orders/{order.order_number}/cancel/",
        "manager-order-resume": f"orders/{order.order_number}/resume/",
        "manager-order-refund": f"orders/{order.order_number}/refund/",
        "manager-returns": "returns/",
        "manager-return-rates": "returns/products/",
        "manager-return-detail": "returns/{number}/",
        "manager-return-approve": "returns/{number}/approve/",
        "manager-return-reject": "returns/{number}/reject/",
        "manager-return-receive": "returns/{number}/receive/",
        "manager-return-refund": "returns/{number}/refund/",
        "manager-revenue": "revenue/",
        "manager-revenue-hourly": "revenue/hourly/",
        "manager-reports": "reports/",
        "manager-report-detail": "reports/2026-11-20/",
        "manager-notifications": "notifications/",
        "manager-notifications-read-all": "notifications/read-all/",
        "manager-notifications-unread-count": "notifications/unread-count/",
        "manager-notification-read": "notifications/{id}/read/",
        "manager-activity": "activity/",
    }[name]
    body = {
        "manager-me": {"active_market": "KG"},
        "manager-settings": {"language": "ru"},
        "manager-orders-bulk-status": {
            "order_numbers": [order.order_number],
            "status": "confirmed",
        },
        "manager-order-status": {"status": "confirmed", "note": "called"},
        "manager-order-cancel": {"reason": "customer asked"},
        "manager-order-refund": {"amount": "10.00", "method": "cash", "reason": "stain"},
        "manager-return-reject": {"reason": "worn"},
        "manager-return-refund": {"method": "cash", "reason": "returned"},
    }.get(name, {})
    if "{number}" in path:  # a KG return in the status the action starts from
        status = {"manager-return-receive": "approved", "manager-return-refund": "received"}
        made = make_return("KG", status=status.get(name, "requested"))
        path = path.format(number=made.ret.return_number)
        if name == "manager-return-receive":
            body = receipt(made.ret)
    if name == "manager-order-refund":  # a delivered cash order: the courier collected it
        order.status = OrderStatus.DELIVERED
        order.save(update_fields=["status"])
        Payment.objects.create(
            order=order,
            provider="cash_on_delivery",
            status="succeeded",
            amount=order.total,
            amount_authorized=order.total,
            amount_captured=order.total,
        )
    if name == "manager-order-resume":
        order.status = OrderStatus.CANCELLED
        order.save(update_fields=["status"])
    if name == "manager-report-detail":
        DailyReport.objects.create(market="KG", report_date=date(2026, 11, 20), currency="KGS")
    if name == "manager-notification-read":
        owner = manager or make_manager()
        notification = ManagerNotification.objects.create(manager=owner, title="New order")
        path = path.format(id=notification.pk)
    return BASE + path, body


CASES = [
    (name, method, caller)
    for name, methods in RULES.items()
    for method in methods
    for caller in CALLERS
]


@pytest.mark.parametrize(("name", "method", "caller"), CASES)
def test_permission_matrix(name, method, caller):
    flag = RULES[name][method]
    user, manager = _caller(caller, flag)
    client = client_of(user) if user else client_of_anonymous()
    path, body = _request(name, manager)
    response = getattr(client, method)(path, body) if method != "get" else client.get(path)
    expected = _expected(caller, flag)
    if expected == "ok":
        assert 200 <= response.status_code < 300, (response.status_code, _json(response))
    else:
        assert response.status_code == int(expected), _json(response)
        code = "not_authenticated" if expected == "401" else "permission_denied"
        assert response.json()["code"] == code


def client_of_anonymous():
    from rest_framework.test import APIClient

    return APIClient()


def _json(response):
    if getattr(response, "streaming", False):
        return "<stream>"
    try:
        return response.json()
    except ValueError:
        return response.content[:200]


def test_a_manager_whose_market_was_taken_away_may_only_switch():
    """Active market KG but no can_manage_kg any more: market endpoints 403, me/ works."""
    manager = make_manager("manager", **ALL_FLAGS, can_manage_kg=False, can_manage_us=True)
    client = client_of(manager)
    assert client.get(BASE + "orders/").status_code == 403
    assert client.get(BASE + "dashboard/").status_code == 403
    me = client.get(BASE + "me/").json()
    assert (me["active_market"], me["active_market_permitted"], me["markets"]) == (
        "KG",
        False,
        ["US"],
    )
    assert client.patch(BASE + "me/", {"active_market": "US"}).status_code == 200
    assert client.get(BASE + "orders/").status_code == 200


def test_an_inactive_manager_is_refused():
    manager = make_manager("admin", is_active=False)
    response = client_of(manager).get(BASE + "me/")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
