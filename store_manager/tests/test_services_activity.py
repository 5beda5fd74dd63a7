"""The activity log: one row per manager write (with IP and user agent), none for reads."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib import admin
from django.test import RequestFactory

from orders.models import OrderStatus
from store_manager.models import DailyReport, ManagerActivityLog, ManagerNotification
from store_manager.services.activity import RequestMeta, activity_log_write
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    make_manager,
    order_in,
)
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

IP, UA = "203.0.113.5", "MarqueDashboard/1.0 (Macintosh)"
META = {"REMOTE_ADDR": IP, "HTTP_USER_AGENT": UA}


@pytest.fixture
def manager():
    return make_manager("manager", **ALL_FLAGS, can_manage_us=True)


@pytest.fixture
def client(manager):
    return client_of(manager)


def _write(client, name: str):
    """Perform one kind of write; returns (expected action, object ids, expected market)."""
    if name == "status":
        order = order_in("KG")
        client.post(f"{BASE}orders/{order.order_number}/status/", {"status": "confirmed"}, **META)
        return "order_status_changed", [order.order_number], "KG"
    if name == "cancel":
        order = order_in("KG")
        client.post(f"{BASE}orders/{order.order_number}/cancel/", {"reason": "x"}, **META)
        return "order_cancelled", [order.order_number], "KG"
    if name == "resume":
        order = order_in("KG", status=OrderStatus.CANCELLED)
        client.post(f"{BASE}orders/{order.order_number}/resume/", **META)
        return "order_resumed", [order.order_number], "KG"
    if name == "bulk":
        orders = [order_in("KG"), order_in("KG")]
        numbers = [o.order_number for o in orders]
        body = {"order_numbers": numbers, "status": "confirmed"}
        client.post(f"{BASE}orders/bulk-status/", body, **META)
        return "order_bulk_status_changed", numbers, "KG"
    if name == "market":
        client.patch(f"{BASE}me/", {"active_market": "US"}, **META)
        return "market_switched", None, "US"
    if name == "settings":
        client.patch(f"{BASE}settings/", {"language": "ky", "notify_new_orders": False}, **META)
        return "settings_changed", None, "KG"
    if name == "export":
        response = client.get(f"{BASE}orders/export/", **META)
        b"".join(response.streaming_content)
        return "orders_exported", [""], "KG"
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name", ["status", "cancel", "resume", "bulk", "market", "settings", "export"]
)
def test_every_write_leaves_one_row_per_object(client, manager, name):
    action, object_ids, market = _write(client, name)
    rows = list(ManagerActivityLog.objects.order_by("id"))
    assert rows, "no activity row"
    assert {row.action for row in rows} == {action}
    if object_ids is not None:
        assert [row.object_id for row in rows] == object_ids
    else:
        assert len(rows) == 1
    for row in rows:
        assert row.manager == manager
        assert row.market == market
        assert (row.ip_address, row.user_agent) == (IP, UA)


def test_order_rows_carry_before_and_after(client):
    order = order_in("KG")
    client.post(
        f"{BASE}orders/{order.order_number}/status/", {"status": "confirmed", "note": "ok"}, **META
    )
    row = ManagerActivityLog.objects.get()
    assert (row.object_type, row.object_id) == ("order", order.order_number)
    assert row.metadata["before"] == {"status": "pending"}
    assert row.metadata["after"] == {"status": "confirmed"}
    assert row.metadata["note"] == "ok"


def test_settings_row_holds_only_what_changed(client):
    client.patch(f"{BASE}settings/", {"language": "ky", "email_reports": True}, **META)
    row = ManagerActivityLog.objects.get()
    assert row.metadata["before"] == {"language": "en"}
    assert row.metadata["after"] == {"language": "ky"}
    client.patch(f"{BASE}settings/", {"language": "ky"}, **META)  # no change, no row
    assert ManagerActivityLog.objects.count() == 1


def test_market_switch_row_and_no_row_for_a_refused_switch():
    manager = make_manager("manager", **ALL_FLAGS)  # KG only
    client = client_of(manager)
    response = client.patch(f"{BASE}me/", {"active_market": "US"}, **META)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert not ManagerActivityLog.objects.exists()
    manager.refresh_from_db()
    assert manager.active_market == "KG"


def test_a_refused_write_leaves_no_row(client):
    order = order_in("KG", status=OrderStatus.DELIVERED)
    response = client.post(f"{BASE}orders/{order.order_number}/cancel/", **META)
    assert response.status_code == 409
    assert not ManagerActivityLog.objects.exists()


def test_reads_leave_no_rows(client, manager):
    order = order_in("KG")
    note = ManagerNotification.objects.create(manager=manager, title="Hi")
    DailyReport.objects.create(market="KG", report_date=date(2026, 11, 20), currency="KGS")
    for path in (
        "me/",
        "settings/",
        "dashboard/",
        "orders/",
        f"orders/{order.order_number}/",
        "revenue/",
        "revenue/hourly/",
        "reports/",
        "reports/2026-11-20/",
        "notifications/",
        "notifications/unread-count/",
        "activity/",
    ):
        assert client.get(BASE + path, **META).status_code == 200, path
    # Marking one's own notifications read is not store data: not audited (docs).
    client.post(f"{BASE}notifications/{note.pk}/read/", **META)
    client.post(f"{BASE}notifications/read-all/", **META)
    assert not ManagerActivityLog.objects.exists()


def test_forwarded_for_is_ignored_without_trusted_proxies(client):
    order = order_in("KG")
    client.post(
        f"{BASE}orders/{order.order_number}/status/",
        {"status": "confirmed"},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.66",
    )
    assert ManagerActivityLog.objects.get().ip_address == "10.0.0.2"


def test_forwarded_for_counts_only_the_trusted_proxies(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    order = order_in("KG")
    client.post(
        f"{BASE}orders/{order.order_number}/status/",
        {"status": "confirmed"},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.66",  # the first is the client's own claim
    )
    assert ManagerActivityLog.objects.get().ip_address == "198.51.100.66"


def test_request_meta_drops_garbage_and_long_agents():
    meta = RequestMeta.of("not-an-ip", "x" * 900)
    assert meta.ip_address is None
    assert len(meta.user_agent) == 500
    assert RequestMeta.of(" 2001:db8::1 ", None) == RequestMeta("2001:db8::1", "")


def test_activity_log_write_stores_before_after_and_metadata(manager):
    row = activity_log_write(
        manager=manager,
        action="order_status_changed",
        market="KG",
        meta=RequestMeta(IP, UA),
        object_type="order",
        object_id="KG-1",
        before={"status": "pending"},
        after={"status": "confirmed"},
        metadata={"note": "n"},
    )
    row.refresh_from_db()
    assert row.metadata == {
        "note": "n",
        "before": {"status": "pending"},
        "after": {"status": "confirmed"},
    }


def test_the_admin_cannot_add_change_or_delete_log_rows(manager):
    row = activity_log_write(manager=manager, action="x", market="KG", meta=RequestMeta())
    model_admin = admin.site._registry[ManagerActivityLog]
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    assert "delete_selected" not in model_admin.get_actions(request)
    assert model_admin.has_view_permission(request, row)
