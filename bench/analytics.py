#!/usr/bin/env python
"""Analytics benchmark (issue 7, "Performance"): snapshots at a million orders.

    .venv/bin/python bench/analytics.py                  # = make bench-analytics
    .venv/bin/python bench/analytics.py --orders 200000  # smaller data set
    .venv/bin/python bench/analytics.py --all-periods    # also backfill hourly/weekly/monthly

One run:

1. Creates (if missing) and migrates the dedicated PostgreSQL database
   `marque_bench_analytics` on 127.0.0.1, and fills it with bench/orders_data.py
   (1,000,000 orders over 365 days in KG and US) unless it already holds that many.
2. Times the backfill of every daily snapshot of the 365 days, both markets
   (after deleting the daily rows), then the same backfill again (idempotent:
   nothing to write).
3. Times one scheduled hourly run and one order recompute (what every order
   creation or status change queues).
4. Times "revenue by day for the last 90 days" (KG) read from the snapshots
   and computed by raw aggregation over the orders (revenue only, and all the
   figures), median of several runs.
5. Writes EXPLAIN (ANALYZE, BUFFERS) of the aggregation queries to
   bench/results/analytics_plans.txt and the figures to bench/results/analytics.json.

Needs PostgreSQL on 127.0.0.1; no Redis (tasks are called in-process). Not
part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.orders_data import (  # noqa: E402
    DEFAULT_DB_URL,
    bench_order_count,
    fill_orders,
    prepare_database,
)

RESULTS_DIR = BENCH_DIR / "results"


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def timed(fn, *, repeat: int = 1) -> tuple[float, object]:
    """Median wall time in ms over `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def explain(fn, title: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of every query `fn` runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    out = [f"=== {title}"]
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            out.append("-- " + sql)
            out.extend(row[0] for row in cursor.fetchall())
            out.append("")
    return "\n".join(out)


def run(args) -> dict:
    from django.db import connection
    from django.db.models import Sum
    from django.db.models.functions import TruncDay
    from orders.models import Order, OrderStatus
    from store_manager.analytics import (
        bucket_figures,
        date_range_bounds,
        local_date,
        market_zone,
        period_figures,
    )
    from store_manager.models import RevenueSnapshot
    from store_manager.services.snapshots import (
        snapshots_for_order,
        snapshots_last_hour,
        snapshots_rebuild,
    )

    results: dict[str, object] = {"orders": args.orders, "days": args.days}
    existing = bench_order_count()
    if existing != args.orders or args.reseed:
        log(f"generating {args.orders:,} orders over {args.days} days (found {existing:,})")
        started = time.monotonic()
        fill_orders(orders=args.orders, days=args.days, log=log)
        results["generate_s"] = round(time.monotonic() - started, 1)
        log(f"generated in {results['generate_s']} s")
    newest = Order.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    now = newest + timedelta(minutes=1)  # the data's "now": measures don't drift with the clock
    to_date = local_date("KG", now)
    from_date = to_date - timedelta(days=args.days)
    results["orders_in_db"] = Order.objects.count()
    results["items_in_db"] = Order.items.rel.related_model.objects.count()

    def backfill(periods):
        return snapshots_rebuild(date_from=from_date, date_to=to_date, periods=periods, now=now)

    RevenueSnapshot.objects.filter(period="daily").delete()
    ms, written = timed(lambda: backfill(["daily"]))
    results["backfill_daily_365d_s"] = round(ms / 1000, 2)
    results["backfill_daily_rows"] = written
    log(
        f"backfill daily snapshots, {args.days} days x 2 markets: {ms / 1000:.1f} s, {written} rows"
    )
    ms, written = timed(lambda: backfill(["daily"]))
    results["backfill_daily_again_s"] = round(ms / 1000, 2)
    log(f"same backfill again (idempotent): {ms / 1000:.1f} s, {written} rows written")

    if args.all_periods:
        for period in ("hourly", "weekly", "monthly"):
            RevenueSnapshot.objects.filter(period=period).delete()
            ms, written = timed(lambda p=period: backfill([p]))
            results[f"backfill_{period}_365d_s"] = round(ms / 1000, 2)
            log(f"backfill {period}: {ms / 1000:.1f} s, {written} rows")

    ms, _ = timed(lambda: snapshots_last_hour(now=now), repeat=5)
    results["hourly_run_ms"] = round(ms, 1)
    log(f"one hourly run (both markets): {ms:.1f} ms")
    order_id = Order.objects.filter(created_at__lt=now - timedelta(days=10)).values_list(
        "id", flat=True
    )[0]
    ms, _ = timed(lambda: snapshots_for_order(order_id=order_id, now=now), repeat=5)
    results["order_recompute_ms"] = round(ms, 1)
    log(f"one order recompute (hour, day, week, month + following): {ms:.1f} ms")

    # Revenue by day, last 90 days, KG.
    market = "KG"
    days90 = date_range_bounds(market, to_date - timedelta(days=89), to_date)

    def from_snapshots():
        return list(
            RevenueSnapshot.objects.filter(
                market=market,
                period="daily",
                period_start__gte=days90.start,
                period_start__lt=days90.end,
            )
            .order_by("period_start")
            .values_list("period_start", "revenue")
        )

    def raw_revenue():
        return list(
            Order.objects.filter(
                market=market, created_at__gte=days90.start, created_at__lt=days90.end
            )
            .exclude(status=OrderStatus.CANCELLED)
            .annotate(day=TruncDay("created_at", tzinfo=market_zone(market)))
            .values("day")
            .annotate(revenue=Sum("total"))
            .order_by("day")
            .values_list("day", "revenue")
        )

    def raw_figures():
        return bucket_figures(market=market, period="daily", start=days90.start, end=days90.end)

    ms, rows = timed(from_snapshots, repeat=21)
    results["revenue_90d_from_snapshots_ms"] = round(ms, 2)
    log(f"revenue by day, 90 days, from snapshots: {ms:.2f} ms ({len(rows)} rows)")
    raw_ms, raw_rows = timed(raw_revenue, repeat=5)
    results["revenue_90d_raw_ms"] = round(raw_ms, 1)
    log(f"revenue by day, 90 days, raw aggregation (revenue only): {raw_ms:.1f} ms")
    assert [r for _, r in rows] == [r for _, r in raw_rows], "snapshots differ from raw revenue"
    full_ms, _ = timed(raw_figures, repeat=3)
    results["figures_90d_raw_ms"] = round(full_ms, 1)
    log(f"all figures by day, 90 days, raw aggregation (bucket_figures): {full_ms:.1f} ms")
    results["snapshot_speedup_x"] = round(raw_ms / ms, 1)

    day = date_range_bounds(market, to_date - timedelta(days=1), to_date - timedelta(days=1))
    plans = [
        explain(from_snapshots, "revenue by day, 90 days, from snapshots"),
        explain(raw_revenue, "revenue by day, 90 days, raw aggregation"),
        explain(
            lambda: period_figures(market=market, start=day.start, end=day.end),
            "one day's figures (period_figures: orders, then items)",
        ),
        explain(raw_figures, "all figures by day, 90 days (bucket_figures)"),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        results["postgres"] = cursor.fetchone()[0].split(",")[0]
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "analytics_plans.txt").write_text("\n\n".join(plans) + "\n")
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    (RESULTS_DIR / "analytics.json").write_text(json.dumps(results, indent=2) + "\n")
    log("plans: bench/results/analytics_plans.txt; figures: bench/results/analytics.json")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reseed", action="store_true", help="Regenerate the orders.")
    parser.add_argument(
        "--all-periods", action="store_true", help="Also backfill hourly, weekly, monthly."
    )
    args = parser.parse_args(argv)
    prepare_database(args.db_url, log=log)
    results = run(args)
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    target = results["revenue_90d_from_snapshots_ms"] < 50
    print(f"target: dashboard read from snapshots < 50 ms: {'met' if target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
