#!/usr/bin/env python
"""Catalogue benchmark (issues 5 and 14): MARQUE's half of shared/peer-bench/side_by_side.sh.

    .venv/bin/python bench/catalogue.py                       # seed if needed, then measure
    .venv/bin/python bench/catalogue.py --cache off           # the SQL path only
    .venv/bin/python bench/catalogue.py --products 100000     # growth: same shape, 10x larger
    .venv/bin/python bench/catalogue.py --explain             # EXPLAIN every statement, no load
    .venv/bin/python bench/catalogue.py --help

What one run does:

1. Creates (if missing) the dedicated PostgreSQL database `marque_catalogue_bench`
   on 127.0.0.1 (not side_by_side.sh's `marque_bench`), migrates it and seeds the
   peer-comparable catalogue with `manage.py seed_bench` (5 categories x 10
   subcategories, N KG products x 4 SKUs + 1 KG price). It reseeds when the
   counts differ from --products; otherwise it rebuilds the read model with the
   current code.
2. Starts gunicorn as side_by_side.sh does (`main.wsgi:application`, 2 sync
   workers, no CPU pinning, production settings; `--cache off`:
   bench.settings_nocache) on a free 127.0.0.1 port.
3. For each endpoint (trivial /healthz, list, detail, categories, facets, the
   filtered list): 5 idle sequential requests, a 3 s `wrk -t2 -c16` warm-up,
   3 x 10 s measured runs with a drain after each; the median run is reported.
   Headers `X-Market: KG` and `X-Forwarded-Proto: https` on every request.
4. Prints a markdown table (median req/s, p50/p99 of the median run, ratio to
   the trivial endpoint) and writes bench/results/latest.json (--output).
5. Stops gunicorn by its PID, whatever happened.

`--explain` replaces steps 2-5: each endpoint is requested in-process (Django test
Client, same settings and headers), every SQL statement of the second request is
captured and run again under EXPLAIN (ANALYZE, BUFFERS), and the plans go to
bench/results/explain-<products>.md.

Needs: PostgreSQL and Redis on 127.0.0.1 and `wrk` (Debian: `apt-get install -y wrk`).
Not part of `make test`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LUA_REPORT = BENCH_DIR / "wrk_report.lua"

HOST = "127.0.0.1"  # the only host this script ever talks HTTP to
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/marque_catalogue_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
CACHE_KEY_PREFIX = "marque"  # base settings' KEY_PREFIX for the Redis cache
MARKET = "KG"
# What side_by_side.sh sends: the market, and the TLS proxy production settings expect.
HEADERS = {"X-Market": MARKET, "X-Forwarded-Proto": "https"}
# --cache on: the production settings as they are (Redis cache, hot path after the
# first request); off: the same with a dummy cache, so every request hits PostgreSQL.
SETTINGS_BY_CACHE_MODE = {
    "on": "main.settings.production",
    "off": "bench.settings_nocache",
    # Response bodies never cached (CATALOGUE_CACHE_SECONDS=0); the catalogue version and the
    # memoised list totals stay in Redis, as in production: what a cache miss costs there.
    "bodies-off": "main.settings.production",
}
ENV_BY_CACHE_MODE = {"bodies-off": {"CATALOGUE_CACHE_SECONDS": "0"}}

# side_by_side.sh's protocol (peer-bench oscar/run_bench.sh). Anything else is a smoke test.
STANDARD = {"runs": 3, "seconds": 10, "warmup": 3, "threads": 2, "connections": 16, "workers": 2}
WRK_TIMEOUT_S = 2
IDLE_REQUESTS = 5
STATEMENT_TIMEOUT_MS = 300_000  # this process's own SQL (seeding, EXPLAIN), never the server's

# The catalogue seed_bench writes (the peer's 10,000 parents x 4 variants, 5 x 10 categories).
CATEGORIES, SUBCATEGORIES, SKUS_PER_PRODUCT = 5, 50, 4
ENDPOINTS = ("trivial", "list", "detail", "categories", "facets", "filtered")
# A Seq Scan on these, at catalogue size, means a request reads the whole catalogue. Every
# read-model table (products_listing, products_listingfacet, …) is watched by its prefix.
WATCHED_TABLES = ("products_product", "products_sku", "products_productprice")
WATCHED_PREFIX = "products_listing"
WATCHED_TEXT = ", ".join(WATCHED_TABLES) + f", {WATCHED_PREFIX}*"


def is_watched(table: str) -> bool:
    return table in WATCHED_TABLES or table.startswith(WATCHED_PREFIX)


# Never seed, migrate or drop anything in these: they belong to development, tests,
# and shared/peer-bench/side_by_side.sh (which drops and recreates marque_bench).
FORBIDDEN_DB_NAMES = {"marque", "marque_bench", "postgres", "template0", "template1", "root"}

WRK_MISSING = (
    "wrk is not installed. On Debian/Ubuntu: `sudo apt-get install -y wrk` "
    "(as root: `apt-get install -y wrk`); on macOS: `brew install wrk`. Then run again."
)


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A problem the user can fix (missing tool, refused database…): printed, exit 2."""


# --------------------------------------------------------------------------- database


def check_db_url(db_url: str) -> str:
    parts = urlsplit(db_url)
    name = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise BenchError(f"The bench needs PostgreSQL, got {parts.scheme!r}.")
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise BenchError(f"The bench database must be local (127.0.0.1), got {parts.hostname!r}.")
    if not name or name in FORBIDDEN_DB_NAMES or name.startswith("test") or "bench" not in name:
        raise BenchError(
            f"Refusing database {name!r}: use a dedicated database whose name contains "
            "'bench' (default marque_catalogue_bench); never marque, test_*, postgres, or "
            "marque_bench (side_by_side.sh drops and recreates that one)."
        )
    return name


def _maintenance_connection(db_url: str):
    """An autocommit connection to the server's `postgres` database (to create or drop ours)."""
    import psycopg2

    parts = urlsplit(db_url)
    try:
        conn = psycopg2.connect(
            dbname="postgres",
            user=parts.username or "postgres",
            password=parts.password,
            host=parts.hostname,
            port=parts.port or 5432,
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        raise BenchError(
            f"Cannot reach PostgreSQL at {parts.hostname}:{parts.port}: {exc}"
        ) from exc
    conn.autocommit = True
    return conn


def ensure_database(db_url: str) -> bool:
    """Create the bench database if missing. Returns True when it was created."""
    from psycopg2 import sql

    name = check_db_url(db_url)
    conn = _maintenance_connection(db_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def recreate_database(db_url: str) -> None:
    """DROP (forcing out leftover sessions of an earlier run) and CREATE the bench database."""
    from psycopg2 import sql

    ident = sql.Identifier(check_db_url(db_url))
    conn = _maintenance_connection(db_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    finally:
        conn.close()


def django_env(db_url: str, redis_url: str) -> dict[str, str]:
    """The environment gunicorn (and this process) runs Django with, as side_by_side.sh's."""
    static_root = RESULTS_DIR / "staticfiles"  # empty: keeps WhiteNoise from warning
    static_root.mkdir(parents=True, exist_ok=True)
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return {
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(64)),
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "CORS_ALLOWED_ORIGINS": "http://localhost:3000",
        # Production refuses the console backend; Twilio is never called by these endpoints.
        "SMS_BACKEND": "users.sms.TwilioBackend",
        "DEBUG": "False",
        "STATIC_ROOT": str(static_root),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def setup_django(env: dict[str, str], settings_module: str) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()

    from django.db.backends.signals import connection_created

    def bounded(sender, connection, **kwargs):  # this process only: gunicorn is unchanged
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")

    connection_created.connect(bounded, weak=False)


def dataset_counts() -> dict[str, int]:
    from products.models import (
        SKU,
        Category,
        Product,
        ProductFeature,
        ProductImage,
        ProductPrice,
        Subcategory,
    )

    return {
        "categories": Category.objects.count(),
        "subcategories": Subcategory.objects.count(),
        "products": Product.objects.count(),
        "skus": SKU.objects.count(),
        "prices": ProductPrice.objects.count(),
        "images": ProductImage.objects.count(),
        "features": ProductFeature.objects.count(),
    }


def expected_counts(n_products: int) -> dict[str, int]:
    return {
        "categories": CATEGORIES,
        "subcategories": SUBCATEGORIES,
        "products": n_products,
        "skus": n_products * SKUS_PER_PRODUCT,
        "prices": n_products,
        "images": 0,
        "features": 0,
    }


def listing_count() -> int | None:
    """Rows of the catalogue's read model, when the project has one."""
    from django.apps import apps

    try:
        return apps.get_model("products", "Listing").objects.count()
    except LookupError:
        return None


def refresh_read_model() -> int:
    """Rebuild the read model with the code under test (seeding was skipped)."""
    from demo.management.commands.seed_bench import refresh_planner_statistics
    from django.db import transaction
    from products.services.listing import listing_rebuild

    with transaction.atomic():
        rows = listing_rebuild()
    refresh_planner_statistics()
    return rows


def prepare_database(db_url: str, n_products: int, reseed: bool, rebuild: bool = True) -> dict:
    """Create, migrate and (if needed) seed. Returns timings and counts for the report."""
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connections

    started = time.monotonic()
    created = ensure_database(db_url)
    log(f"database {check_db_url(db_url)}: {'created' if created else 'exists'}")
    call_command("migrate", interactive=False, verbosity=0)
    migrated = time.monotonic()
    log(f"migrated in {migrated - started:.1f}s")

    want = expected_counts(n_products)
    have = dataset_counts()
    seeded, seed_output, listing_rows = False, None, None
    if reseed or have != want:
        wipe = any(have.values())
        log(
            f"{'reseeding' if wipe else 'seeding'} {n_products} products with manage.py seed_bench"
            + (f" (found {have})" if wipe and not reseed else "")
        )
        out = StringIO()
        try:
            call_command("seed_bench", products=n_products, reseed=wipe, stdout=out)
        except CommandError as exc:
            raise BenchError(f"seed_bench: {exc}") from exc
        seed_output = out.getvalue().strip().splitlines()[-1]
        log(seed_output)
        seeded = True
        have = dataset_counts()
        if have != want:
            raise BenchError(f"Seeding produced {have}, expected {want}.")
    elif rebuild:
        rebuild_started = time.monotonic()
        listing_rows = refresh_read_model()
        log(
            f"catalogue already seeded; read model rebuilt with the current code: "
            f"{listing_rows} rows in {time.monotonic() - rebuild_started:.1f}s"
        )
    else:
        log("catalogue already seeded; read model kept as it is (--keep-read-model)")
    seed_seconds = time.monotonic() - migrated
    counts = {**have, "listings": listing_count()}
    connections.close_all()
    return {
        "created_database": created,
        "migrate_seconds": round(migrated - started, 2),
        "seeded": seeded,
        "read_model_rebuilt": seeded or rebuild,
        "seed_output": seed_output,
        "seed_seconds": round(seed_seconds, 2),
        "counts": counts,
    }


def endpoint_paths() -> dict[str, str]:
    """The measured paths, with the detail slug and category slug side_by_side.sh would pick."""
    from django.db import connections
    from main.markets import CatalogMarket
    from products.models import Category, Product, ProductPrice

    # peer-bench marque/probe.py's rule: the first product by pk a KG customer can see.
    slug = (
        Product.objects.filter(
            market__in=[MARKET, CatalogMarket.ALL],
            is_active=True,
            pk__in=ProductPrice.objects.filter(market=MARKET).values("product_id"),
        )
        .order_by("pk")
        .values_list("slug", flat=True)
        .first()
    )
    category = Category.objects.order_by("sort_order", "pk").values_list("slug", flat=True).first()
    connections.close_all()
    if not slug or not category:
        raise BenchError(f"No product is visible in {MARKET}, or no category: seeding went wrong.")
    return {
        "trivial": "/healthz",
        "list": "/api/v1/products/?page_size=20",
        "detail": f"/api/v1/products/{slug}/",
        "categories": "/api/v1/categories/",
        "facets": "/api/v1/products/facets/",
        "filtered": f"/api/v1/products/?page_size=20&category={category}&size=M",
    }


def clear_cache(redis_url: str) -> int:
    """Drop the production-prefixed cache keys of the bench Redis database (only those)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{CACHE_KEY_PREFIX}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    except redis.RedisError as exc:
        raise BenchError(f"Cannot reach Redis at {redis_url}: {exc}") from exc
    finally:
        client.close()


# --------------------------------------------------------------------------- explain


def _explainable(sql: str) -> bool:
    words = sql.lstrip(" (\n\t").split(None, 1)
    return bool(words) and words[0].upper() in ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")


def explain_statement(sql: str, params) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) one captured statement; anything it writes is rolled back."""
    from django.db import connection, transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            plan = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    text = "\n".join(plan)
    scanned = sorted(set(re.findall(r"Seq Scan on (\w+)", text)))
    timing = re.search(r"Execution Time: ([\d.]+) ms", text)
    return {
        "plan": text,
        "seq_scans": scanned,
        "watched_seq_scans": [table for table in scanned if is_watched(table)],
        "execution_ms": float(timing.group(1)) if timing else None,
    }


def capture_request(client, path: str) -> tuple[int | None, list[dict], str | None]:
    """The second of two identical GETs: its status and every SQL statement it ran."""
    from django.db import connection

    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in HEADERS.items()}
    statements: list[dict] = []

    # connection.queries is reset on request_started; an execute wrapper sees everything.
    def capture(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        shown = connection.ops.last_executed_query(context["cursor"], sql, params)
        statements.append({"sql": sql, "params": params, "many": many, "shown": shown})
        return result

    try:
        client.get(path, **extra)  # warm-up: per-process caches, as count_queries.py does
        with connection.execute_wrapper(capture):
            response = client.get(path, **extra)
    except Exception as exc:  # the view raised: reported, the other endpoints still run
        return None, statements, f"{type(exc).__name__}: {exc}"
    return response.status_code, statements, None


def run_explain(endpoints: list[tuple[str, str]], args, settings_module: str, database: dict):
    """--explain: plans of every statement of every endpoint; returns (errors, summary)."""
    from django.db import connections
    from django.test import Client

    if args.cache == "on":
        log(f"cleared {clear_cache(args.redis_url)} cached keys before the in-process requests")
    client = Client(HTTP_HOST=HOST)
    products = database["counts"]["products"]
    out_path = args.explain_output or RESULTS_DIR / f"explain-{products}.md"
    watched = WATCHED_TEXT
    lines = [
        f"# EXPLAIN (ANALYZE, BUFFERS) of the catalogue endpoints, {products} products",
        "",
        f"- measured: {datetime.now(UTC).isoformat(timespec='seconds')}, git {git_commit()}",
        f"- database: {check_db_url(args.db_url)}, counts {database['counts']}",
        f"- settings: {settings_module}; headers: "
        + ", ".join(f"{k}: {v}" for k, v in HEADERS.items()),
        "- method: Django test Client in-process; the second of two identical requests is "
        "captured with connection.execute_wrapper, then each statement is run again under "
        "EXPLAIN (ANALYZE, BUFFERS) in a transaction that is rolled back.",
        f"- flagged: a `Seq Scan` on {watched}. On a catalogue of a few hundred rows a Seq "
        "Scan is the planner's right choice; judge plans at 10,000 and 100,000 products.",
        "",
    ]
    errors: list[str] = []
    summary = {"endpoints": [], "statements": 0, "explained": 0, "watched_seq_scans": 0}
    for name, path in endpoints:
        status, statements, error = capture_request(client, path)
        head = f"{name} {path}: HTTP {status}, {len(statements)} SQL statements"
        log(head + (f", error {error}" if error else ""))
        lines += [f"## {name}: `{path}`", "", f"HTTP {status}, {len(statements)} statements.", ""]
        if error or status != 200:
            errors.append(f"{name} {path}: {error or f'HTTP {status}'}")
            lines += [f"**Error**: {error or f'HTTP {status}, not 200'}", ""]
        row = {"endpoint": name, "path": path, "status": status, "statements": []}
        for number, statement in enumerate(statements, 1):
            first_line = " ".join(statement["shown"].split())[:110]
            entry = {"sql": statement["shown"]}
            summary["statements"] += 1
            if statement["many"] or not _explainable(statement["sql"]):
                entry["explained"] = False
                print(f"[explain] {name:<10} #{number:<2} not explained          {first_line}")
                lines += [f"### {number}. not explained", "", "```sql", statement["shown"], "```"]
                row["statements"].append(entry)
                continue
            try:
                result = explain_statement(statement["sql"], statement["params"])
            except Exception as exc:  # a plan we could not get is an error of this run
                errors.append(f"{name} #{number}: EXPLAIN failed: {exc}")
                print(f"[explain] {name:<10} #{number:<2} EXPLAIN FAILED: {exc}")
                lines += [f"### {number}. EXPLAIN failed: {exc}", "", "```sql"]
                lines += [statement["shown"], "```", ""]
                continue
            summary["explained"] += 1
            flagged = result["watched_seq_scans"]
            summary["watched_seq_scans"] += bool(flagged)
            verdict = f"Seq Scan on {', '.join(flagged)}" if flagged else "no Seq Scan"
            others = [table for table in result["seq_scans"] if table not in flagged]
            ms = result["execution_ms"]
            timing = f"{ms:.2f} ms" if ms is not None else "? ms"
            print(f"[explain] {name:<10} #{number:<2} {verdict:<28} {timing:>10}  {first_line}")
            row["statements"].append({**entry, "explained": True, **result})
            lines += [
                f"### {number}. {verdict}, {timing}"
                + (f" (also a Seq Scan on {', '.join(others)})" if others else ""),
                "",
                "```sql",
                statement["shown"],
                "```",
                "",
                "```",
                result["plan"],
                "```",
                "",
            ]
        summary["endpoints"].append(row)
    connections.close_all()
    total = (
        f"{summary['statements']} SQL statements on {len(endpoints)} endpoint(s), "
        f"{summary['explained']} explained; {summary['watched_seq_scans']} with a Seq Scan "
        f"on {watched}"
    )
    lines[2:2] = [f"- totals: {total}"]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(lines) + "\n")
    print(f"[explain] totals: {total}")
    print(f"[explain] plans: {shown_path(out_path)}")
    return errors, {**summary, "file": str(shown_path(out_path))}


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def get(port: int, path: str, timeout: float = 60.0) -> tuple[int, bytes, dict]:
    """One GET to 127.0.0.1 (no proxy, whatever the environment says)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={**HEADERS, "Host": HOST})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def start_gunicorn(port: int, workers: int, env: dict, log_path: Path):
    """gunicorn as side_by_side.sh starts it: no config file, sync workers, no pinning."""
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        raise BenchError(f"{gunicorn} not found: install requirements.txt into the venv.")
    cmd = [
        str(gunicorn),
        "main.wsgi:application",
        "--chdir", str(BASE_DIR),
        "--workers", str(workers),
        "--worker-class", "sync",
        "--bind", f"{HOST}:{port}",
        "--error-logfile", str(log_path),
        "--log-level", "warning",
    ]  # fmt: skip
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        cmd,
        cwd=BASE_DIR,
        env={**os.environ, **env},
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches this script, which then stops gunicorn itself
    )
    log_file.close()
    return process, cmd


def wait_healthy(process, port: int, log_path: Path, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise BenchError(f"gunicorn exited with {process.returncode}:\n{tail}")
        try:
            status, _, _ = get(port, "/healthz", timeout=2)
            if status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer /healthz within {timeout:.0f}s (see {log_path}).")


def stop_gunicorn(process) -> None:
    if process is None or process.poll() is not None:
        return
    log(f"stopping gunicorn (pid {process.pid})")
    process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# --------------------------------------------------------------------------- load


def run_wrk(port: int, path: str, seconds: int, args, report: bool = True):
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        f"--timeout={WRK_TIMEOUT_S}s",
        *(["--latency", "-s", str(LUA_REPORT)] if report else []),
        *[part for name, value in HEADERS.items() for part in ("-H", f"{name}: {value}")],
        f"http://{HOST}:{port}{path}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr.strip()}")
    if not report:
        return None, cmd
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON ")), cmd
    raise BenchError(f"wrk printed no report:\n{result.stdout}\n{result.stderr}")


def drain(port: int, trivial: str, pause_s: int) -> None:
    """side_by_side.sh's drain: requests still queued in gunicorn's backlog when wrk
    stops are served before a trivial request; then one idle request time for the
    other worker's last request."""
    with contextlib.suppress(OSError):
        get(port, trivial, timeout=120)
    time.sleep(pause_s)


def measure(name: str, path: str, port: int, args, trivial: str) -> dict:
    row = {"endpoint": name, "path": path}
    try:
        status, body, headers = get(port, path)
    except OSError as exc:
        row.update(available=False, status=None, note=f"request failed: {exc}")
        return row
    row.update(status=status, response_bytes=len(body))
    if status != 200:
        row.update(available=False, note=f"not available (status {status})")
        return row
    row["cache_control"] = headers.get("Cache-Control")
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and isinstance(payload.get("results"), list):
            row.update(count=payload.get("count"), results_on_page=len(payload["results"]))
    except ValueError:
        pass

    idle = []
    for _ in range(IDLE_REQUESTS):  # on an idle server, one at a time
        started = time.perf_counter()
        get(port, path)
        idle.append(time.perf_counter() - started)
    idle_s = statistics.median(idle)
    pause_s = int(idle_s) + 1
    if args.warmup > 0:
        run_wrk(port, path, args.warmup, args, report=False)
        drain(port, trivial, pause_s)

    runs = []
    for number in range(1, args.runs + 1):
        report, cmd = run_wrk(port, path, args.seconds, args)
        seconds = report["duration_us"] / 1e6
        errors = report["errors"]
        runs.append(
            {
                "rps": round(report["requests"] / seconds, 1) if seconds else 0.0,
                "requests": int(report["requests"]),
                "seconds": round(seconds, 2),
                "p50_ms": round(report["latency_us"]["p50"] / 1000, 2),
                "p90_ms": round(report["latency_us"]["p90"] / 1000, 2),
                "p99_ms": round(report["latency_us"]["p99"] / 1000, 2),
                "max_ms": round(report["latency_us"]["max"] / 1000, 2),
                "non_2xx": int(errors["status"]),
                "timeouts": int(errors["timeout"]),
                "socket_errors": int(errors["connect"] + errors["read"] + errors["write"]),
            }
        )
        log(f"  run {number}: {runs[-1]['rps']} req/s")
        drain(port, trivial, pause_s)

    # As peer-bench summarize.py: median req/s; p50/p99 of the run with the median req/s.
    middle = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
    row.update(
        available=True,
        rps=round(statistics.median(run["rps"] for run in runs), 1),
        p50_ms=middle["p50_ms"],
        p99_ms=middle["p99_ms"],
        idle_ms=round(idle_s * 1000, 1),
        non_2xx=sum(run["non_2xx"] for run in runs),
        timeouts=sum(run["timeouts"] for run in runs),
        socket_errors=sum(run["socket_errors"] for run in runs),
        runs=runs,
        wrk_command=shlex.join(cmd),
    )
    problems = [f"{row[k]} {k.replace('_', ' ')}" for k in ("non_2xx", "timeouts") if row[k]]
    if problems:
        row["note"] = ", ".join(problems) + " during the runs: req/s not comparable"
    return row


# --------------------------------------------------------------------------- report


def print_table(rows: list[dict], protocol: str) -> None:
    print()
    print(f"Protocol: {protocol}")
    print()
    print(
        "| cache | endpoint | path | req/s (median) | p50 ms | p99 ms | vs trivial "
        "| runs req/s | 1 idle req ms | note |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|---:|---|")
    for row in rows:
        lead = f"| {row['cache']} | {row['endpoint']} | `{row['path']}` "
        if not row.get("available"):
            print(f"{lead}| | | | | | | {row.get('note', 'not available')} |")
            continue
        ratio = row.get("ratio_vs_trivial")
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "n/a"
        runs = " / ".join(f"{run['rps']:.1f}" for run in row["runs"])
        print(
            f"{lead}| **{row['rps']:.1f}** | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| {ratio_text} | {runs} | {row['idle_ms']:.1f} | {row.get('note', '')} |"
        )
    print()
    if any(r["endpoint"] == "trivial" and not r.get("available") for r in rows):
        print("The trivial endpoint did not answer 200: no ratios for that pass.")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=BASE_DIR, capture_output=True, text=True
        )
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except OSError:
        return None


def shown_path(path: Path) -> Path:
    return path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path


def python_shown() -> str:
    return shown_path(Path(sys.executable)).as_posix()


def parse_endpoints(values: list[str] | None) -> list[str]:
    if not values:
        return list(ENDPOINTS)
    chosen = {name.strip() for value in values for name in value.split(",") if name.strip()}
    unknown = chosen - set(ENDPOINTS)
    if unknown:
        raise BenchError(
            f"Unknown endpoint(s) {', '.join(sorted(unknown))}; choose from {', '.join(ENDPOINTS)}."
        )
    return [name for name in ENDPOINTS if name in chosen]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"Standard protocol: {STANDARD}; anything else is marked non-standard.",
    )
    parser.add_argument(
        "--db-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL),
        help=f"dedicated bench database (default {DEFAULT_DB_URL}; env BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help=f"Redis for the cache (default {DEFAULT_REDIS_URL}; env BENCH_REDIS_URL)",
    )
    parser.add_argument(
        "--products",
        type=int,
        default=10_000,
        help="catalogue size (10000, as side_by_side.sh); reseeds when the database differs",
    )
    parser.add_argument("--reseed", action="store_true", help="empty the catalogue and seed again")
    parser.add_argument("--seed-only", action="store_true", help="prepare the database and stop")
    parser.add_argument(
        "--keep-read-model",
        action="store_true",
        help="when seeding is skipped, keep the read model as it is instead of rebuilding it "
        "(saves 15-45 s at 100,000 products; only if the listing code has not changed since)",
    )
    parser.add_argument(
        "--endpoints",
        action="append",
        metavar="NAMES",
        help=f"comma-separated subset of {','.join(ENDPOINTS)} (repeatable; default all). "
        "Load runs always measure trivial too: the ratios and the drain need it.",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="instead of the load runs: EXPLAIN (ANALYZE, BUFFERS) every SQL statement of "
        "each endpoint (in-process), plans to bench/results/explain-<products>.md",
    )
    parser.add_argument("--explain-output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--cache",
        choices=("on", "off", "bodies-off", "both"),
        default="both",
        help="server-side cache: on (production), off (bench.settings_nocache), bodies-off "
        "(production with CATALOGUE_CACHE_SECONDS=0: no response cached, list totals memoised), "
        "both (on and off; default). --explain uses the off settings unless --cache on",
    )
    parser.add_argument(
        "--seconds",
        "--duration",
        dest="seconds",
        type=int,
        default=STANDARD["seconds"],
        help="seconds per measured run (10)",
    )
    parser.add_argument(
        "--runs", type=int, default=STANDARD["runs"], help="measured runs per endpoint (3)"
    )
    parser.add_argument(
        "--warmup", type=int, default=STANDARD["warmup"], help="warm-up seconds per endpoint (3)"
    )
    parser.add_argument("--threads", type=int, default=STANDARD["threads"], help="wrk threads (2)")
    parser.add_argument(
        "--connections", type=int, default=STANDARD["connections"], help="wrk connections (16)"
    )
    parser.add_argument(
        "--workers", type=int, default=STANDARD["workers"], help="gunicorn sync workers (2)"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="PATH",
        help="another GET path to measure, e.g. /api/v1/products/?ordering=price (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args(argv)
    if args.products < 1 or args.runs < 1 or args.seconds < 1 or args.warmup < 0:
        parser.error("--products, --runs and --seconds must be at least 1, --warmup at least 0")
    return args


def protocol_text(args) -> tuple[str, bool]:
    used = {key: getattr(args, key) for key in STANDARD}
    standard = used == STANDARD
    text = (
        f"gunicorn main.wsgi:application, {args.workers} sync workers, no CPU pinning; "
        f"wrk -t{args.threads} -c{args.connections} --timeout {WRK_TIMEOUT_S}s, "
        f"{IDLE_REQUESTS} idle requests, warm-up {args.warmup}s, {args.runs} x {args.seconds}s, "
        "drain after each run, median; headers "
        + ", ".join(f"{k}: {v}" for k, v in HEADERS.items())
        + (
            " (standard: side_by_side.sh's protocol)"
            if standard
            else " (NON-STANDARD (smoke test): not comparable with other results)"
        )
    )
    return text, standard


def main(argv=None) -> int:
    args = parse_args(argv)
    run_started = time.monotonic()
    check_db_url(args.db_url)
    if urlsplit(args.redis_url).hostname not in ("127.0.0.1", "localhost"):
        raise BenchError("The bench Redis must be local (127.0.0.1).")
    for path in args.extra:  # paths only: the host is always 127.0.0.1
        if not path.startswith("/") or path.startswith("//") or any(c in path for c in "@ \\"):
            raise BenchError(f"--extra takes a path such as /api/v1/products/facets/, got {path!r}")
    names = parse_endpoints(args.endpoints)
    load = not (args.seed_only or args.explain)
    if load and not shutil.which("wrk"):
        raise BenchError(WRK_MISSING)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)

    env = django_env(args.db_url, args.redis_url)
    in_process = SETTINGS_BY_CACHE_MODE["on" if args.cache == "on" else "off"]
    setup_django(env, in_process)
    database = prepare_database(
        args.db_url, args.products, args.reseed, rebuild=not args.keep_read_model
    )
    if args.seed_only:
        return 0
    paths = endpoint_paths()

    if args.explain:
        chosen = [(name, paths[name]) for name in names]
        chosen += [("extra", path) for path in args.extra]
        errors, _ = run_explain(chosen, args, in_process, database)
        for error in errors:
            log(f"error: {error}")
        return 1 if errors else 0

    if "trivial" not in names:
        log("measuring trivial too: the ratios and the drain need it")
        names.insert(0, "trivial")
    endpoints = [(name, paths[name]) for name in names]
    endpoints += [("extra", path) for path in args.extra]
    protocol, standard = protocol_text(args)
    if not standard:
        log(f"NON-STANDARD protocol (smoke test), not comparable: {protocol}")
    load_before = os.getloadavg()
    if load_before[0] > 1.0:
        log(
            f"warning: load average {load_before[0]:.2f} before the run; other work on this "
            "machine makes the figures noisy"
        )
    modes = ["on", "off"] if args.cache == "both" else [args.cache]
    rows: list[dict] = []
    servers: list[dict] = []
    for mode in modes:
        settings_module = SETTINGS_BY_CACHE_MODE[mode]
        if mode in ("on", "bodies-off"):
            dropped = clear_cache(args.redis_url)
            log(f"cleared {dropped} cached keys ({CACHE_KEY_PREFIX}:*) in {args.redis_url}")
        port = free_port()
        log_path = RESULTS_DIR / f"gunicorn-cache-{mode}.log"
        log_path.write_text("")
        server_env = {
            **env,
            "DJANGO_SETTINGS_MODULE": settings_module,
            **ENV_BY_CACHE_MODE.get(mode, {}),
        }
        process = None
        mode_rows = []
        try:
            process, gunicorn_cmd = start_gunicorn(port, args.workers, server_env, log_path)
            boot = wait_healthy(process, port, log_path)
            log(
                f"cache {mode}: gunicorn pid {process.pid} on {HOST}:{port} ({settings_module}), "
                f"{args.workers} sync workers, healthy after {boot:.1f}s"
            )
            servers.append(
                {"cache": mode, "settings": settings_module, "command": shlex.join(gunicorn_cmd)}
            )
            for name, path in endpoints:
                log(f"cache {mode}: {name} {path}")
                mode_rows.append(
                    {"cache": mode, **measure(name, path, port, args, paths["trivial"])}
                )
        finally:
            stop_gunicorn(process)
        base = next(
            (r for r in mode_rows if r["endpoint"] == "trivial" and r.get("available")), None
        )
        for row in mode_rows:
            if row.get("available") and base and base["rps"]:
                row["ratio_vs_trivial"] = round(row["rps"] / base["rps"], 3)
        rows.extend(mode_rows)

    total = time.monotonic() - run_started
    print_table(rows, protocol)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_commit(),
        "command": " ".join([python_shown(), *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "server": {"workers": args.workers, "pinning": "none (as side_by_side.sh)"},
        "servers": servers,
        "protocol": {
            "standard": standard,
            "text": protocol,
            "tool": "wrk",
            "threads": args.threads,
            "connections": args.connections,
            "runs": args.runs,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "wrk_timeout_s": WRK_TIMEOUT_S,
            "idle_requests": IDLE_REQUESTS,
            "headers": HEADERS,
        },
        "database": {"url": args.db_url, **database},
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "endpoints": dict(endpoints),
        "total_seconds": round(total, 1),
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {shown_path(args.output)}; whole run {total:.1f}s")
    unavailable = [f"{r['cache']} {r['path']}" for r in rows if not r.get("available")]
    for row in unavailable:
        log(f"error: {row} did not answer 200")
    return 1 if unavailable else 0


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through every `finally`: gunicorn is stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
