"""After a reconnect a client reads what it missed over REST: `?since=` on both inboxes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from store_manager.models import ManagerNotification
from store_manager.services.notifications import notify_managers
from store_manager.tests.manager_api_support import client_of, customer_of, make_manager
from users.models import Notification
from users.services.accounts import notify_user

pytestmark = pytest.mark.django_db


def test_customer_notifications_since_an_instant():
    user = customer_of("KG")
    old = notify_user(user=user, title="Before the socket closed")
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    new = notify_user(user=user, title="While the socket was away")
    closed_at = (timezone.now() - timedelta(minutes=1)).isoformat()

    response = client_of(user).get("/api/v1/users/me/notifications/", {"since": closed_at})
    assert response.status_code == 200
    assert [n["id"] for n in response.json()["results"]] == [new.pk]

    everything = client_of(user).get("/api/v1/users/me/notifications/")
    assert len(everything.json()["results"]) == 2


def test_manager_notifications_since_an_instant():
    manager = make_manager(market="KG", can_view_orders=True)
    notify_managers(market="KG", type=ManagerNotification.Type.SYSTEM, title="Old")
    ManagerNotification.objects.update(created_at=timezone.now() - timedelta(hours=1))
    notify_managers(market="KG", type=ManagerNotification.Type.SYSTEM, title="New")
    since = (timezone.now() - timedelta(minutes=1)).isoformat()

    response = client_of(manager).get("/api/v1/manager/notifications/", {"since": since})
    assert response.status_code == 200
    assert [n["title"] for n in response.json()["results"]] == ["New"]


@pytest.mark.parametrize(
    "url", ["/api/v1/users/me/notifications/", "/api/v1/manager/notifications/"]
)
def test_a_malformed_since_is_a_400(url):
    manager = make_manager(market="KG", can_view_orders=True)
    response = client_of(manager).get(url, {"since": "yesterday-ish"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "since" in response.json()["errors"]


def test_a_customer_reads_only_its_own_missed_notifications():
    alice, bob = customer_of("KG"), customer_of("KG")
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    notify_user(user=bob, title="Bob's")
    response = client_of(alice).get("/api/v1/users/me/notifications/", {"since": since})
    assert response.json()["results"] == []
