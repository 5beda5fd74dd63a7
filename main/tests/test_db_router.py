"""The read replica's routing (main/db_router.py, docs/REPLICA.md), without replication.

The test settings define `replica` as Django's test mirror of the test database
and keep it idle (DATABASE_REPLICA_READS off); these tests turn it on. Every
query can then be counted per alias: a query seen on `connections["replica"]`
was routed there. The tests are transactional, so the replica's connection sees
only committed rows, as a real replica would. test_replica_live.py proves the
same against a real streaming replica.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connections, transaction
from django.db.utils import load_backend
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from conftest import authenticate
from main import db_router
from main.db_router import DEFAULT, REPLICA, ReplicaRouter, pin_to_primary, replica_reads
from main.env import BASE_DIR
from main.http_cache import VERSION_KEY
from orders.tests.helpers import INLINE_KG, fill_cart, priced_sku
from products.models import Category, Product
from products.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductPriceFactory,
    SKUFactory,
)
from store_manager.models import ManagerActivityLog
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    make_manager,
    order_in,
)
from users.tests.factories import UserFactory

# Committed rows (transaction=True), so that the replica's connection sees them.
routed_db = pytest.mark.django_db(transaction=True, databases=[DEFAULT, REPLICA])


@pytest.fixture(autouse=True)
def _fresh_router_state(monkeypatch):
    """No replica or cache outage remembered from another test."""
    monkeypatch.setattr(db_router, "_replica_down_until", 0.0)
    monkeypatch.setattr(db_router, "_cache_down_until", 0.0)


@pytest.fixture
def replica(settings):
    """Replica reads on, to the mirror of the test database."""
    settings.DATABASE_REPLICA_READS = True
    return connections[REPLICA]


@pytest.fixture
def dead_replica(settings):
    """Replica reads on, to a PostgreSQL port where nothing listens."""
    settings.DATABASE_REPLICA_READS = True
    mirror = connections[REPLICA]
    dead = {
        **mirror.settings_dict,
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "marque",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": "1",
        "OPTIONS": {"connect_timeout": 1},
    }
    connections[REPLICA] = load_backend(dead["ENGINE"]).DatabaseWrapper(dead, REPLICA)
    yield
    connections[REPLICA].close()
    connections[REPLICA] = mirror


def _is_lag_check(query: dict) -> bool:
    return "pg_current_wal_lsn" in query["sql"]


@contextmanager
def routed():
    """SQL run meanwhile on each alias: `.primary` (minus the fence's lag check), `.replica`."""
    with ExitStack() as stack:
        primary = stack.enter_context(CaptureQueriesContext(connections[DEFAULT]))
        replica = stack.enter_context(CaptureQueriesContext(connections[REPLICA]))
        seen = SimpleNamespace(primary=[], replica=[])
        yield seen
    seen.primary = [q["sql"] for q in primary.captured_queries if not _is_lag_check(q)]
    seen.replica = [q["sql"] for q in replica.captured_queries]


def touches(queries: list[str], table: str) -> bool:
    return any(table in sql for sql in queries)


def priced_product(slug: str, *, price: str = "1290.00") -> Product:
    product = ProductFactory(slug=slug)
    ProductPriceFactory(product=product, market="KG", price=Decimal(price))
    SKUFactory(product=product, stock=5)
    return product


# --- Which requests read the replica ----------------------------------------------------------


@routed_db
def test_anonymous_catalogue_reads_go_to_the_replica(replica, api_client):
    product = priced_product("linen-shirt")

    with routed() as seen:
        listed = api_client.get("/api/v1/products/", {"ordering": "-created_at"})
        filtered = api_client.get("/api/v1/products/", {"min_price": "1"})
        detail = api_client.get(f"/api/v1/products/{product.slug}/")
        facets = api_client.get("/api/v1/products/facets/")
        categories = api_client.get("/api/v1/categories/")

    assert [row["slug"] for row in listed.json()["results"]] == ["linen-shirt"]
    assert [row["slug"] for row in filtered.json()["results"]] == ["linen-shirt"]
    assert detail.json()["price"] == "1290.00"
    assert facets.status_code == categories.status_code == 200
    assert touches(seen.replica, "products_listing")
    assert seen.primary == []


@routed_db
def test_signed_in_catalogue_reads_use_the_replica_until_the_user_writes(replica, customer):
    product = priced_product("wool-coat")
    client = authenticate(APIClient(), customer)

    with routed() as seen:
        assert client.get(f"/api/v1/products/{product.slug}/").json()["in_wishlist"] is False
    assert touches(seen.replica, "products_listing")
    assert touches(seen.replica, "products_wishlist")
    assert not touches(seen.primary, "products_")  # the primary reads only the token's user

    # A write pins the user to the primary: the very next read sees it.
    response = client.post("/api/v1/wishlist/items/", {"product_id": product.id}, format="json")
    assert response.status_code == 201
    with routed() as seen:
        assert client.get(f"/api/v1/products/{product.slug}/").json()["in_wishlist"] is True
    assert seen.replica == []
    assert touches(seen.primary, "products_wishlist")

    # Someone else is not pinned (the body itself now comes from the cache).
    other = authenticate(APIClient(), UserFactory(phone="+996700999888"))
    with routed() as seen:
        assert other.get(f"/api/v1/products/{product.slug}/").json()["in_wishlist"] is False
    assert touches(seen.replica, "products_wishlist")
    assert not touches(seen.primary, "products_")


@routed_db
def test_cart_checkout_and_orders_read_the_primary(replica, customer, customer_client):
    sku = priced_sku(price="1290.00", stock=5)
    fill_cart(customer, (sku, 2))

    with routed() as seen:
        assert customer_client.get("/api/v1/cart/").json()["items"][0]["quantity"] == 2
        placed = customer_client.post(
            "/api/v1/orders/",
            {"address": INLINE_KG, "payment_method": "cash_on_delivery"},
            format="json",
        )
        assert placed.status_code == 201, placed.json()
        orders = customer_client.get("/api/v1/orders/").json()
        mine = customer_client.get(f"/api/v1/orders/{placed.json()['order_number']}/")

    assert [row["order_number"] for row in orders["results"]] == [placed.json()["order_number"]]
    assert mine.status_code == 200
    assert seen.replica == []
    assert touches(seen.primary, "orders_order")


@routed_db
def test_manager_analytics_and_the_export_read_the_replica(replica):
    manager = make_manager("manager", **ALL_FLAGS)
    client = client_of(manager)
    order = order_in("KG", items=2)

    with routed() as seen:
        assert client.get(BASE + "dashboard/").json()["pending_orders"] == 1
        assert client.get(BASE + "revenue/").status_code == 200
        assert client.get(BASE + "revenue/hourly/").status_code == 200
        assert client.get(BASE + "reports/").status_code == 200
        export = client.get(BASE + "orders/export/")
        body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert touches(seen.replica, "orders_order")
    assert not touches(seen.primary, "orders_order")
    # The export wrote its audit row on the primary, then streamed its rows from the replica.
    assert body.count(order.order_number) == 2
    assert touches(seen.primary, "store_manager_manageractivitylog")
    assert touches(seen.replica, "orders_orderitem")
    assert ManagerActivityLog.objects.filter(action="orders_exported").count() == 1

    # What a manager acts on reads the primary.
    with routed() as seen:
        client.get(BASE + "orders/")
        client.get(BASE + f"orders/{order.order_number}/")
    assert seen.replica == []


# --- The read-after-write rules ---------------------------------------------------------------


@routed_db
def test_a_write_in_a_scope_keeps_the_rest_of_it_on_the_primary(replica):
    CategoryFactory(slug="old")
    with replica_reads():
        with routed() as before:
            assert Category.objects.filter(slug="old").exists()
        with routed() as after:
            Category.objects.create(name="New", slug="new")
            assert Category.objects.filter(slug="new").exists()
    assert touches(before.replica, "products_category") and before.primary == []
    assert after.replica == []
    assert any("SELECT" in sql and "products_category" in sql for sql in after.primary)


@routed_db
def test_inside_a_transaction_reads_stay_on_the_primary(replica):
    CategoryFactory(slug="c")
    with routed() as seen, replica_reads(), transaction.atomic():
        assert Category.objects.filter(slug="c").exists()
    assert seen.replica == []


@routed_db
def test_outside_a_scope_everything_reads_the_primary(replica):
    CategoryFactory(slug="c")
    with routed() as seen:
        assert Category.objects.filter(slug="c").exists()
    assert seen.replica == []


@routed_db
def test_a_pin_lasts_the_pin_seconds(replica, settings, monkeypatch):
    settings.DATABASE_REPLICA_PIN_SECONDS = 7
    user = UserFactory()
    now = 1_000_000.0
    monkeypatch.setattr(db_router, "_clock", lambda: now)
    pin_to_primary(user.pk)

    def alias_read_by(who, at):
        monkeypatch.setattr(db_router, "_clock", lambda: at)
        with replica_reads(user=who) as scope:
            return scope.alias_for_read()

    assert alias_read_by(user, now + 6.9) == DEFAULT
    assert alias_read_by(user, now + 7.1) == REPLICA
    assert alias_read_by(UserFactory(), now) == REPLICA


@routed_db
def test_a_non_safe_request_pins_even_when_it_fails(replica, customer, customer_client):
    assert customer_client.post("/api/v1/cart/items/", {}, format="json").status_code == 400
    with replica_reads(user=customer) as scope:
        assert scope.alias_for_read() == DEFAULT


@routed_db
def test_without_the_cache_signed_in_users_read_the_primary(replica, monkeypatch):
    class BrokenCache:
        def get_many(self, keys):
            raise RedisConnectionError("down")

        def set(self, *args, **kwargs):
            raise RedisConnectionError("down")

    monkeypatch.setattr(db_router, "cache", BrokenCache())
    with replica_reads(user=UserFactory()) as scope:
        assert scope.alias_for_read() == DEFAULT
    with replica_reads() as scope:  # anonymous, no fence: nothing to look up
        assert scope.alias_for_read() == REPLICA


# --- The catalogue fence -----------------------------------------------------------------------


@routed_db
def test_a_new_catalogue_version_is_built_on_the_primary_until_the_replica_replayed_it(
    replica, api_client, monkeypatch
):
    priced_product("shirt")
    wal = SimpleNamespace(primary="0/100", replayed=False, primary_asked=0, replica_asked=[])

    def primary_lsn():
        wal.primary_asked += 1
        return wal.primary

    def replica_replayed(lsn):
        wal.replica_asked.append(lsn)
        return wal.replayed

    monkeypatch.setattr(db_router, "_primary_lsn", primary_lsn)
    monkeypatch.setattr(db_router, "_replica_replayed", replica_replayed)
    cache.set(VERSION_KEY, "v2")  # a catalogue change committed, the version moved

    with routed() as seen:
        assert api_client.get("/api/v1/products/shirt/").status_code == 200
    assert seen.replica == [] and touches(seen.primary, "products_listing")
    assert (wal.primary_asked, wal.replica_asked) == (1, ["0/100"])

    # Later writes move the primary on; the replica only has to reach where v2 was seen.
    wal.primary, wal.replayed = "0/900", True
    with routed() as seen:
        assert api_client.get("/api/v1/products/", {"min_price": "1"}).status_code == 200
    assert touches(seen.replica, "products_listing")
    assert (wal.primary_asked, wal.replica_asked) == (1, ["0/100", "0/100"])

    # Replayed once is enough: later builds under v2 ask nobody.
    with routed() as seen:
        api_client.get("/api/v1/products/", {"min_price": "2"})
    assert touches(seen.replica, "products_listing")
    assert (wal.primary_asked, len(wal.replica_asked)) == (1, 2)

    # The next change starts again from the primary's position then.
    cache.set(VERSION_KEY, "v3")
    wal.replayed = False
    with routed() as seen:
        api_client.get("/api/v1/products/", {"min_price": "3"})
    assert seen.replica == []
    assert wal.replica_asked[-1] == "0/900"


# --- A replica that is down, and no replica at all ---------------------------------------------


@routed_db
def test_a_replica_that_is_down_falls_back_to_the_primary(dead_replica, api_client):
    priced_product("shirt")
    response = api_client.get("/api/v1/products/shirt/")
    assert response.status_code == 200
    assert response.json()["slug"] == "shirt"
    assert db_router._replica_down_until > 0  # the next requests do not try for a while
    with replica_reads() as scope:
        assert scope.alias_for_read() == DEFAULT


@routed_db
def test_readyz_reports_the_replica_without_requiring_it(client, replica):
    body = client.get("/readyz").json()
    assert body["checks"]["replica"] == "ok"


@routed_db
def test_readyz_stays_ready_while_the_replica_is_down(client, dead_replica):
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert (checks["database"], checks["replica"]) == ("ok", "unavailable")


def test_while_replica_reads_are_off_everything_reads_the_primary(settings):
    settings.DATABASE_REPLICA_READS = False
    with replica_reads() as scope:
        assert scope.alias_for_read() == DEFAULT
    assert ReplicaRouter().db_for_read(Product) == DEFAULT


def test_only_the_primary_is_migrated():
    router = ReplicaRouter()
    assert router.allow_migrate(DEFAULT, "products") is True
    assert router.allow_migrate(REPLICA, "products") is False
    assert router.db_for_write(Product) == DEFAULT


def test_settings_add_the_alias_from_the_environment_but_not_in_tests():
    code = (
        "import main.settings.base as base\n"
        "replica = dict(base.DATABASES['replica'])\n"
        "print(replica['HOST'], replica['PORT'], replica['NAME'], "
        "replica['OPTIONS']['connect_timeout'], replica['CONN_HEALTH_CHECKS'])\n"
        "print(base.DATABASE_ROUTERS, base.DATABASE_REPLICA_READS)\n"
        "import main.settings.test as test\n"
        "print(test.DATABASES['replica']['HOST'], test.DATABASES['replica']['TEST'], "
        "test.DATABASE_REPLICA_READS)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/marque",
        "DATABASE_REPLICA_URL": "postgres://postgres@10.0.0.2:5433/marque",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "10.0.0.2 5433 marque 2 True",
        "['main.db_router.ReplicaRouter'] True",
        # Tests: the mirror of the test database, idle.
        "127.0.0.1 {'MIRROR': 'default'} False",
    ]
