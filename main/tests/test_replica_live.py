"""The read replica against a real streaming standby (docs/REPLICA.md, ops/replica.sh).

Runs only when the suite runs on PostgreSQL and TEST_REPLICA_URL points at a hot
standby of that same PostgreSQL:

    bash ops/replica.sh up
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/marque_replica_t \\
    TEST_REPLICA_URL=postgres://postgres@127.0.0.1:5433/marque_replica_t \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/pytest -q main/tests/test_replica_live.py

The test database is created on the primary and physical replication streams it to
the standby, so the `replica` alias is pointed at the test database's name on the
standby's host and port (the database name in TEST_REPLICA_URL is not used). To make
lag deterministic the tests pause the standby's replay (`pg_wal_replay_pause()`):
what the primary writes meanwhile is then certainly not on the replica.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from types import SimpleNamespace

import dj_database_url
import pytest
from django.core.cache import cache
from django.db import OperationalError, connections
from django.db.utils import load_backend
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conftest import authenticate
from main import db_router
from main.db_router import DEFAULT, FENCE_KEY, REPLICA, replica_reads
from main.http_cache import VERSION_KEY, catalogue_cache_invalidate
from products.models import Category, Listing, ProductPrice, WishlistItem
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    make_manager,
    order_in,
)

REPLICA_URL = os.environ.get("TEST_REPLICA_URL", "")
REPLAY_WAIT_SECONDS = 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REPLICA_URL, reason="TEST_REPLICA_URL is not set (ops/replica.sh up)"),
    pytest.mark.django_db(transaction=True, databases=[DEFAULT, REPLICA]),
]


def _sql(alias: str, sql: str, params=()):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def wait_for_replay() -> None:
    """Until the standby has replayed everything the primary has written so far (bounded)."""
    (lsn,) = _sql(DEFAULT, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    while not _sql(REPLICA, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])[0]:
        if time.monotonic() > deadline:
            pytest.fail(f"the standby did not replay up to {lsn} in {REPLAY_WAIT_SECONDS}s")
        time.sleep(0.05)


def pause_replay() -> None:
    """From now on, nothing the primary writes reaches the replica (until resume_replay)."""
    _sql(REPLICA, "SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    while _sql(REPLICA, "SELECT pg_get_wal_replay_pause_state()")[0] != "paused":
        if time.monotonic() > deadline:
            pytest.fail("the standby did not pause its replay")
        time.sleep(0.05)


def resume_replay() -> None:
    _sql(REPLICA, "SELECT pg_wal_replay_resume()")


def _standby_settings(primary: dict) -> dict:
    url = dj_database_url.parse(REPLICA_URL)
    return {
        **primary,
        "HOST": url["HOST"],
        "PORT": str(url["PORT"] or 5432),
        "USER": url["USER"] or primary["USER"],
        "PASSWORD": url["PASSWORD"] or "",
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"connect_timeout": 2},
    }


@pytest.fixture
def standby(settings, monkeypatch):
    """Replica reads on, the `replica` alias on the test database of the real standby."""
    if connections[DEFAULT].vendor != "postgresql":
        pytest.skip("the live replica test runs on PostgreSQL (DATABASE_URL)")
    settings.DATABASE_REPLICA_READS = True
    monkeypatch.setattr(db_router, "_replica_down_until", 0.0)
    monkeypatch.setattr(db_router, "_cache_down_until", 0.0)
    mirror = connections[REPLICA]
    wrapper = load_backend("django.db.backends.postgresql").DatabaseWrapper(
        _standby_settings(connections[DEFAULT].settings_dict), REPLICA
    )
    connections[REPLICA] = wrapper
    try:
        _connect_when_replayed(wrapper)
        in_recovery, port = _sql(REPLICA, "SELECT pg_is_in_recovery(), inet_server_port()")
        assert in_recovery, "TEST_REPLICA_URL is not a standby (pg_is_in_recovery() is false)"
        wait_for_replay()
        yield SimpleNamespace(port=port)
    finally:
        try:
            resume_replay()
        finally:
            wrapper.close()
            connections[REPLICA] = mirror


def _connect_when_replayed(wrapper) -> None:
    """The test database was just created on the primary: wait until the standby has it."""
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    while True:
        try:
            wrapper.ensure_connection()
            return
        except OperationalError:  # the database does not exist there yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def routed():
    """SQL run meanwhile on each alias (minus the fence's WAL position queries)."""
    with ExitStack() as stack:
        primary = stack.enter_context(CaptureQueriesContext(connections[DEFAULT]))
        replica = stack.enter_context(CaptureQueriesContext(connections[REPLICA]))
        seen = SimpleNamespace(primary=[], replica=[])
        yield seen

    def sql(capture):
        return [q["sql"] for q in capture.captured_queries if "_lsn" not in q["sql"]]

    seen.primary, seen.replica = sql(primary), sql(replica)


def touches(queries: list[str], table: str) -> bool:
    return any(table in sql for sql in queries)


def catalogue_version_replayed(version: str = "v1") -> None:
    """A catalogue version the replica is known to have replayed (the fence is open)."""
    cache.set(VERSION_KEY, version)
    cache.set(FENCE_KEY.format(key=VERSION_KEY), (version, "0/0", True))


def priced_product(slug: str, price: str = "1000.00"):
    product = ProductFactory(slug=slug)
    ProductPriceFactory(product=product, market="KG", price=Decimal(price))
    SKUFactory(product=product, stock=5)
    return product


def test_anonymous_catalogue_reads_are_served_by_the_standby(standby):
    product = priced_product("linen-shirt")
    wait_for_replay()
    catalogue_version_replayed()
    client = APIClient()

    with routed() as seen:
        detail = client.get(f"/api/v1/products/{product.slug}/")
        listed = client.get("/api/v1/products/", {"min_price": "1"})
    assert detail.json()["price"] == "1000.00"
    assert [row["slug"] for row in listed.json()["results"]] == ["linen-shirt"]
    assert touches(seen.replica, "products_listing")
    assert seen.primary == []
    assert standby.port == dj_database_url.parse(REPLICA_URL)["PORT"]  # the standby's

    # They really are the standby's rows: a change it has not replayed is not there.
    pause_replay()
    price = ProductPrice.objects.get(product=product, market="KG")
    price.price = Decimal("1500.00")
    price.save()
    with replica_reads():
        on_replica = Listing.objects.get(product=product, market="KG").price
    assert on_replica == Decimal("1000.00")
    assert Listing.objects.get(product=product, market="KG").price == Decimal("1500.00")


def test_a_catalogue_change_is_never_cached_from_a_lagging_standby(standby):
    product = priced_product("wool-coat")
    wait_for_replay()
    catalogue_version_replayed()

    pause_replay()
    price = ProductPrice.objects.get(product=product, market="KG")
    price.price = Decimal("2500.00")
    price.save()
    catalogue_cache_invalidate()  # what every catalogue write does after commit

    with routed() as seen:
        body = APIClient().get(f"/api/v1/products/{product.slug}/").json()
    assert body["price"] == "2500.00"  # built on the primary: the standby is behind
    assert seen.replica == []

    resume_replay()
    wait_for_replay()
    with routed() as seen:
        listed = APIClient().get("/api/v1/products/", {"min_price": "1"}).json()
    assert listed["results"][0]["price"] == "2500.00"
    assert touches(seen.replica, "products_listing")


def test_a_write_and_the_reads_after_it_stay_on_the_primary(standby, customer):
    product = priced_product("silk-scarf")
    wait_for_replay()
    catalogue_version_replayed()
    client = authenticate(APIClient(), customer)
    pause_replay()

    # The same request: a write in a scope sends its later reads to the primary.
    with replica_reads():
        Category.objects.create(name="New", slug="new-in")
        assert Category.objects.filter(slug="new-in").exists()

    # The next request of the user who wrote: pinned to the primary, it sees its write.
    added = client.post("/api/v1/wishlist/items/", {"product_id": product.id}, format="json")
    assert added.status_code == 201
    with routed() as seen:
        body = client.get(f"/api/v1/products/{product.slug}/").json()
    assert body["in_wishlist"] is True
    assert not touches(seen.replica, "products_wishlist")

    # …which the standby would not have answered.
    with replica_reads():
        assert not WishlistItem.objects.filter(product=product).exists()
        assert not Category.objects.filter(slug="new-in").exists()


def test_the_export_streams_from_the_standby(standby):
    manager = make_manager("manager", **ALL_FLAGS)
    order = order_in("KG", items=2)
    wait_for_replay()

    with routed() as seen:
        response = client_of(manager).get(BASE + "orders/export/")
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.count(order.order_number) == 2
    assert touches(seen.replica, "orders_orderitem")  # a server-side cursor on the standby
    assert touches(seen.primary, "store_manager_manageractivitylog")  # the audit row
