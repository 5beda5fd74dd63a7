import datetime as dt

import pytest
from django.utils import timezone

from users.models import Notification
from users.services.accounts import notify_user
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/me/notifications/"


def _notify(user, title="Hello", **kwargs):
    return notify_user(user=user, title=title, **kwargs)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ""),
        ("post", "1/read/"),
        ("post", "read-all/"),
        ("get", "unread-count/"),
    ],
)
def test_notifications_need_a_token(api_client, method, path):
    response = getattr(api_client, method)(f"{URL}{path}")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_list_is_newest_first_and_only_mine(customer_client, customer):
    old = _notify(customer, "Old")
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=1))
    new = _notify(
        customer, "Shipped", body="On its way", type="order_status", data={"order": "KG-1"}
    )
    _notify(UserFactory(), "Not yours")
    body = customer_client.get(URL).json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
    first = body["results"][0]
    assert first == {
        "id": new.pk,
        "type": "order_status",
        "title": "Shipped",
        "body": "On its way",
        "data": {"order": "KG-1"},
        "is_read": False,
        "created_at": first["created_at"],
    }


def test_filter_by_is_read(customer_client, customer):
    read = _notify(customer, "Read")
    Notification.objects.filter(pk=read.pk).update(is_read=True)
    unread = _notify(customer, "Unread")
    assert [r["id"] for r in customer_client.get(URL, {"is_read": "true"}).json()["results"]] == [
        read.pk
    ]
    assert [r["id"] for r in customer_client.get(URL, {"is_read": "false"}).json()["results"]] == [
        unread.pk
    ]
    assert customer_client.get(URL).json()["count"] == 2


def test_bad_is_read_value_is_a_400(customer_client):
    response = customer_client.get(URL, {"is_read": "maybe"})
    assert response.status_code == 400
    assert "is_read" in response.json()["errors"]


def test_mark_one_read_is_idempotent(customer_client, customer):
    notification = _notify(customer)
    for _ in range(2):
        response = customer_client.post(f"{URL}{notification.pk}/read/")
        assert response.status_code == 200
        assert response.json()["is_read"] is True
    notification.refresh_from_db()
    assert notification.is_read
    assert customer_client.get(f"{URL}unread-count/").json() == {"count": 0}


def test_read_all_returns_how_many_changed(customer_client, customer):
    for _ in range(3):
        _notify(customer)
    already = _notify(customer)
    Notification.objects.filter(pk=already.pk).update(is_read=True)
    theirs = _notify(UserFactory())
    response = customer_client.post(f"{URL}read-all/")
    assert response.status_code == 200
    assert response.json() == {"marked": 3}
    assert customer_client.post(f"{URL}read-all/").json() == {"marked": 0}
    theirs.refresh_from_db()
    assert theirs.is_read is False


def test_unread_count(customer_client, customer):
    for _ in range(2):
        _notify(customer)
    _notify(UserFactory())
    response = customer_client.get(f"{URL}unread-count/")
    assert response.status_code == 200
    assert response.json() == {"count": 2}


def test_another_users_notification_is_404_and_unchanged(customer_client):
    theirs = _notify(UserFactory())
    response = customer_client.post(f"{URL}{theirs.pk}/read/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.is_read is False


def test_notifications_cannot_be_created_or_deleted_by_the_customer(customer_client, customer):
    notification = _notify(customer)
    assert customer_client.post(URL, {"title": "Fake"}).status_code == 405
    assert customer_client.delete(f"{URL}{notification.pk}/read/").status_code == 405
    assert Notification.objects.filter(user=customer).count() == 1


@pytest.mark.parametrize("page_size", [1, 50])
def test_list_runs_a_constant_number_of_queries(
    customer_client, customer, django_assert_max_num_queries, page_size
):
    Notification.objects.bulk_create(
        Notification(user=customer, title=f"N{i}", data={"i": i}) for i in range(60)
    )
    with django_assert_max_num_queries(3):
        response = customer_client.get(URL, {"page_size": page_size, "is_read": "false"})
    assert len(response.json()["results"]) == page_size
