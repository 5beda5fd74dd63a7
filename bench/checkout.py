#!/usr/bin/env python
"""Checkout benchmark (issue 6, "Performance"): SQL per checkout and checkouts per second.

    .venv/bin/python bench/checkout.py               # defaults: 8 clients, 10 s per scenario
    .venv/bin/python bench/checkout.py --clients 8 --seconds 10

What it measures, on PostgreSQL (database `marque_bench_checkout` on 127.0.0.1,
created and migrated when missing; its bench rows are recreated each run):

1. SQL statements of one checkout of 1, 5 and 20 cart lines (the service call,
   `orders.services.checkout.order_checkout`, from the cart lock to the last insert).
2. Checkouts per second with N concurrent clients (processes, as gunicorn workers
   are, each with its own database connection), each looping "add 1 unit to the
   cart, check out"; the checkout call alone is timed and counted:
   * **hot**: every client buys the same SKU, so every checkout queues on one row lock;
   * **disjoint**: each client buys its own SKU, so only PostgreSQL itself is shared.
   It prints throughput and p50/p99 of the checkout call, and writes
   bench/results/checkout.json.

Notifications and snapshot recomputes are held back (`orders.events.quiet()`):
in production they are queued to Redis after commit, which is not what this
measures. Each scenario stops by itself after --seconds. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/marque_bench_checkout"
PHONE_PREFIX = "+99670090"  # bench buyers: +996 700 90x xxx
SKU_PREFIX = "BENCH-CO-"
BIG_STOCK = 10_000_000


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def setup(db_url: str) -> None:
    sys.path.insert(0, str(BENCH_DIR))
    sys.path.insert(0, str(BASE_DIR))
    from catalogue import ensure_database  # the catalogue bench's safe database creation

    if ensure_database(db_url):
        log("created the bench database")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "main.settings.local",
            "DATABASE_URL": db_url,
            "REDIS_URL": "",
            "DEBUG": "false",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_fixtures(clients: int, lines: int):
    """Fresh bench rows: buyers, a hot SKU, one SKU per client, and `lines` SKUs."""
    from main.markets import CatalogMarket
    from orders.models import Order
    from products.models import SKU, Category, Product, ProductPrice
    from users.models import User

    Order.objects.filter(user__phone__startswith=PHONE_PREFIX).delete()
    Product.objects.filter(slug__startswith="bench-co-").delete()
    category, _ = Category.objects.get_or_create(
        slug="bench-co", defaults={"name": "Bench checkout", "market": CatalogMarket.ALL}
    )
    buyers = []
    for index in range(clients + 3):
        phone = f"{PHONE_PREFIX}{index:04d}"
        user = User.objects.filter(phone=phone).first() or User.objects.create_user(phone)
        buyers.append(user)

    def sku(name: str) -> SKU:
        product = Product.objects.create(
            name=name, slug=f"bench-co-{name}", category=category, market=CatalogMarket.ALL
        )
        ProductPrice.objects.create(product=product, market="KG", price=Decimal("1000.00"))
        return SKU.objects.create(
            product=product, code=f"{SKU_PREFIX}{name}", size="M", color="Black", stock=BIG_STOCK
        )

    hot = sku("hot")
    own = [sku(f"own-{i}") for i in range(clients)]
    many = [sku(f"line-{i}") for i in range(lines)]
    return buyers, hot, own, many


def count_queries(buyer, skus, lines: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from orders import events
    from orders.services.checkout import order_checkout
    from products.services.cart import cart_item_add

    for sku in skus[:lines]:
        cart_item_add(user=buyer, market="KG", sku_id=sku.pk, quantity=1)
    with events.quiet(), CaptureQueriesContext(connection) as queries:
        order_checkout(user=buyer, payment_method="cash_on_delivery", address=address(buyer))
    return len(queries)


def address(buyer) -> dict[str, str]:
    return {
        "recipient_name": "Bench Buyer",
        "phone": buyer.phone,
        "city": "Bishkek",
        "street": "Chui",
        "building": "1",
    }


def _client(buyer_id: int, sku_id: int, start_at: float, deadline: float, out) -> None:
    """One client process: add a unit, check out, until the deadline; reports latencies."""
    from django.db import connections
    from orders import events
    from orders.services.checkout import order_checkout
    from products.services.cart import cart_item_add
    from users.models import User

    latencies: list[float] = []
    error = None
    try:
        buyer = User.objects.get(pk=buyer_id)
        while time.time() < start_at:
            time.sleep(0.001)
        with events.quiet():
            while time.time() < deadline:
                cart_item_add(user=buyer, market="KG", sku_id=sku_id, quantity=1)
                began = time.perf_counter()
                order_checkout(
                    user=buyer, payment_method="cash_on_delivery", address=address(buyer)
                )
                latencies.append(time.perf_counter() - began)
    except Exception as exc:
        error = repr(exc)
    finally:
        connections.close_all()
        out.put((latencies, error))


def run_clients(buyers, sku_for_client, seconds: float) -> dict[str, float]:
    """Each client is its own process (as gunicorn workers are), with its own connection."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # never share a connection across fork
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    start_at = time.time() + 1.0
    deadline = start_at + seconds
    processes = [
        context.Process(
            target=_client, args=(buyer.pk, sku_for_client(i).pk, start_at, deadline, out)
        )
        for i, buyer in enumerate(buyers)
    ]
    for process in processes:
        process.start()
    latencies: list[float] = []
    errors: list[str] = []
    for _ in processes:
        mine, error = out.get(timeout=seconds + 120)
        latencies.extend(mine)
        if error:
            errors.append(error)
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    latencies.sort()
    return {
        "checkouts": len(latencies),
        "seconds": seconds,
        "checkouts_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000, 1)
        if latencies
        else None,
        "errors": errors[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    setup(args.db_url)
    from products.models import SKU

    buyers, hot, own, many = make_fixtures(args.clients, lines=20)
    clients, spare = buyers[: args.clients], buyers[args.clients :]
    queries = {n: count_queries(spare[i], many, n) for i, n in enumerate((1, 5, 20))}
    log(f"SQL per checkout: {queries}")

    results = {}
    for name, pick in (("hot", lambda i: hot), ("disjoint", lambda i: own[i])):
        log(f"{name}: {args.clients} clients for {args.seconds:.0f} s …")
        results[name] = run_clients(clients, pick, args.seconds)
        log(f"{name}: {results[name]}")
    sold = BIG_STOCK - SKU.objects.get(pk=hot.pk).stock
    assert sold == results["hot"]["checkouts"], "hot SKU stock does not match checkouts"

    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": args.db_url.rsplit("/", 1)[-1],
        "clients": args.clients,
        "seconds": args.seconds,
        "queries_per_checkout": queries,
        "scenarios": results,
        "cpus": os.cpu_count(),
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "checkout.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
