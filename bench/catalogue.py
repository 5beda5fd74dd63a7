#!/usr/bin/env python
"""Catalogue benchmark (issue 5, "Performance"): throughput and latency of the
catalogue endpoints against a trivial endpoint, served the production way.

    .venv/bin/python bench/catalogue.py            # seed if needed, then measure
    .venv/bin/python bench/catalogue.py --seed-only
    .venv/bin/python bench/catalogue.py --help

What it does, in one run:

1. Creates (if missing) the dedicated PostgreSQL database `marque_bench` on
   127.0.0.1, migrates it and seeds 10,000 products x 6 SKUs x 2 market prices
   (KG and US; every product is an ALL-market product) with bulk_create.
   Seeding is skipped when the counts are already right.
2. Starts gunicorn (`main.wsgi`, `main.settings.production`, DEBUG off,
   PostgreSQL, Redis cache) on a free 127.0.0.1 port, pinned to CPU 0.
3. Drives each endpoint with `wrk` pinned to CPU 1 (warm-up, then a measured
   run), header `X-Market: KG`.
4. Prints req/s, p50 and p99 latency and the req/s ratio against the trivial
   `/api/v1/markets/`; writes bench/results/latest.json.
5. Stops gunicorn by its PID, whatever happened.

Needs: PostgreSQL and Redis on 127.0.0.1, `wrk` (Debian: `apt-get install -y wrk`)
and `taskset` (util-linux). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import secrets
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LUA_REPORT = BENCH_DIR / "wrk_report.lua"

HOST = "127.0.0.1"  # the only host this script ever talks HTTP to
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/marque_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
CACHE_KEY_PREFIX = "marque"  # base settings' KEY_PREFIX for the Redis cache
MARKET = "KG"
# --cache on: the production settings as they are (Redis cache, hot path after the
# first request); off: the same with a dummy cache, so every request hits PostgreSQL.
SETTINGS_BY_CACHE_MODE = {"on": "main.settings.production", "off": "bench.settings_nocache"}

SLUG_PREFIX = "bench-"
SKUS_PER_PRODUCT = 6  # 3 sizes x 2 colours
SIZES = ("S", "M", "L")
COLOURS = (
    ("Black", "#1C1C1E"),
    ("White", "#F4F4F2"),
    ("Navy", "#1F2A44"),
    ("Beige", "#D8C3A5"),
    ("Olive", "#6B7B3A"),
    ("Burgundy", "#7B1E3A"),
)
BRANDS = (
    "Aral",
    "Tengri",
    "Issyk",
    "Ala-Too",
    "Naryn",
    "Chui",
    "Talas",
    "Osh",
    "Hudson",
    "Mercer",
    "Brooklyn Loom",
    "Canal & Co",
    "Bowery",
    "Elm Street",
    "North Fork",
    "Pine Row",
    "Saltmarsh",
    "Greyhound",
    "Oakline",
    "Marque Basics",
)
CATEGORIES = {
    "Women": ("Dresses", "Tops", "Knitwear", "Trousers", "Outerwear"),
    "Men": ("Shirts", "T-shirts", "Jeans", "Jackets", "Suits"),
    "Kids": ("Girls", "Boys", "Baby"),
    "Shoes": ("Sneakers", "Boots", "Sandals", "Loafers"),
    "Bags": ("Totes", "Backpacks", "Crossbody"),
    "Accessories": ("Scarves", "Belts", "Hats", "Jewellery"),
    "Sport": ("Running", "Yoga", "Outdoor"),
    "Home": ("Bedding", "Towels"),
}
NOUNS = (
    "shirt",
    "dress",
    "coat",
    "sweater",
    "jacket",
    "skirt",
    "trousers",
    "blazer",
    "cardigan",
    "hoodie",
    "parka",
    "blouse",
    "jumpsuit",
    "vest",
    "tunic",
)
ADJECTIVES = (
    "linen",
    "cotton",
    "wool",
    "cashmere",
    "denim",
    "silk",
    "oversized",
    "slim",
    "relaxed",
    "cropped",
    "pleated",
    "quilted",
    "ribbed",
    "classic",
)

# Never seed, migrate or drop anything in these: they belong to development and tests.
FORBIDDEN_DB_NAMES = {"marque", "postgres", "template0", "template1", "root", "test"}

WRK_MISSING = (
    "wrk is not installed. On Debian/Ubuntu: `sudo apt-get install -y wrk` "
    "(as root: `apt-get install -y wrk`); on macOS: `brew install wrk`. Then run again."
)


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


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
            "'bench' (default marque_bench); never marque, test_* or postgres."
        )
    return name


def ensure_database(db_url: str) -> bool:
    """Create the bench database if missing. Returns True when it was created."""
    import psycopg2
    from psycopg2 import sql

    name = check_db_url(db_url)
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
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def django_env(db_url: str, redis_url: str) -> dict[str, str]:
    """The environment gunicorn (and this process) runs Django with."""
    static_root = RESULTS_DIR / "staticfiles"  # empty: keeps WhiteNoise from warning
    static_root.mkdir(parents=True, exist_ok=True)
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return {
        "DJANGO_SETTINGS_MODULE": "main.settings.production",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(64)),
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "false",
        # Production refuses the console backend; Twilio is never called by these endpoints.
        "SMS_BACKEND": "users.sms.TwilioBackend",
        "DEBUG": "false",
        "STATIC_ROOT": str(static_root),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


def dataset_counts() -> dict[str, int]:
    from products.models import SKU, Category, Product, ProductImage, ProductPrice, Subcategory

    return {
        "categories": Category.objects.count(),
        "subcategories": Subcategory.objects.count(),
        "products": Product.objects.count(),
        "skus": SKU.objects.count(),
        "prices": ProductPrice.objects.count(),
        "images": ProductImage.objects.count(),
    }


def expected_counts(n_products: int) -> dict[str, int]:
    return {
        "categories": len(CATEGORIES),
        "subcategories": sum(len(subs) for subs in CATEGORIES.values()),
        "products": n_products,
        "skus": n_products * SKUS_PER_PRODUCT,
        "prices": n_products * 2,
        "images": n_products * 2,
    }


def wipe_catalogue() -> None:
    """Empty the catalogue tables of the (dedicated) bench database."""
    from django.db import connection
    from products.models import Category

    name = connection.settings_dict["NAME"]
    check_db_url(f"postgres://{HOST}/{name}")  # belt and braces: never another database
    with connection.cursor() as cursor:
        cursor.execute(f'TRUNCATE "{Category._meta.db_table}" CASCADE')


def seed(n_products: int, batch_size: int = 2000) -> None:
    from django.db import connection, transaction
    from main.markets import CatalogMarket, Market
    from products.models import (
        SKU,
        Category,
        Product,
        ProductFeature,
        ProductImage,
        ProductPrice,
        Subcategory,
    )

    rng = random.Random(20261124)  # same data on every machine
    with transaction.atomic():
        categories = Category.objects.bulk_create(
            Category(
                name=name,
                slug=f"{SLUG_PREFIX}{name.lower()}",
                market=CatalogMarket.ALL,
                image=f"categories/{SLUG_PREFIX}{name.lower()}.jpg",
                description=f"Everything {name.lower()}.",
                sort_order=index * 10,
            )
            for index, name in enumerate(CATEGORIES)
        )
        subcategories = Subcategory.objects.bulk_create(
            Subcategory(
                category=category,
                name=sub,
                slug=sub.lower().replace(" ", "-"),
                image=f"subcategories/{SLUG_PREFIX}{sub.lower().replace(' ', '-')}.jpg",
                sort_order=index * 10,
            )
            for category in categories
            for index, sub in enumerate(CATEGORIES[category.name])
        )

        products = []
        for i in range(1, n_products + 1):
            sub = subcategories[i % len(subcategories)]
            adjective, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
            brand = rng.choice(BRANDS)
            products.append(
                Product(
                    name=f"{adjective.title()} {noun} {i:05d}",
                    slug=f"{SLUG_PREFIX}product-{i:05d}",
                    description=(
                        f"A {adjective} {noun} by {brand}. Cut for everyday wear, "
                        f"made to last. Model {i:05d}."
                    ),
                    brand=brand,
                    category_id=sub.category_id,
                    subcategory=sub,
                    market=CatalogMarket.ALL,
                    main_image=f"products/{SLUG_PREFIX}{i:05d}.jpg",
                    is_featured=i % 25 == 0,
                    rating_avg=Decimal(rng.randint(300, 500)) / 100,
                    reviews_count=rng.randint(0, 300),
                    sales_count=rng.randint(0, 5000),
                )
            )
        products = Product.objects.bulk_create(products, batch_size=batch_size)

        skus, prices, images, features = [], [], [], []
        for product in products:
            number = product.slug.rsplit("-", 1)[1]
            first = rng.randrange(len(COLOURS))
            colours = (COLOURS[first], COLOURS[(first + 1) % len(COLOURS)])
            for size in SIZES:
                for colour, hex_code in colours:
                    roll = rng.random()
                    stock = (
                        0
                        if roll < 0.08
                        else rng.randint(1, 4)
                        if roll < 0.2
                        else rng.randint(5, 80)
                    )
                    skus.append(
                        SKU(
                            product=product,
                            code=f"B{number}-{size}-{colour[:3].upper()}",
                            size=size,
                            color=colour,
                            color_hex=hex_code,
                            stock=stock,
                        )
                    )
            usd = Decimal(rng.randint(15, 300))
            on_sale = rng.random() < 0.3
            for market, price in ((Market.KG, usd * 87), (Market.US, usd - Decimal("0.01"))):
                original = (price * Decimal("1.25")).quantize(Decimal("0.01")) if on_sale else None
                prices.append(
                    ProductPrice(
                        product=product, market=market, price=price, original_price=original
                    )
                )
            for order in range(2):
                images.append(
                    ProductImage(
                        product=product,
                        image=f"products/gallery/{SLUG_PREFIX}{number}-{order + 1}.jpg",
                        alt_text=f"{product.name}, view {order + 1}",
                        sort_order=order,
                    )
                )
            features.append(ProductFeature(product=product, name="Material", value="100% cotton"))
            features.append(
                ProductFeature(
                    product=product, name="Care", value="Machine wash 30°C", sort_order=1
                )
            )
        SKU.objects.bulk_create(skus, batch_size=batch_size)
        ProductPrice.objects.bulk_create(prices, batch_size=batch_size)
        ProductImage.objects.bulk_create(images, batch_size=batch_size)
        ProductFeature.objects.bulk_create(features, batch_size=batch_size)

        # bulk_create stamps every row with "now": spread creation times so
        # the default "newest first" ordering has a real order to follow.
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{Product._meta.db_table}" '
                "SET created_at = now() - (%s - id) * interval '1 minute', updated_at = now()",
                [products[-1].id],
            )

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh planner statistics, as a live database would have


def prepare_database(db_url: str, n_products: int, reseed: bool) -> dict:
    """Create, migrate and (if needed) seed. Returns timings and counts for the report."""
    from django.core.management import call_command
    from django.db import connections

    started = time.monotonic()
    created = ensure_database(db_url)
    log(f"database {check_db_url(db_url)}: {'created' if created else 'exists'}")
    call_command("migrate", interactive=False, verbosity=0)
    migrated = time.monotonic()
    log(f"migrated in {migrated - started:.1f}s")

    want = expected_counts(n_products)
    have = dataset_counts()
    seeded = False
    if reseed or have != want:
        if any(have.values()):
            log(f"catalogue does not match ({have}); emptying it")
            wipe_catalogue()
        log(f"seeding {n_products} products x {SKUS_PER_PRODUCT} SKUs x 2 markets…")
        seed(n_products)
        seeded = True
        have = dataset_counts()
        if have != want:
            raise BenchError(f"Seeding produced {have}, expected {want}.")
    seed_seconds = time.monotonic() - migrated
    log(f"{'seeded' if seeded else 'already seeded, skipped'} in {seed_seconds:.1f}s: {have}")
    connections.close_all()
    return {
        "created_database": created,
        "migrate_seconds": round(migrated - started, 2),
        "seeded": seeded,
        "seed_seconds": round(seed_seconds, 2),
        "counts": have,
    }


def pick_slug() -> str:
    """A real, visible product in the middle of the catalogue."""
    from django.db import connections
    from products.models import Product

    slugs = list(
        Product.objects.sellable_in(MARKET).order_by("slug").values_list("slug", flat=True)
    )
    connections.close_all()
    if not slugs:
        raise BenchError(f"No product is sellable in {MARKET}: seeding went wrong.")
    return slugs[len(slugs) // 2]


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


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def pinning(cpu_count: int) -> tuple[list[str], list[str], str]:
    """taskset prefixes for the server and the load generator."""
    if not shutil.which("taskset"):
        return [], [], "none (taskset not found)"
    if cpu_count < 2:
        return [], [], f"none (only {cpu_count} CPU)"
    return ["taskset", "-c", "0"], ["taskset", "-c", "1"], "server CPU 0, wrk CPU 1"


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes, dict]:
    """One GET to 127.0.0.1 (no proxy, whatever the environment says)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"X-Market": MARKET, "Host": HOST})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def start_gunicorn(port: int, workers: int, env: dict, prefix: list[str], log_path: Path):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        raise BenchError(f"{gunicorn} not found: install requirements.txt into the venv.")
    cmd = [
        *prefix,
        str(gunicorn),
        "main.wsgi:application",
        "--bind", f"{HOST}:{port}",
        "--workers", str(workers),
        "--worker-class", "sync",
        "--timeout", "60",
        "--log-level", "warning",
        "--error-logfile", str(log_path),
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


def run_wrk(prefix, port, path, duration, threads, connections, timeout_s=5):
    cmd = [
        *prefix,
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-H", f"X-Market: {MARKET}",
        "-s", str(LUA_REPORT),
        f"http://{HOST}:{port}{path}",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr.strip()}")
    report = None
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            report = json.loads(line.removeprefix("BENCH_JSON "))
    if report is None:
        raise BenchError(f"wrk printed no report:\n{result.stdout}\n{result.stderr}")
    return report, cmd, result.stdout


def measure(name, path, port, args, wrk_prefix) -> dict:
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
            row["results_on_page"] = len(payload["results"])
    except ValueError:
        pass

    if args.warmup > 0:
        run_wrk(wrk_prefix, port, path, args.warmup, args.threads, args.connections)
    report, cmd, _ = run_wrk(wrk_prefix, port, path, args.duration, args.threads, args.connections)
    seconds = report["duration_us"] / 1e6
    errors = report["errors"]
    row.update(
        available=True,
        requests=int(report["requests"]),
        seconds=round(seconds, 2),
        rps=round(report["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=round(report["latency_us"]["p50"] / 1000, 2),
        p90_ms=round(report["latency_us"]["p90"] / 1000, 2),
        p99_ms=round(report["latency_us"]["p99"] / 1000, 2),
        max_ms=round(report["latency_us"]["max"] / 1000, 2),
        non_2xx=int(errors["status"]),
        socket_errors={k: int(v) for k, v in errors.items() if k != "status" and v},
        wrk_command=shlex.join(cmd),
    )
    if row["non_2xx"]:
        row["note"] = f"{row['non_2xx']} non-2xx/3xx answers during the run"
    return row


# --------------------------------------------------------------------------- report


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'cache':<6} {'endpoint':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs trivial':>10}"
    )
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        lead = f"{row['cache']:<6} {row['path']:<40}"
        if not row.get("available"):
            print(f"{lead} {row.get('note', 'not available')}")
            continue
        ratio = row.get("ratio_vs_trivial")
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "n/a"
        figures = f"{row['rps']:>8.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
        line = f"{lead} {figures} {ratio_text:>10}"
        if row.get("note"):
            line += f"   ! {row['note']}"
        print(line)
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


def python_shown() -> str:
    python = Path(sys.executable)
    return (
        python.relative_to(BASE_DIR).as_posix() if python.is_relative_to(BASE_DIR) else str(python)
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--products", type=int, default=10_000, help="products to seed (10000)")
    parser.add_argument("--reseed", action="store_true", help="empty the catalogue and seed again")
    parser.add_argument("--seed-only", action="store_true", help="prepare the database and stop")
    parser.add_argument(
        "--duration", type=int, default=10, help="measured seconds per endpoint (10)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per endpoint (2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument(
        "--cache",
        choices=("on", "off", "both"),
        default="both",
        help="server-side cache: on (production), off (dummy cache), both (default)",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="PATH",
        help="another GET path to measure, e.g. /api/v1/products/facets/ (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    run_started = time.monotonic()
    check_db_url(args.db_url)
    if urlsplit(args.redis_url).hostname not in ("127.0.0.1", "localhost"):
        raise BenchError("The bench Redis must be local (127.0.0.1).")
    for path in args.extra:  # paths only: the host is always 127.0.0.1
        if not path.startswith("/") or path.startswith("//") or any(c in path for c in "@ \\"):
            raise BenchError(f"--extra takes a path such as /api/v1/products/facets/, got {path!r}")
    if not args.seed_only and not shutil.which("wrk"):
        raise BenchError(WRK_MISSING)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)

    env = django_env(args.db_url, args.redis_url)
    setup_django(env)
    database = prepare_database(args.db_url, args.products, args.reseed)
    if args.seed_only:
        return 0
    slug = pick_slug()

    endpoints = [
        ("trivial", "/api/v1/markets/"),
        ("categories", "/api/v1/categories/"),
        ("products", "/api/v1/products/"),
        ("product detail", f"/api/v1/products/{slug}/"),
        *(("extra", path) for path in args.extra),
    ]
    load_before = os.getloadavg()
    if load_before[0] > 1.0:
        log(
            f"warning: load average {load_before[0]:.2f} before the run; other work on this "
            "machine makes the figures noisy"
        )
    cpu_count = os.cpu_count() or 1
    server_prefix, wrk_prefix, pin_note = pinning(cpu_count)
    modes = ["on", "off"] if args.cache == "both" else [args.cache]
    rows: list[dict] = []
    servers: list[dict] = []
    for mode in modes:
        settings_module = SETTINGS_BY_CACHE_MODE[mode]
        if mode == "on":
            dropped = clear_cache(args.redis_url)
            log(f"cleared {dropped} cached keys ({CACHE_KEY_PREFIX}:*) in {args.redis_url}")
        port = free_port()
        log_path = RESULTS_DIR / f"gunicorn-cache-{mode}.log"
        log_path.write_text("")
        server_env = {**env, "DJANGO_SETTINGS_MODULE": settings_module}
        process = None
        try:
            process, gunicorn_cmd = start_gunicorn(
                port, args.workers, server_env, server_prefix, log_path
            )
            boot = wait_healthy(process, port, log_path)
            log(
                f"cache {mode}: gunicorn pid {process.pid} on {HOST}:{port} ({settings_module}), "
                f"{args.workers} workers, healthy after {boot:.1f}s; pinning: {pin_note}"
            )
            servers.append(
                {"cache": mode, "settings": settings_module, "command": shlex.join(gunicorn_cmd)}
            )
            mode_rows = []
            for name, path in endpoints:
                log(f"cache {mode}: {name} {path}")
                mode_rows.append({"cache": mode, **measure(name, path, port, args, wrk_prefix)})
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
    print_table(rows)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_commit(),
        "command": " ".join([python_shown(), *sys.argv]),
        "machine": {
            "cpus": cpu_count,
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "server": {"workers": args.workers, "pinning": pin_note, "runs": servers},
        "load": {
            "tool": "wrk",
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "header": f"X-Market: {MARKET}",
        },
        "database": {"url": args.db_url, **database},
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "product_slug": slug,
        "total_seconds": round(total, 1),
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    shown = (
        args.output.relative_to(BASE_DIR) if args.output.is_relative_to(BASE_DIR) else args.output
    )
    log(f"wrote {shown}; whole run {total:.1f}s")
    trivial_ok = all(r.get("available") for r in rows if r["endpoint"] == "trivial")
    return 0 if trivial_ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
