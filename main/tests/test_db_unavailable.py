"""A database that cannot be reached is a JSON 503 `service_unavailable` with Retry-After.

Whichever layer meets it: a DRF view, a plain Django view (admin), a middleware.
The database is "down" by patching `ensure_connection` (every query and every
`atomic()` goes through it); the shared PostgreSQL is never touched. Genuine
database bugs (IntegrityError, ProgrammingError) stay 500 `server_error`.
"""

from __future__ import annotations

import json

import psycopg2
import pytest
from django.db import IntegrityError, InterfaceError, OperationalError, ProgrammingError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from orders.models import Order
from orders.tests.helpers import INLINE_KG, fill_cart, priced_sku
from products.models import SKU, CartItem
from users.models import User

pytestmark = pytest.mark.django_db

THIS = "main.tests.test_db_unavailable"


def take_database_down(monkeypatch, exc=None):
    def refuse(self):
        raise exc or OperationalError(
            'connection to server at "127.0.0.1", port 5432 failed: Connection refused'
        )

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)


def assert_unavailable(response):
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "30"
    assert json.loads(response.content) == {
        "code": "service_unavailable",
        "detail": "The service is temporarily unavailable. Please try again shortly.",
    }


# --- DRF views -------------------------------------------------------------------


def test_catalogue_list_is_503_when_the_database_is_down(api_client, monkeypatch):
    priced_sku()
    take_database_down(monkeypatch)
    assert_unavailable(api_client.get("/api/v1/products/", HTTP_X_MARKET="KG"))


def test_checkout_is_503_and_places_nothing(customer, customer_client, monkeypatch):
    sku = priced_sku(stock=5)
    fill_cart(customer, (sku, 2))

    with monkeypatch.context() as patch:
        take_database_down(patch)
        response = customer_client.post(
            "/api/v1/orders/",
            {"address": INLINE_KG, "payment_method": "cash_on_delivery"},
            format="json",
        )

    assert_unavailable(response)
    assert Order.objects.count() == 0
    assert SKU.objects.get(pk=sku.pk).stock == 5
    assert CartItem.objects.filter(cart__user=customer).count() == 1


def _drf_view(exc):
    class View(APIView):
        permission_classes = (AllowAny,)
        authentication_classes = ()

        def get(self, request):
            raise exc

    return View.as_view()


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
        psycopg2.OperationalError("could not connect to server"),  # raised unwrapped
        psycopg2.InterfaceError("connection already closed"),
    ],
    ids=["django-operational", "django-interface", "psycopg2-operational", "psycopg2-interface"],
)
def test_every_connection_error_is_503_in_drf(exc):
    response = _drf_view(exc)(APIRequestFactory().get("/api/v1/x/"))
    response.render()
    assert_unavailable(response)


@pytest.mark.parametrize(
    "exc",
    [IntegrityError("duplicate key"), ProgrammingError("relation does not exist")],
    ids=["integrity", "programming"],
)
def test_genuine_database_errors_stay_500(exc):
    response = _drf_view(exc)(APIRequestFactory().get("/api/v1/x/"))
    assert response.status_code == 500
    assert response.data["code"] == "server_error"
    assert "Retry-After" not in response


# --- Plain Django views --------------------------------------------------------


def test_readyz_stays_503_not_ready_and_healthz_stays_up(client, monkeypatch):
    take_database_down(monkeypatch)

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["code"] == "not_ready"
    assert ready.json()["checks"]["database"] == "unavailable"

    assert client.get("/healthz").status_code == 200


def test_admin_is_a_json_503_when_the_database_is_down(client, monkeypatch):
    client.force_login(User.objects.create_superuser("+996700000091", "pw-123456"))
    take_database_down(monkeypatch)  # the session and the user are loaded in the view

    response = client.get("/admin/")

    assert_unavailable(response)


# --- Middleware ------------------------------------------------------------------


class QueryingMiddleware:
    """Stands for any middleware that reads the database before the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        User.objects.exists()
        return self.get_response(request)


class FailingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise IntegrityError("duplicate key value violates unique constraint")


@pytest.fixture
def unraised_client():
    """A client that returns the 500-handler's answer instead of re-raising the error."""
    return Client(raise_request_exception=False)


def test_database_error_in_a_middleware_is_503(unraised_client, settings, monkeypatch):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{THIS}.QueryingMiddleware"]
    take_database_down(monkeypatch)

    assert_unavailable(unraised_client.get("/healthz"))


def test_other_errors_in_a_middleware_stay_json_500(unraised_client, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{THIS}.FailingMiddleware"]

    response = unraised_client.get("/healthz")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "Retry-After" not in response


class _ServerError(Exception):
    """Stands for the driver error Django wraps (its SQLSTATE in `pgcode`)."""

    def __init__(self, pgcode: str) -> None:
        super().__init__(pgcode)
        self.pgcode = pgcode


def _wrapped(pgcode: str) -> OperationalError:
    exc = OperationalError(f"server said {pgcode}")
    exc.__cause__ = _ServerError(pgcode)
    return exc


@pytest.mark.parametrize(
    ("exc", "level"),
    [
        (_wrapped("08006"), "WARNING"),  # connection failure: the outage itself
        (_wrapped("57P01"), "WARNING"),  # admin shutdown (a restart)
        (psycopg2.OperationalError("could not connect to server"), "WARNING"),
        (_wrapped("40P01"), "ERROR"),  # deadlock: retryable, and a lock-order bug
        (_wrapped("57014"), "ERROR"),  # statement timeout: a slow-query bug
    ],
    ids=["connection", "shutdown", "no-server", "deadlock", "timeout"],
)
def test_503_for_every_operational_error_but_bugs_are_logged_with_their_trace(exc, level, caplog):
    response = _drf_view(exc)(APIRequestFactory().get("/api/v1/x/"))
    response.render()
    assert_unavailable(response)
    record = next(r for r in caplog.records if r.name == "marque.errors")
    assert record.levelname == level
    assert (record.exc_info is not None) == (level == "ERROR")
