"""manager/me/, settings/, notifications/ and activity/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from store_manager.models import ManagerActivityLog, ManagerNotification, ManagerSettings
from store_manager.services.activity import RequestMeta, activity_log_write
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    make_manager,
)

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- me


def test_me_shows_effective_permissions_and_markets():
    viewer = make_manager("viewer", **ALL_FLAGS, can_manage_us=True)
    body = client_of(viewer).get(BASE + "me/").json()
    assert body["role"] == "viewer"
    assert body["markets"] == ["KG", "US"]
    assert (body["active_market"], body["currency"], body["time_zone"]) == (
        "KG",
        "KGS",
        "Asia/Bishkek",
    )
    # A viewer never edits, cancels or refunds, whatever is stored.
    assert body["permissions"] == {
        "can_view_orders": True,
        "can_edit_orders": False,
        "can_cancel_orders": False,
        "can_view_revenue": True,
        "can_export_data": True,
        "can_refund": False,
    }


def test_admin_has_everything_whatever_its_flags():
    admin = make_manager("admin", can_manage_kg=False)
    body = client_of(admin).get(BASE + "me/").json()
    assert body["markets"] == ["KG", "US"]
    assert all(body["permissions"].values())


def test_market_switch():
    manager = make_manager("manager", can_manage_us=True)
    client = client_of(manager)
    response = client.patch(BASE + "me/", {"active_market": "US"})
    assert response.status_code == 200
    assert (response.json()["active_market"], response.json()["currency"]) == ("US", "USD")
    manager.refresh_from_db()
    assert manager.active_market == "US"
    bad = client.patch(BASE + "me/", {"active_market": "RU"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")


def test_viewer_may_switch_its_market():
    viewer = make_manager("viewer", can_manage_us=True)
    assert client_of(viewer).patch(BASE + "me/", {"active_market": "US"}).status_code == 200


# --------------------------------------------------------------------------- settings


def test_settings_are_created_with_defaults_and_patched():
    manager = make_manager("viewer")
    client = client_of(manager)
    body = client.get(BASE + "settings/").json()
    assert body["language"] == "en" and body["default_dashboard_range"] == "7d"
    response = client.patch(
        BASE + "settings/", {"default_dashboard_range": "30d", "report_email": "a@example.com"}
    )
    assert response.status_code == 200, response.json()
    saved = ManagerSettings.objects.get(manager=manager)
    assert (saved.default_dashboard_range, saved.report_email) == ("30d", "a@example.com")
    bad = client.patch(BASE + "settings/", {"default_dashboard_range": "year"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")


# --------------------------------------------------------------------------- notifications


def _notify(manager, title="New order", **fields):
    return ManagerNotification.objects.create(manager=manager, title=title, **fields)


def test_notifications_are_mine_newest_first_and_filter_by_priority():
    manager = make_manager()
    client = client_of(manager)
    old = _notify(manager, "Old", priority="urgent")
    ManagerNotification.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    new = _notify(manager, "New")
    _notify(make_manager(), "Not mine")
    body = client.get(BASE + "notifications/").json()
    assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
    urgent = client.get(BASE + "notifications/", {"priority": "urgent"}).json()
    assert [row["id"] for row in urgent["results"]] == [old.pk]
    assert client.get(BASE + "notifications/", {"priority": "meh"}).status_code == 400


def test_read_one_read_all_and_unread_count():
    manager = make_manager("viewer")  # a viewer may mark its notifications read
    client = client_of(manager)
    first, _ = _notify(manager), _notify(manager)
    other = _notify(make_manager())
    assert client.get(BASE + "notifications/unread-count/").json() == {"count": 2}
    assert client.post(f"{BASE}notifications/{first.pk}/read/").json()["is_read"] is True
    assert client.get(BASE + "notifications/unread-count/").json() == {"count": 1}
    assert client.get(BASE + "notifications/", {"is_read": "false"}).json()["count"] == 1
    # Someone else's notification does not exist for me.
    response = client.post(f"{BASE}notifications/{other.pk}/read/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert client.post(BASE + "notifications/read-all/").json() == {"marked": 1}
    assert client.get(BASE + "notifications/unread-count/").json() == {"count": 0}
    other.refresh_from_db()
    assert other.is_read is False


# --------------------------------------------------------------------------- activity


def _log(manager, market="KG", action="order_status_changed", **fields):
    return activity_log_write(
        manager=manager, action=action, market=market, meta=RequestMeta(), **fields
    )


def test_activity_admin_sees_everyone_in_its_market_with_filters():
    admin = make_manager("admin")
    alice, bob = make_manager(), make_manager()
    a = _log(alice, object_type="order", object_id="KG-1")
    b = _log(bob, action="orders_exported")
    _log(bob, market="US")  # another market
    client = client_of(admin)
    body = client.get(BASE + "activity/").json()
    assert [row["id"] for row in body["results"]] == [b.pk, a.pk]
    assert body["results"][0]["manager"]["phone"] == bob.user.phone
    by_manager = client.get(BASE + "activity/", {"manager": alice.pk}).json()
    assert [row["id"] for row in by_manager["results"]] == [a.pk]
    by_action = client.get(BASE + "activity/", {"action": "orders_exported"}).json()
    assert [row["id"] for row in by_action["results"]] == [b.pk]
    by_object = client.get(BASE + "activity/", {"object_id": "KG-1"}).json()
    assert [row["id"] for row in by_object["results"]] == [a.pk]


def test_activity_others_see_only_their_own():
    alice, bob = make_manager(), make_manager()
    mine = _log(alice)
    _log(bob)
    client = client_of(alice)
    body = client.get(BASE + "activity/").json()
    assert [row["id"] for row in body["results"]] == [mine.pk]
    # The manager filter cannot widen it.
    body = client.get(BASE + "activity/", {"manager": bob.pk}).json()
    assert [row["id"] for row in body["results"]] == [mine.pk]


def test_activity_has_no_write_path():
    admin = make_manager("admin")
    row = _log(admin)
    client = client_of(admin)
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(BASE + "activity/", {})
        assert response.status_code == 405, method
    assert ManagerActivityLog.objects.get().pk == row.pk
