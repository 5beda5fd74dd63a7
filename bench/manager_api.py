#!/usr/bin/env python
"""Manager API benchmark (issue 8, "Performance"): the dashboard's endpoints at a million orders.

    .venv/bin/python bench/manager_api.py                   # 1,000,000 orders, 365 days
    .venv/bin/python bench/manager_api.py --orders 100000   # smaller data set
    .venv/bin/python bench/manager_api.py --requests 50     # samples per endpoint

One run:

1. Creates (if missing) and migrates the dedicated PostgreSQL database
   `marque_bench_manager` on 127.0.0.1 and fills it with bench/orders_data.py
   (KG and US orders up to now) unless it already holds that many; backfills the
   daily snapshots of the whole range (closed days are then read from them, as
   in production where the nightly job writes them), then VACUUM (ANALYZE)s the
   order tables as autovacuum would after a bulk load.
2. Creates a bench admin manager (active market KG) and calls, in-process through
   Django's test client with a real JWT (the full middleware, authentication,
   permission and serialization path, no HTTP server), `--requests` times each:
   `manager/dashboard/`, `manager/orders/?today=true` (page of 20) and
   `manager/revenue/?period=daily` over the last 90 days; prints p50 and p99.
3. Exports `manager/orders/export/` for the last `--export-days` days of KG
   in a child process, reading the stream to the end: rows per second and the
   child's peak RSS (ru_maxrss) against its RSS just before the export.
4. Writes the figures to bench/results/manager_api.json.

Needs PostgreSQL on 127.0.0.1 (no Redis). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.orders_data import (  # noqa: E402
    bench_order_count,
    fill_orders,
    prepare_database,
    setup_django,
)

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/marque_bench_manager"
RESULTS_DIR = BENCH_DIR / "results"
BENCH_MANAGER_PHONE = "+996559999999"
BASE = "/api/v1/manager/"


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def _rss_mb() -> float:
    """Current resident set size of this process in MB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def bench_client():
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken
    from store_manager.models import StoreManager
    from users.models import User

    # Not first_name "Bench": bench/orders_data.py deletes those customers on a reseed.
    user = User.objects.filter(phone=BENCH_MANAGER_PHONE).first() or User.objects.create_user(
        BENCH_MANAGER_PHONE, first_name="Manager", last_name="Bench admin"
    )
    StoreManager.objects.update_or_create(
        user=user, defaults={"role": "admin", "active_market": "KG", "is_active": True}
    )
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(cuts[98], 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "n": len(samples),
    }


def measure(client, path: str, params: dict, requests: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(path, params)  # warm-up, and a check
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code} {response.content[:300]!r}")
    with CaptureQueriesContext(connection) as queries:
        client.get(path, params)
    query_count = len(queries)  # now: the log is emptied when the next request starts
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, params)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return {**percentiles(samples), "queries": query_count}


def export_child(db_url: str, days: int) -> int:
    """Run in a child process: export, read the stream, print the figures as JSON."""
    setup_django(db_url)
    from django.utils import timezone
    from store_manager import analytics

    client = bench_client()
    today = analytics.local_date("KG", timezone.now())
    params = {"date_from": (today - timedelta(days=days - 1)).isoformat()}
    baseline_rss = _rss_mb()
    started = time.perf_counter()
    response = client.get(BASE + "orders/export/", params)
    rows, size, chunks = -1, 0, 0  # the header is not a data row
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
        size += len(chunk)
        chunks += 1
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "export_days": days,
                "export_rows": rows,
                "export_mb": round(size / 2**20, 1),
                "export_chunks": chunks,
                "export_s": round(seconds, 2),
                "export_rows_per_s": round(rows / seconds),
                "export_rss_before_mb": round(baseline_rss, 1),
                "export_peak_rss_mb": round(_peak_rss_mb(), 1),
                "export_rss_growth_mb": round(_peak_rss_mb() - baseline_rss, 1),
            }
        )
    )
    return 0


def run(args) -> dict:
    from django.db import connection
    from django.utils import timezone
    from orders.models import Order
    from store_manager import analytics
    from store_manager.services.snapshots import snapshots_rebuild

    results: dict[str, object] = {"orders": args.orders, "days": args.days}
    existing = bench_order_count()
    if existing != args.orders or args.reseed:
        log(f"generating {args.orders:,} orders over {args.days} days (found {existing:,})")
        started = time.monotonic()
        fill_orders(orders=args.orders, days=args.days, log=log)
        results["generate_s"] = round(time.monotonic() - started, 1)
        now = timezone.now()
        log("backfilling daily snapshots")
        snapshots_rebuild(
            date_from=analytics.local_date("US", now) - timedelta(days=args.days + 1),
            date_to=analytics.local_date("KG", now),
            periods=["daily"],
            now=now,
        )
    # What autovacuum does after a bulk load: sets the visibility map, so counts
    # such as "pending orders" are index-only scans (140 ms -> 7 ms at 1M orders).
    with connection.cursor() as cursor:
        for table in ("orders_order", "orders_orderitem"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    results["orders_in_db"] = Order.objects.count()
    client = bench_client()
    today = analytics.local_date("KG", timezone.now())
    endpoints = {
        "dashboard": (BASE + "dashboard/", {}),
        "orders_today": (BASE + "orders/", {"today": "true"}),
        "revenue_daily_90d": (
            BASE + "revenue/",
            {
                "period": "daily",
                "date_from": (today - timedelta(days=89)).isoformat(),
                "date_to": today.isoformat(),
            },
        ),
    }
    for name, (path, params) in endpoints.items():
        figures = measure(client, path, params, args.requests)
        results[name] = figures
        log(
            f"{name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms "
            f"({figures['n']} requests, {figures['queries']} queries each)"
        )
    today_count = client.get(BASE + "orders/", {"today": "true", "page_size": 1}).json()["count"]
    results["orders_today_count"] = today_count

    log(f"export of the last {args.export_days} days (KG), in a child process")
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--db-url",
            args.db_url,
            "--export-child",
            str(args.export_days),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    export = json.loads(child.stdout.strip().splitlines()[-1])
    results.update(export)
    log(
        f"export: {export['export_rows']:,} rows in {export['export_s']} s = "
        f"{export['export_rows_per_s']:,} rows/s; peak RSS {export['export_peak_rss_mb']} MB "
        f"(+{export['export_rss_growth_mb']} MB over {export['export_rss_before_mb']} MB)"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        results["postgres"] = cursor.fetchone()[0].split(",")[0]
    results["cpus"] = os.cpu_count()
    results["load_avg"] = os.getloadavg()
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "manager_api.json").write_text(json.dumps(results, indent=2) + "\n")
    log("figures: bench/results/manager_api.json")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("BENCH_MANAGER_DB_URL", DEFAULT_DB_URL))
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=50, help="Samples per endpoint.")
    parser.add_argument("--export-days", type=int, default=90)
    parser.add_argument("--reseed", action="store_true", help="Regenerate the orders.")
    parser.add_argument("--export-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.export_child:
        return export_child(args.db_url, args.export_child)
    prepare_database(args.db_url, log=log)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
