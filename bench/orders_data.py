#!/usr/bin/env python
"""Shared bench data: many orders in both markets, generated inside PostgreSQL.

    .venv/bin/python bench/orders_data.py --db-url postgres://postgres@127.0.0.1:5432/marque_bench_analytics
    .venv/bin/python bench/orders_data.py --orders 200000 --days 90 --reset

One `INSERT … SELECT … generate_series` per table (customers, orders, order
items): a million orders with ~2 million items take a few minutes on two cores,
no Python loop over rows. Used by bench/analytics.py and the manager API
benchmark through `fill_orders()`; the CLI creates and migrates the database.

What it makes (deterministic for a given --seed):

* customers: one per 5 orders, 60 % KG (+99655…) and 40 % US (+1212…), first name
  "Bench" (that is how the bench finds its own rows again);
* orders: 60 % KG (KGS, totals 500-15,000) and 40 % US (USD, 10-300), created
  on a uniformly random day of the last `days` days up to `end`, 80 % of them in a
  12-hour band of the day and 20 % at any hour;
  statuses: ~7 % cancelled, ~10 % pending, ~8 % confirmed, ~10 % processing,
  ~15 % shipped, the rest delivered; order numbers `KG-B00000001`…;
* items: 1-3 lines per order (quantity 1-3) whose line totals add up to the
  subtotal; products are taken from the catalogue when it has any (e.g. the
  catalogue bench's), otherwise left NULL with a snapshot name.

Never run against anything but a dedicated bench database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/marque_bench_analytics"
BENCH_FIRST_NAME = "Bench"

USERS_SQL = """
INSERT INTO {user} (password, last_login, is_superuser, phone, market, first_name, last_name,
                    email, language, is_active, is_staff, date_joined)
SELECT '!', NULL, false,
       CASE WHEN g <= %(kg_users)s THEN '+99655' || lpad(g::text, 7, '0')
            ELSE '+1212' || lpad((g - %(kg_users)s)::text, 7, '0') END,
       CASE WHEN g <= %(kg_users)s THEN 'KG' ELSE 'US' END,
       %(first_name)s, 'Customer ' || g, '', 'en', true, false,
       %(start)s::timestamptz
FROM generate_series(1, %(users)s) AS g
"""

# Customers (per market) and products numbered 1..n: a row picks one by arithmetic + index lookup.
NUMBERING_SQL = """
CREATE TEMPORARY TABLE bench_customers ON COMMIT DROP AS
SELECT market, row_number() OVER (PARTITION BY market ORDER BY id) AS rn, id
FROM {user} WHERE first_name = %(first_name)s;
ALTER TABLE bench_customers ADD PRIMARY KEY (market, rn);
ANALYZE bench_customers;
CREATE TEMPORARY TABLE bench_products ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY id) AS rn, id, name, slug FROM {product};
ALTER TABLE bench_products ADD PRIMARY KEY (rn);
ANALYZE bench_products;
"""

ORDERS_SQL = """
WITH counts AS (
    SELECT market, count(*) AS n FROM bench_customers GROUP BY market
), raw AS (
    SELECT g,
           CASE WHEN random() < 0.6 THEN 'KG' ELSE 'US' END AS market,
           random() AS r_user, random() AS r_status, random() AS r_total,
           -- Day uniformly in the window, hour weighted towards the afternoon and evening.
           %(end)s::timestamptz
             - (floor(random() * %(days)s) || ' days')::interval
             - ((CASE WHEN random() < 0.8 THEN 2 + floor(random() * 12)
                      ELSE floor(random() * 24) END) || ' hours')::interval
             - (floor(random() * 3600) || ' seconds')::interval AS created_at
    FROM generate_series(1, %(orders)s) AS g
)
INSERT INTO {order} (order_number, user_id, market, currency, status, payment_method,
                     payment_status, shipping_recipient, shipping_phone, shipping_city,
                     shipping_street, shipping_building, shipping_apartment,
                     shipping_postal_code, shipping_notes, subtotal, shipping_cost, discount,
                     total, comment, created_at, updated_at, confirmed_at, shipped_at,
                     delivered_at, cancelled_at, cancel_reason)
SELECT raw.market || '-B' || lpad(raw.g::text, 8, '0'),
       c.id, raw.market, CASE raw.market WHEN 'KG' THEN 'KGS' ELSE 'USD' END,
       CASE WHEN r_status < 0.07 THEN 'cancelled' WHEN r_status < 0.17 THEN 'pending'
            WHEN r_status < 0.25 THEN 'confirmed' WHEN r_status < 0.35 THEN 'processing'
            WHEN r_status < 0.50 THEN 'shipped' ELSE 'delivered' END,
       'cash_on_delivery',
       CASE WHEN r_status >= 0.50 THEN 'paid' ELSE 'unpaid' END,
       'Bench Customer', CASE raw.market WHEN 'KG' THEN '+996550000000' ELSE '+12125550100' END,
       CASE raw.market WHEN 'KG' THEN 'Bishkek' ELSE 'New York' END, 'Main St', '1', '', '', '',
       t.total, 0, 0, t.total, '', raw.created_at, raw.created_at,
       NULL, NULL, NULL,
       CASE WHEN r_status < 0.07 THEN raw.created_at + interval '2 hours' END,
       CASE WHEN r_status < 0.07 THEN 'Changed my mind' ELSE '' END
FROM raw
JOIN counts ON counts.market = raw.market
JOIN bench_customers c ON c.market = raw.market
    AND c.rn = 1 + floor(raw.r_user * counts.n)::bigint
CROSS JOIN LATERAL (
    SELECT round((CASE raw.market WHEN 'KG' THEN 500 + r_total * 14500
                                  ELSE 10 + r_total * 290 END)::numeric, 2) AS total
) t
-- Inserted in time order, as a live shop inserts them: the table's physical order follows
-- created_at, which is what the (market, created_at) index scans rely on in production.
ORDER BY raw.created_at
"""

ITEMS_SQL = """
WITH product_count AS (
    SELECT greatest(count(*), 1) AS n, count(*) > 0 AS has FROM bench_products
), lines AS (
    SELECT o.id AS order_id, o.total, o.id %% 3 + 1 AS line_count, k,
           1 + (o.id * 7 + k) %% 3 AS quantity,
           1 + (o.id * 31 + k * 17) %% 997 AS pick
    FROM {order} o
    CROSS JOIN LATERAL generate_series(1, o.id %% 3 + 1) AS k
    WHERE o.order_number LIKE '%%-B%%'
    ORDER BY o.id, k
)
INSERT INTO {item} (order_id, product_id, sku_id, product_name, product_slug, sku_code, size,
                    color, image, unit_price, quantity, line_total)
SELECT l.order_id, p.id, NULL,
       coalesce(p.name, 'Bench product ' || (l.pick %% 200)), coalesce(p.slug, ''),
       'BENCH-' || (l.pick %% 200) || '-' || l.k, 'M', 'Black', '',
       -- The last line takes the rounding remainder: lines add up to the total.
       round(lt.line_total / l.quantity, 2), l.quantity, lt.line_total
FROM lines l
CROSS JOIN product_count pc
LEFT JOIN bench_products p ON pc.has AND p.rn = 1 + l.pick %% pc.n
CROSS JOIN LATERAL (
    SELECT CASE WHEN l.k < l.line_count THEN round(l.total / l.line_count, 2)
                ELSE l.total - round(l.total / l.line_count, 2) * (l.line_count - 1) END
           AS line_total
) lt
"""


def _tables() -> dict[str, str]:
    from orders.models import Order, OrderItem
    from products.models import Product
    from users.models import User

    return {
        "user": User._meta.db_table,
        "order": Order._meta.db_table,
        "item": OrderItem._meta.db_table,
        "product": Product._meta.db_table,
    }


def bench_order_count() -> int:
    from orders.models import Order

    return Order.objects.filter(order_number__contains="-B").count()


def clear_orders() -> None:
    """Delete the bench's orders, items, customers and snapshots (nothing else)."""
    from django.db import connection
    from store_manager.models import DailyReport, RevenueSnapshot

    tables = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {tables['item']} WHERE order_id IN "
            f"(SELECT id FROM {tables['order']} WHERE order_number LIKE '%%-B%%')"
        )
        cursor.execute(f"DELETE FROM {tables['order']} WHERE order_number LIKE '%%-B%%'")
        cursor.execute(f"DELETE FROM {tables['user']} WHERE first_name = %s", [BENCH_FIRST_NAME])
    RevenueSnapshot.objects.all().delete()
    DailyReport.objects.all().delete()


def fill_orders(
    *,
    orders: int = 1_000_000,
    days: int = 365,
    end: datetime | None = None,
    seed: float = 0.42,
    log=print,
) -> dict[str, float]:
    """Generate ``orders`` orders over the ``days`` days before ``end`` (default: now).

    Runs in the database Django is connected to (PostgreSQL only): customers,
    orders and items, each one INSERT … SELECT over generate_series, then
    VACUUM ANALYZE. Existing bench rows are deleted first. Returns the seconds per step.
    """
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise RuntimeError("bench/orders_data.py needs PostgreSQL.")
    end = end or datetime.now(UTC)
    users = max(orders // 5, 10)
    params = {
        "orders": orders,
        "days": days,
        "end": end,
        "start": end.replace(year=end.year - 2),
        "users": users,
        "kg_users": users * 6 // 10,
        "first_name": BENCH_FIRST_NAME,
    }
    tables = _tables()
    timings: dict[str, float] = {}
    clear_orders()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        steps = (
            ("customers", USERS_SQL),
            ("numbering", NUMBERING_SQL),
            ("orders", ORDERS_SQL),
            ("items", ITEMS_SQL),
        )
        for step, sql in steps:
            started = time.monotonic()
            cursor.execute(sql.format(**tables), params)
            timings[step] = time.monotonic() - started
            log(f"{step}: {cursor.rowcount:,} rows in {timings[step]:.1f} s")
    started = time.monotonic()
    with connection.cursor() as cursor:
        for table in (tables["user"], tables["order"], tables["item"]):
            # VACUUM too: a --reset leaves the previous run's rows dead in the indexes.
            cursor.execute(f"VACUUM ANALYZE {table}")
    timings["vacuum_analyze"] = time.monotonic() - started
    return timings


def setup_django(db_url: str) -> None:
    """Point Django at the bench database (test settings: no secrets, eager Celery, no e-mail)."""
    sys.path.insert(0, str(BASE_DIR))
    from bench.catalogue import check_db_url

    check_db_url(db_url)
    os.environ["DATABASE_URL"] = db_url
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "main.settings.test"
    import django

    django.setup()


def prepare_database(db_url: str, *, log=print) -> None:
    """Create (if missing) and migrate the bench database; Django must not be set up yet."""
    sys.path.insert(0, str(BASE_DIR))
    from bench.catalogue import ensure_database

    if ensure_database(db_url):
        log(f"created database {db_url.rsplit('/', 1)[-1]}")
    setup_django(db_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reset", action="store_true", help="Regenerate even if the count fits.")
    args = parser.parse_args(argv)
    prepare_database(args.db_url)
    existing = bench_order_count()
    if existing == args.orders and not args.reset:
        print(f"{existing:,} bench orders already there (use --reset to regenerate).")
        return 0
    started = time.monotonic()
    fill_orders(orders=args.orders, days=args.days)
    print(f"{args.orders:,} orders in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
