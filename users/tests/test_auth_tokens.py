"""JWT refresh with rotation and blacklist, logout, expired-token clean-up."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from users.services.auth import tokens_for_user
from users.tasks import flush_expired_tokens

REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"


def refresh(client, token):
    return client.post(REFRESH, {"refresh": token})


def assert_token_invalid(response):
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


@pytest.mark.django_db
def test_refresh_rotates_the_pair(api_client, customer):
    old = tokens_for_user(user=customer)["refresh"]
    response = refresh(api_client, old)

    assert response.status_code == 200
    new = response.json()
    assert new["access"] and new["refresh"] != old
    assert RefreshToken(new["refresh"])["user_id"] == str(customer.id)


@pytest.mark.django_db
def test_an_old_refresh_token_is_refused_after_use(api_client, customer):
    old = tokens_for_user(user=customer)["refresh"]
    new = refresh(api_client, old).json()["refresh"]

    assert_token_invalid(refresh(api_client, old))
    assert refresh(api_client, new).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_a_malformed_refresh_token_is_refused(api_client, token):
    response = refresh(api_client, token)
    assert response.status_code in (400, 401)
    if token:
        assert_token_invalid(response)


@pytest.mark.django_db
def test_an_access_token_cannot_refresh(api_client, customer):
    access = tokens_for_user(user=customer)["access"]
    assert_token_invalid(refresh(api_client, access))


@pytest.mark.django_db
def test_a_deactivated_user_cannot_refresh(api_client, customer):
    token = tokens_for_user(user=customer)["refresh"]
    customer.is_active = False
    customer.save()

    assert_token_invalid(refresh(api_client, token))


@pytest.mark.django_db
def test_a_deleted_user_cannot_refresh(api_client, customer):
    token = tokens_for_user(user=customer)["refresh"]
    customer.delete()

    assert_token_invalid(refresh(api_client, token))


@pytest.mark.django_db
def test_logout_revokes_the_refresh_token(api_client, customer):
    token = tokens_for_user(user=customer)["refresh"]
    response = api_client.post(LOGOUT, {"refresh": token})

    assert response.status_code == 204
    assert_token_invalid(refresh(api_client, token))


@pytest.mark.django_db
def test_logout_with_a_revoked_or_invalid_token_is_401(api_client, customer):
    token = tokens_for_user(user=customer)["refresh"]
    api_client.post(LOGOUT, {"refresh": token})

    assert_token_invalid(api_client.post(LOGOUT, {"refresh": token}))
    assert_token_invalid(api_client.post(LOGOUT, {"refresh": "garbage"}))


@pytest.mark.django_db
def test_logout_needs_the_refresh_token(api_client):
    response = api_client.post(LOGOUT, {})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.django_db
def test_daily_flush_removes_expired_tokens_only(customer):
    tokens_for_user(user=customer)
    expired = RefreshToken.for_user(customer)
    OutstandingToken.objects.filter(jti=expired["jti"]).update(
        expires_at=timezone.now() - timedelta(days=1)
    )

    flush_expired_tokens()

    assert list(OutstandingToken.objects.values_list("jti", flat=True)) != []
    assert not OutstandingToken.objects.filter(jti=expired["jti"]).exists()


def test_beat_runs_the_daily_clean_ups(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "users.tasks.flush_expired_tokens",
        "users.tasks.delete_expired_verification_codes",
    } <= tasks


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_give_exactly_one_pair(customer):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; row locks need PostgreSQL (DATABASE_URL)")
    token = tokens_for_user(user=customer)["refresh"]
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker():
        try:
            client = APIClient()
            barrier.wait()
            response = refresh(client, token)
            with lock:
                statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [401] * (threads_count - 1)
