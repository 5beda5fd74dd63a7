"""Fixtures every app's tests share."""

from __future__ import annotations

import pytest
from celery.result import _set_task_join_will_block
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Throttle counters and cached responses never leak from one test to the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _empty_sms_outbox():
    """`users.sms.outbox` starts empty in every test, like `django.core.mail.outbox`."""
    from users import sms

    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture(autouse=True)
def _not_inside_a_task():
    """Each test starts outside any Celery task, whatever the one before it did.

    Celery keeps "a task is running here, joining a result would block" in one
    process-wide flag: an eager task sets it and restores the value it found. Eager
    tasks run at once in several threads (the race tests) can restore in the
    wrong order and leave it set, and a later test's `.get()` of an eager result
    in the same process is refused ("Never call result.get() within a task!").
    """
    _set_task_join_will_block(False)
    yield
    _set_task_join_will_block(False)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def authenticate(client: APIClient, user) -> APIClient:
    """Sign `client` in as `user` with a real JWT access token."""
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def customer(db):
    from users.tests.factories import UserFactory

    return UserFactory(phone="+996700111222")


@pytest.fixture
def us_customer(db):
    from users.tests.factories import UserFactory

    return UserFactory(phone="+12025550143")


@pytest.fixture
def customer_client(customer) -> APIClient:
    return authenticate(APIClient(), customer)


@pytest.fixture(scope="session")
def _fake_stripe_server():
    """One fake Stripe server for the whole session, started by the first test that asks."""
    from orders.payments.fake_stripe import FakeStripe

    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def fake_stripe(_fake_stripe_server, settings):
    """The session's fake Stripe, emptied, with the STRIPE_* settings pointing at it."""
    fake = _fake_stripe_server
    fake.reset()
    settings.STRIPE_API_BASE = fake.base_url
    settings.STRIPE_SECRET_KEY = fake.secret_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
    yield fake
    fake.reset()
