"""Load test of the production topology (`make loadtest`): Locust's traffic mix against `make up`.

    .venv/bin/python ops/loadtest.py                                  # 200 users for 60 s
    .venv/bin/python ops/loadtest.py --users 400 --duration 120
    .venv/bin/python ops/loadtest.py --find-capacity                  # steps of request rate
    .venv/bin/python ops/loadtest.py --find-capacity --rates 80,100,120 --web-concurrency 9
    .venv/bin/python ops/loadtest.py --find-capacity --reuse-database  # skip drop and seed
    flock /tmp/marque-heavy.lock .venv/bin/python ops/loadtest.py --find-capacity  # shared machine

Everything runs on 127.0.0.1, is bounded in time and stops by itself:

1. A database of its own, `marque_load` (dropped and created again: the name must
   end in `_load`), migrated and seeded with the full demo store (`prepare()` of
   ops/up.py, 45-100 s; `--reuse-database` keeps an earlier run's instead), and Redis
   database 12 (emptied first; 0 is refused).
   Every active SKU's stock is then set to 1,000,000 by SQL and the catalogue's read
   model rebuilt, so checkouts never run out (a 409 would be a failure).
2. The fixture (`fixture.json` in the run folder): customers (each with a saved
   address) and store managers (role admin) created for the run, with JWT access
   tokens minted by this script with the server's SECRET_KEY, valid for the whole
   run; plus what the users pick from (product slugs and ids, SKUs, filter values,
   order numbers). Sign-in is not part of the mix: OTP requests are rate limited per
   IP and per phone and all the load comes from one address (docs/PERFORMANCE.md).
3. The Procfile's four processes (`Topology` of ops/up.py: gunicorn with
   gunicorn_config.py, daphne, Celery worker and beat) with production settings and
   `LOCAL_RUN=true`, on spare ports; `--web-concurrency` sets gunicorn's workers
   (default 2 x cores + 1).
4. Locust (ops/locustfile.py, `FastHttpUser`, headless) for each step: users spawned
   over `--ramp` seconds, statistics reset once all are running, then measured for
   `--duration` (`--step-duration`) seconds. A warm-up run comes first and is not
   recorded. Meanwhile the CPU of every process is sampled each second and summed per
   group: gunicorn, daphne, Celery worker, beat, PostgreSQL (this run's database, and
   everything else of the shared server), Redis, Locust, this driver, "outside" (any
   other process: what else the machine ran) and "unattributed" (busy time no sampled
   process accounts for: interrupts and the kernel's loopback networking, processes that
   lived less than a second, such as the PostgreSQL backend a Celery task opens). After
   each step the outbox backlog (tasks not yet done by the worker) is read and, before
   the next step, left to drain. A failing step during which processes outside this run
   used more than 20 % of a core is run again (`--retry-noisy`, 2), after waiting for a
   quiet machine (`--wait-quiet`, s).
5. `--find-capacity` steps the request rate (`--rates`; users = rate / the mix's
   requests per user per second) and names the highest step whose p95 is under
   `--p95-ms` (250) with no failure. It stops after two failing steps in a row, or one
   with a p95 above twice the limit (`--keep-going` runs every step).

Results: a folder per run under bench/results/loadtest/ (gitignored) with every
process's log, Locust's CSV files and each step's raw result, `loadtest.json` and
`loadtest.md` (the table); copies of the last two in bench/results/. Exit status 0 when
the run completed (and, without `--find-capacity`, the step met the limits), 1 when it
did not meet them, 2 on a setup problem, 130 on Ctrl-C. Every process this script
started is stopped by its PID in a `finally`, also on Ctrl-C or SIGTERM.

The load generator runs on the same 2 cores as the server: its CPU is in the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from up import Topology, free_port, local_environment, manage, prepare

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
LOCUSTFILE = ROOT / "ops" / "locustfile.py"
RESULTS = ROOT / "bench" / "results"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
STOCK = 1_000_000

# The mix of ops/locustfile.py (keep in step): class -> (users weight, tasks per pace, requests
# per task). Requests per user per second = pace x sum(w x t x r) / sum(w) = 0.93 x pace.
MIX = {"browse": (28, 1.0, 1), "cart": (8, 1.0, 1), "checkout": (5, 0.2, 2), "manager": (2, 1.0, 1)}
DESIGNED_SHARE = {"browse": 70, "cart": 20, "checkout": 5, "manager": 5}
SIGNED_IN_SHARE = (MIX["cart"][0] + MIX["checkout"][0]) / sum(w for w, _, _ in MIX.values())
GROUPS_ORDER = (
    "gunicorn",
    "postgres (load db)",
    "locust",
    "celery worker",
    "daphne",
    "celery beat",
    "redis",
    "postgres (other)",
    "driver",
    "outside",
    "unattributed",
)
NOISE_LIMIT = 20.0  # % of one core used by processes outside this run: a noisy step


def log(message: str) -> None:
    print(f"loadtest: {message}", file=sys.stderr, flush=True)


def requests_per_user(pace: float) -> float:
    weights = sum(w for w, _, _ in MIX.values())
    return pace * sum(w * t * r for w, t, r in MIX.values()) / weights


# --- Setup --------------------------------------------------------------------------------------


class SetupError(Exception):
    pass


def require_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise SetupError(f"{url}: only 127.0.0.1 / localhost is allowed")


def fresh_database(url: str) -> None:
    """Drop and create the load test's database (only one whose name ends in `_load`)."""
    import psycopg2

    name = url.rsplit("/", 1)[1]
    if not name.endswith("_load"):
        raise SetupError(f"refusing to recreate {name!r}: not a *_load database")
    maintenance = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    maintenance.close()


def database_exists(url: str) -> bool:
    name = url.rsplit("/", 1)[1]
    rows = sql(
        url.rsplit("/", 1)[0] + "/postgres", "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
    )
    return bool(rows)


def flush_redis(url: str) -> None:
    import redis

    db = int((urlparse(url).path or "/0").lstrip("/") or 0)
    if db == 0:
        raise SetupError(f"{url}: refusing to empty Redis database 0 (make up's)")
    redis.Redis.from_url(url).flushdb()


def sql(url: str, statement: str, params: tuple = (), *, autocommit: bool = False) -> list:
    """Run one statement on `url`; its rows (if it returns any)."""
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = autocommit
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall() if cursor.description else []
        if not autocommit:
            connection.commit()
        return rows
    finally:
        connection.close()


def top_up_stock(env: dict[str, str]) -> None:
    url = env["DATABASE_URL"]
    rows = sql(url, "UPDATE products_sku SET stock = %s WHERE is_active RETURNING id", (STOCK,))
    log(f"stock of {len(rows)} active SKUs set to {STOCK:,}")
    # Written around the models: the read model's in_stock is rebuilt (the cache too).
    manage(env, "listing_rebuild", "--verbosity", "0")
    sql(url, "VACUUM (ANALYZE)", autocommit=True)


@contextlib.contextmanager
def output_to(path: Path):
    """This process's stdout and stderr (and so its children's) go to `path` meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as target:
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def make_fixture(env: dict[str, str], path: Path, customers: int, managers: int, ttl: int) -> dict:
    command = [
        str(BIN / "python"),
        str(Path(__file__).resolve()),
        "--make-fixture",
        str(path),
        "--customers",
        str(customers),
        "--managers",
        str(managers),
        "--token-seconds",
        str(ttl),
    ]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return json.loads(path.read_text())


def build_fixture(path: Path, customers: int, managers: int, token_seconds: int) -> None:
    """Runs inside Django (the server's environment): users, tokens, catalogue facts."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import transaction
    from orders.models import Order
    from products.models import SKU, Listing, ListingFacet
    from rest_framework_simplejwt.tokens import RefreshToken
    from store_manager.models import ManagerSettings, StoreManager
    from users.models import Address, User

    slug_fields = ("category__slug", "subcategory__slug")

    def access(user) -> str:
        # What sign-in hands out (users.services.auth.tokens_for_user), for the run's length.
        token = RefreshToken.for_user(user).access_token
        token.set_exp(lifetime=timedelta(seconds=token_seconds))
        return str(token)

    taken = set(User.objects.values_list("phone", flat=True))  # the demo's customers

    def phones(market: str):
        """Free numbers: KG +996 700 9xx xxx; US 555-01xx (reserved for fiction), many areas."""
        if market == "KG":
            candidates = (f"+99670090{i:04d}" for i in range(10_000))
        else:
            areas = ("312", "415", "617", "206", "305", "404", "512", "702", "808", "907")
            candidates = (f"+1{area}55501{i:02d}" for area in areas for i in range(100))
        return (phone for phone in candidates if phone not in taken)

    people = []
    with transaction.atomic():
        numbers = {"KG": phones("KG"), "US": phones("US")}
        cities = {"KG": "Bishkek", "US": "New York"}
        # A reused database (--reuse-database) has the customers of an earlier run: take them.
        earlier = {
            market: list(
                Address.objects.filter(
                    user__market=market,
                    user__first_name="Load",
                    user__last_name__startswith="Test ",
                    is_default=True,
                )
                .select_related("user")
                .order_by("user_id")
            )
            for market in ("KG", "US")
        }
        for i in range(math.ceil(customers / 2)):
            for market in ("KG", "US"):
                if earlier[market]:
                    address = earlier[market].pop(0)
                    user = address.user
                else:
                    phone = next(numbers[market], None)
                    if phone is None:
                        raise SetupError(f"no free {market} phone numbers left for customers")
                    user = User.objects.create_user(phone, first_name="Load", last_name=f"Test {i}")
                    assert user.market == market
                    address = Address.objects.create(
                        user=user,
                        label="Home",
                        recipient_name=f"Load Test {i}",
                        phone=phone,
                        city=cities[market],
                        street="Load Test Street",
                        building=str(i + 1),
                        is_default=True,
                    )
                people.append({"market": market, "token": access(user), "address_id": address.pk})
        staff = []
        earlier_staff = list(
            StoreManager.objects.filter(
                user__first_name="Load", user__last_name__startswith="Manager "
            ).order_by("user_id")
        )
        for i in range(managers):
            market = "KG" if i % 2 == 0 else "US"
            if earlier_staff:
                manager = earlier_staff.pop(0)
                StoreManager.objects.filter(pk=manager.pk).update(active_market=market)
                staff.append({"market": market, "token": access(manager.user)})
                continue
            phone = next(
                p for p in (f"+99670080{j:04d}" for j in range(i, 10_000)) if p not in taken
            )
            taken.add(phone)
            user = User.objects.create_user(phone, first_name="Load", last_name=f"Manager {i}")
            manager = StoreManager.objects.create(
                user=user,
                role=StoreManager.Role.ADMIN,
                can_view_orders=True,
                can_edit_orders=True,
                can_cancel_orders=True,
                can_view_revenue=True,
                can_export_data=True,
                can_manage_kg=True,
                can_manage_us=True,
                active_market=market,
            )
            ManagerSettings.objects.get_or_create(manager=manager)
            staff.append({"market": market, "token": access(user)})

    catalogue, orders = {}, {}
    for market in ("KG", "US"):
        rows = list(
            Listing.objects.filter(market=market)
            .order_by("-sales_count", "product_id")
            .values("product_id", "slug", "brand", "name", "price", *slug_fields)
        )
        ids = [row["product_id"] for row in rows]
        words = sorted(
            {
                word.lower()
                for row in rows
                for word in row["name"].split()
                if len(word) >= 4 and word.isalpha()
            }
        )
        facets = ListingFacet.objects.filter(market=market)
        prices = [float(row["price"]) for row in rows]
        catalogue[market] = {
            "count": len(rows),
            "slugs": [row["slug"] for row in rows],
            "product_ids": ids,
            "sku_ids": list(
                SKU.objects.filter(product_id__in=ids, is_active=True, stock__gt=0)
                .order_by("id")
                .values_list("id", flat=True)
            ),
            "categories": sorted({row["category__slug"] for row in rows}),
            "subcategories": sorted(
                {(row["category__slug"], row["subcategory__slug"] or "") for row in rows}
            ),
            "sizes": sorted(set(facets.filter(facet="size").values_list("value", flat=True))),
            "colors": sorted(set(facets.filter(facet="color").values_list("value", flat=True))),
            "brands": sorted({row["brand"] for row in rows if row["brand"]}),
            "price": [min(prices), max(prices)] if prices else [0, 0],
            "search": words[:40],
        }
        orders[market] = list(
            Order.objects.filter(market=market)
            .order_by("-created_at")
            .values_list("order_number", flat=True)[:300]
        )
    # Interleaved markets: whatever number of customers a run takes, both markets have some.
    fixture = {
        "customers": people,
        "managers": staff,
        "catalogue": catalogue,
        "orders": orders,
        "token_seconds": token_seconds,
    }
    path.write_text(json.dumps(fixture))


# --- CPU per process group ----------------------------------------------------------------------


class CpuSampler(threading.Thread):
    """Each second: CPU seconds used by every process since the last sample, summed per group."""

    def __init__(self, roots: dict[int, str], database: str, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        import psutil

        self.psutil = psutil
        self.roots = dict(roots)
        self.database = database
        self.interval = interval
        self.samples: list[tuple[float, float, dict[str, float], float, float]] = []
        self._seen: dict[int, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._machine = psutil.cpu_times()
        self._last = time.time()
        self._sample(record=False)

    def add_root(self, pid: int, group: str) -> None:
        with self._lock:
            self.roots[pid] = group

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(record=True)

    def stop(self) -> None:
        self._stop.set()

    def _group(self, pid: int, info: dict, parents: dict[int, int]) -> str:
        current, depth = pid, 0
        while current and depth < 12:
            if current in self.roots:
                return self.roots[current]
            current, depth = parents.get(current, 0), depth + 1
        name = info.get("name") or ""
        if name.startswith("postgres"):
            command = " ".join(info.get("cmdline") or [])
            return "postgres (load db)" if f" {self.database} " in command else "postgres (other)"
        if name.startswith("redis"):
            return "redis"
        return "outside"

    def _sample(self, *, record: bool) -> None:
        psutil = self.psutil
        now = time.time()
        infos = {}
        for process in psutil.process_iter(["pid", "ppid", "name", "cmdline", "create_time"]):
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            infos[process.info["pid"]] = (process.info, times.user + times.system)
        parents = {pid: info["ppid"] for pid, (info, _) in infos.items()}
        machine = psutil.cpu_times()
        groups: dict[str, float] = {}
        with self._lock:
            seen = {}
            for pid, (info, cpu) in infos.items():
                created = info.get("create_time") or 0.0
                before = self._seen.get(pid)
                if before and before[0] == created:
                    used = cpu - before[1]
                else:  # new since the last sample: all its CPU is in this interval
                    used = cpu if created >= self._last - 0.5 else 0.0
                seen[pid] = (created, cpu)
                if used > 0:
                    group = self._group(pid, info, parents)
                    groups[group] = groups.get(group, 0.0) + used
            self._seen = seen
            busy = _busy(machine) - _busy(self._machine)
            steal = getattr(machine, "steal", 0.0) - getattr(self._machine, "steal", 0.0)
            self._machine = machine
            if record:
                self.samples.append((self._last, now, groups, busy, steal))
            self._last = now

    def window(self, start: float, end: float) -> dict:
        """% of one core per group, machine busy and steal (% of all cores) over [start, end]."""
        with self._lock:
            chosen = [s for s in self.samples if s[0] >= start - 0.5 and s[1] <= end + 0.5]
        if not chosen:
            return {"seconds": 0, "groups": {}, "machine_busy": None, "steal": None}
        seconds = chosen[-1][1] - chosen[0][0]
        totals: dict[str, float] = {}
        busy = steal = 0.0
        for _, _, groups, sample_busy, sample_steal in chosen:
            busy += sample_busy
            steal += sample_steal
            for group, used in groups.items():
                totals[group] = totals.get(group, 0.0) + used
        # What the machine did that no sampled process accounts for: interrupts and the
        # kernel's loopback networking, processes that lived less than a sample.
        totals["unattributed"] = max(0.0, busy - sum(totals.values()))
        cores = self.psutil.cpu_count() or 1
        return {
            "seconds": round(seconds, 1),
            "groups": {k: round(100 * v / seconds, 1) for k, v in totals.items()},
            "machine_busy": round(100 * busy / seconds / cores, 1),
            "steal": round(100 * steal / seconds / cores, 1),
        }


def _busy(times) -> float:
    idle = times.idle + getattr(times, "iowait", 0.0) + getattr(times, "steal", 0.0)
    return sum(times) - idle - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


# --- Locust ------------------------------------------------------------------------------------


def stop_popen(popen: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM to the process we started, then SIGKILL to its group if it does not go."""
    if popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(popen.pid, signal.SIGTERM)
    try:
        popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)


class Runner:
    def __init__(self, args, topology, sampler: CpuSampler, run_dir: Path, fixture: Path) -> None:
        self.args = args
        self.topology = topology
        self.sampler = sampler
        self.run_dir = run_dir
        self.fixture = fixture
        self.popen: subprocess.Popen | None = None

    def locust(self, label: str, users: int, seconds: float) -> dict:
        """One headless Locust run; its raw result (locustfile's LOADTEST_RESULT)."""
        args = self.args
        result = self.run_dir / f"{label}.result.json"
        spawn_rate = max(1.0, users / args.ramp)
        command = [
            str(BIN / "locust"),
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            f"{spawn_rate:.2f}",
            "--run-time",
            f"{math.ceil(args.ramp + seconds)}s",
            "--reset-stats",
            "--csv",
            str(self.run_dir / label),
            "--only-summary",
            "--host",
            self.topology.base_url,
            "--stop-timeout",
            "5",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ]
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "LOADTEST_FIXTURE": str(self.fixture),
            "LOADTEST_PACE": str(args.pace),
            "LOADTEST_CLIENT": args.client,
            "LOADTEST_RESULT": str(result),
        }
        (self.run_dir / f"{label}.command.txt").write_text(" ".join(command) + "\n")
        with open(self.run_dir / f"{label}.locust.log", "wb") as output:
            self.popen = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.sampler.add_root(self.popen.pid, "locust")
        deadline = time.monotonic() + args.ramp + seconds + 90
        try:
            while self.popen.poll() is None:
                self.topology.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: Locust still running after its time")
                time.sleep(0.5)
        finally:
            stop_popen(self.popen)
        if not result.exists():
            raise RuntimeError(f"{label}: Locust wrote no result (see {label}.locust.log)")
        return json.loads(result.read_text())


# --- Figures -----------------------------------------------------------------------------------


def percentile(histogram: dict[int, int], count: int, fraction: float) -> int:
    """Locust's own percentile (stats.calculate_response_time_percentile)."""
    if not count:
        return 0
    processed = 0
    for value in sorted(histogram, reverse=True):
        processed += histogram[value]
        if count - processed <= count * fraction:
            return value
    return 0


def merge(entries: list[dict]) -> tuple[dict[int, int], int, int]:
    histogram: dict[int, int] = {}
    requests = failures = 0
    for entry in entries:
        requests += entry["num_requests"]
        failures += entry["num_failures"]
        for value, count in entry["response_times"].items():
            histogram[int(value)] = histogram.get(int(value), 0) + count
    return histogram, requests, failures


def latency(histogram: dict[int, int], requests: int) -> dict:
    return {f"p{int(p * 100)}": percentile(histogram, requests, p) for p in (0.5, 0.95, 0.99)}


def analyse(raw: dict, seconds: float) -> dict:
    histogram, requests, failures = merge(raw["entries"])
    groups = {}
    for group in DESIGNED_SHARE:
        chosen = [e for e in raw["entries"] if e["name"].split(" ", 1)[0] == group]
        g_hist, g_requests, g_failures = merge(chosen)
        groups[group] = {
            "requests": g_requests,
            "failures": g_failures,
            "share": round(100 * g_requests / requests, 1) if requests else 0.0,
            **latency(g_hist, g_requests),
        }
    routes = []
    for entry in sorted(raw["entries"], key=lambda e: (e["name"], e["method"])):
        hist = {int(k): v for k, v in entry["response_times"].items()}
        routes.append(
            {
                "method": entry["method"],
                "name": entry["name"],
                "requests": entry["num_requests"],
                "failures": entry["num_failures"],
                "rate": round(entry["num_requests"] / seconds, 1) if seconds else 0.0,
                **latency(hist, entry["num_requests"]),
                "max": entry["max_response_time"],
            }
        )
    errors = sorted(raw["errors"], key=lambda e: -e["count"])[:15]
    return {
        "requests": requests,
        "failures": failures,
        "rate": round(requests / seconds, 1) if seconds else 0.0,
        **latency(histogram, requests),
        "max": max(histogram) if histogram else 0,
        "groups": groups,
        "routes": routes,
        "errors": errors,
        "user_classes": raw.get("user_classes", {}),
    }


def outbox_backlog(url: str) -> tuple[int, float | None]:
    rows = sql(
        url,
        "SELECT count(*), extract(epoch FROM now() - min(created_at)) "
        "FROM outbox_outboxmessage WHERE completed_at IS NULL",
    )
    count, age = rows[0]
    return int(count), (round(float(age), 1) if age is not None else None)


def orders_between(url: str, start: float, end: float) -> int:
    rows = sql(
        url,
        "SELECT count(*) FROM orders_order "
        "WHERE created_at >= to_timestamp(%s) AND created_at < to_timestamp(%s)",
        (start, end),
    )
    return int(rows[0][0])


def web_workers(topology) -> int:
    import psutil

    try:
        return len(psutil.Process(topology.processes["web"].pid).children())
    except psutil.NoSuchProcess:
        return 0


class LogCounter:
    """Counts lines of a growing log that contain a phrase, since the last call."""

    def __init__(self, path: Path, phrase: bytes) -> None:
        self.path = path
        self.phrase = phrase
        self.offset = path.stat().st_size if path.exists() else 0

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        return data.count(self.phrase)


def server_latency(path: Path, offset: int, start: float, end: float) -> dict:
    """p50/p95/p99 of the time Django spent (the access log's `duration_ms`) in [start, end].

    The client's figure less this one is time outside Django: waiting in gunicorn's
    listen backlog for a free worker, the network, and the load generator itself.
    """
    durations = []
    with open(path, "rb") as handle:
        handle.seek(offset)
        for line in handle:
            if b'"request_finished"' not in line:
                continue
            try:
                event = json.loads(line)
                at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
            except (ValueError, KeyError):
                continue
            if start <= at <= end and "duration_ms" in event:
                durations.append(float(event["duration_ms"]))
    if not durations:
        return {}
    durations.sort()

    def at(fraction: float) -> float:
        return round(durations[min(len(durations) - 1, int(fraction * len(durations)))], 1)

    return {"requests": len(durations), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99)}


def noise(groups: dict[str, float]) -> float:
    """% of a core used by processes that are not this run's (PostgreSQL's other databases too)."""
    return groups.get("outside", 0.0) + groups.get("postgres (other)", 0.0)


def wait_quiet(sampler: CpuSampler, seconds: float, limit: float = NOISE_LIMIT) -> float:
    """Up to `seconds` for 5 s in which processes not of this run used < `limit` % of a core."""
    if seconds <= 0:
        return 0.0
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        time.sleep(5)
        now = time.time()
        cpu = sampler.window(now - 5, now)["groups"]
        if noise(cpu) < limit:
            break
    return round(time.monotonic() - began, 1)


def step(runner: Runner, label: str, users: int, target: float | None, seconds: float) -> dict:
    args = runner.args
    url = runner.topology.env["DATABASE_URL"]
    web_log = runner.run_dir / "web.log"
    waited = wait_quiet(runner.sampler, args.wait_quiet)
    boots = LogCounter(web_log, b"Booting worker")
    timeouts = LogCounter(web_log, b"WORKER TIMEOUT")
    log_offset = web_log.stat().st_size if web_log.exists() else 0
    log(
        f"{label}: {users} users ({target or users * requests_per_user(args.pace):.0f} req/s "
        f"planned) for {seconds:.0f} s after a {args.ramp:.0f} s ramp"
    )
    raw = runner.locust(label, users, seconds)
    marks = raw["marks"]
    start, end = marks.get("spawned"), marks.get("stopped")
    if not start or not end or end <= start:
        raise RuntimeError(f"{label}: no measured window in the Locust result")
    window = end - start
    figures = analyse(raw, window)
    figures.update(
        {
            "label": label,
            "users": users,
            "target_rate": round(target, 1) if target else None,
            "seconds": round(window, 1),
            "cpu": runner.sampler.window(start, end),
            "orders": orders_between(url, start, end),
            "waited_for_quiet_s": waited,
            "noise": 0.0,
            "server": server_latency(web_log, log_offset, start, end),
            "gunicorn_worker_boots": boots.count(),
            "gunicorn_worker_timeouts": timeouts.count(),
            "locust_cpu_warnings": (runner.run_dir / f"{label}.locust.log")
            .read_bytes()
            .count(b"CPU usage above"),
        }
    )
    figures["orders_per_s"] = round(figures["orders"] / window, 2)
    figures["noise"] = round(noise(figures["cpu"]["groups"]), 1)
    backlog, age = outbox_backlog(url)
    figures["outbox_backlog_at_end"] = backlog
    figures["outbox_oldest_s"] = age
    figures["passed"] = figures["failures"] == 0 and figures["p95"] < args.p95_ms
    drained = time.monotonic()
    while backlog and time.monotonic() - drained < args.drain:
        runner.topology.check_alive()
        time.sleep(1)
        backlog, _ = outbox_backlog(url)
    figures["drain_s"] = round(time.monotonic() - drained, 1)
    figures["outbox_backlog_after_drain"] = backlog
    cpu = figures["cpu"]
    busiest = sorted(cpu["groups"].items(), key=lambda kv: -kv[1])[:4]
    log(
        f"{label}: {figures['rate']} req/s, p50 {figures['p50']} p95 {figures['p95']} "
        f"p99 {figures['p99']} ms, {figures['failures']} failures; machine "
        f"{cpu['machine_busy']} % busy; "
        + ", ".join(f"{k} {v} %" for k, v in busiest)
        + f"; outbox backlog {figures['outbox_backlog_at_end']}"
    )
    return figures


# --- Report ------------------------------------------------------------------------------------


def verdict(steps: list[dict], p95_ms: float) -> dict:
    passing = [s for s in steps if s["passed"]]
    best = max(passing, key=lambda s: s["rate"]) if passing else None
    failing = [s for s in steps if not s["passed"]]
    first_fail = failing[0] if failing else None
    evidence = first_fail or (steps[-1] if steps else None)
    answer = {
        "limit": f"p95 < {p95_ms:g} ms and 0 failures",
        "highest_passing_step": best["label"] if best else None,
        "highest_passing_rate": best["rate"] if best else None,
        "first_failing_step": first_fail["label"] if first_fail else None,
    }
    if evidence:
        # Where to look for what saturates: the first step past the limit (else the last).
        cpu = evidence["cpu"]
        answer["evidence_step"] = evidence["label"]
        answer["busiest"] = sorted(cpu["groups"].items(), key=lambda kv: -kv[1])[:5]
        answer["machine_busy"] = cpu["machine_busy"]
    return answer


def markdown(report: dict) -> str:
    steps = report["steps"]
    groups = [g for g in GROUPS_ORDER if any(g in s["cpu"]["groups"] for s in steps)]
    head = [
        "step",
        "users",
        "planned req/s",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "Django p95 ms",
        "failures",
        "orders/s",
        "machine busy",
        *[f"{g} %" for g in groups],
        "outbox backlog",
        "gunicorn boots",
        "verdict",
    ]
    lines = [
        f"Load test {report['started']} ({report['git']}), gunicorn workers "
        f"{report['web_workers']}, pace {report['pace']} task/s per user, "
        f"{report['step_seconds']:.0f} s per step; limit: {report['answer']['limit']}.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" if i == 0 else "---:" for i in range(len(head))) + " |",
    ]
    for s in steps:
        cpu = s["cpu"]
        row = [
            s["label"],
            str(s["users"]),
            f"{s['target_rate']:.0f}" if s["target_rate"] else "",
            f"{s['rate']:.1f}",
            str(s["p50"]),
            str(s["p95"]),
            str(s["p99"]),
            str(s["server"].get("p95", "")),
            str(s["failures"]),
            f"{s['orders_per_s']:.1f}",
            f"{cpu['machine_busy']} %",
            *[str(cpu["groups"].get(g, 0.0)) for g in groups],
            str(s["outbox_backlog_at_end"]),
            str(s["gunicorn_worker_boots"]),
            "pass" if s["passed"] else "FAIL",
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "CPU columns: % of one core over the measured window (the machine has "
        f"{report['machine']['cores']}); machine busy: % of all cores.",
        "",
        "Mix measured (share of requests, p95 ms) per step:",
        "",
        "| step | "
        + " | ".join(f"{g} (designed {DESIGNED_SHARE[g]} %)" for g in DESIGNED_SHARE)
        + " |",
        "| --- | " + " | ".join("---:" for _ in DESIGNED_SHARE) + " |",
    ]
    for s in steps:
        groups_of = s["groups"]
        cells = [f"{groups_of[g]['share']} %, p95 {groups_of[g]['p95']}" for g in DESIGNED_SHARE]
        lines.append(f"| {s['label']} | " + " | ".join(cells) + " |")
    answer = report["answer"]
    lines += [""]
    if answer["highest_passing_step"]:
        lines.append(
            f"**Highest step within the limit: {answer['highest_passing_step']}, "
            f"{answer['highest_passing_rate']} req/s.**"
        )
    else:
        lines.append("**No step was within the limit.**")
    if answer.get("busiest"):
        busiest = ", ".join(f"{k} {v} %" for k, v in answer["busiest"])
        lines.append(
            f"At {answer['evidence_step']} the machine was {answer['machine_busy']} % busy; "
            f"busiest (% of one core): {busiest}."
        )
    last = steps[-1] if steps else None
    if last:
        lines += ["", f"Routes at {last['label']}:", ""]
        lines.append("| route | req/s | p50 | p95 | p99 | max | failures |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in last["routes"]:
            lines.append(
                f"| {r['method']} {r['name']} | {r['rate']} | {r['p50']} | {r['p95']} | "
                f"{r['p99']} | {r['max']} | {r['failures']} |"
            )
    errors = [(s["label"], e) for s in steps for e in s["errors"]]
    if errors:
        lines += ["", "Errors:", ""]
        for label, e in errors[:20]:
            lines.append(f"- {label}: {e['count']} x {e['method']} {e['name']}: {e['error']}")
    return "\n".join(lines) + "\n"


def git_revision() -> str:
    git = shutil.which("git")
    if not git:
        return "unknown"
    try:
        head = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return f"{head}{' + uncommitted changes' if dirty else ''}"
    except OSError:
        return "unknown"


# --- Main --------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_argument_group("load")
    mode.add_argument("--users", type=int, default=200, help="single run: Locust users (200)")
    mode.add_argument("--duration", type=float, default=60, help="measured seconds per run (60)")
    mode.add_argument("--ramp", type=float, default=10, help="seconds to spawn the users (10)")
    mode.add_argument("--warmup", type=float, default=20, help="unrecorded first run, s (20)")
    mode.add_argument("--pace", type=float, default=0.5, help="tasks per user per second (0.5)")
    mode.add_argument(
        "--client",
        choices=("fast", "requests"),
        default="fast",
        help="Locust's HTTP client: FastHttpUser (default) or HttpUser (python-requests)",
    )
    mode.add_argument("--find-capacity", action="store_true", help="step the request rate")
    mode.add_argument(
        "--rates",
        default="60,80,100,120,140,160",
        help="--find-capacity: planned req/s of each step",
    )
    mode.add_argument(
        "--step-duration", type=float, help="--find-capacity: s per step (--duration)"
    )
    mode.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="before each step, wait up to this long (s) for a machine quiet but for this run",
    )
    mode.add_argument(
        "--retry-noisy",
        type=int,
        default=2,
        help="times to run again a failing step during which others used > 20 %% of a core",
    )
    mode.add_argument("--p95-ms", type=float, default=250, help="the latency limit (250)")
    mode.add_argument("--keep-going", action="store_true", help="run every step")
    mode.add_argument(
        "--drain", type=float, default=60, help="max s to let the outbox drain between steps"
    )
    server = parser.add_argument_group("server")
    server.add_argument("--web-concurrency", type=int, help="gunicorn workers (2 x cores + 1)")
    server.add_argument(
        "--database-url",
        default=os.environ.get(
            "LOADTEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/marque_load"
        ),
    )
    server.add_argument(
        "--redis-url", default=os.environ.get("LOADTEST_REDIS_URL", "redis://127.0.0.1:6379/12")
    )
    server.add_argument(
        "--reuse-database",
        action="store_true",
        help="keep the database of an earlier run (no drop, no seed; its orders stay)",
    )
    server.add_argument("--customers", type=int, help="customers created (from the users)")
    server.add_argument("--managers", type=int, default=10, help="managers created (10)")
    server.add_argument("--output-dir", type=Path, help="run folder (bench/results/loadtest/...)")
    server.add_argument("--stop-timeout", type=float, default=30)
    # Internal: the fixture is built by this script run again inside Django.
    parser.add_argument("--make-fixture", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--token-seconds", type=int, default=6 * 3600, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.make_fixture:
        build_fixture(args.make_fixture, args.customers or 200, args.managers, args.token_seconds)
        return 0

    per_user = requests_per_user(args.pace)
    if args.find_capacity:
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
        plan = [(f"{r:g} req/s", max(1, round(r / per_user)), r) for r in rates]
        seconds = args.step_duration or args.duration
    else:
        plan = [(f"{args.users} users", args.users, args.users * per_user)]
        seconds = args.duration
    max_users = max(users for _, users, _ in plan)
    customers = args.customers or max(100, math.ceil(max_users * SIGNED_IN_SHARE * 1.1) + 10)

    started = datetime.now(UTC)
    run_dir = args.output_dir or RESULTS / "loadtest" / started.strftime("%Y%m%d-%H%M%S")
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)

    try:
        require_loopback(args.database_url)
        require_loopback(args.redis_url)
        overrides = {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "DATABASE_REPLICA_URL": "",  # the primary only: what `make up` runs
            "PORT": str(free_port()),
            "ASGI_PORT": str(free_port()),
        }
        if args.web_concurrency:
            overrides["WEB_CONCURRENCY"] = str(args.web_concurrency)
        env = local_environment(run_dir, **overrides)
        load_avg = os.getloadavg()
        log(f"run folder {run_dir}; load average {load_avg[0]:.2f} at the start")
        reuse = args.reuse_database and database_exists(args.database_url)
        if not reuse:
            fresh_database(args.database_url)
        flush_redis(args.redis_url)
        t0 = time.monotonic()
        if reuse:
            log("reusing the database of an earlier run (migrate only; prepare.log)")
        else:
            log("preparing: migrate, collectstatic, the full demo store (about 45 s; prepare.log)")
        with output_to(run_dir / "prepare.log"):
            prepare(env, seed=not reuse)
            top_up_stock(env)
            fixture_path = run_dir / "fixture.json"
            fixture = make_fixture(env, fixture_path, customers, args.managers, args.token_seconds)
        log(
            f"fixture: {len(fixture['customers'])} customers, {len(fixture['managers'])} managers, "
            f"{fixture['catalogue']['KG']['count']} + {fixture['catalogue']['US']['count']} "
            f"products; prepared in {time.monotonic() - t0:.0f} s"
        )
    except (SetupError, subprocess.CalledProcessError, OSError) as error:
        log(f"setup failed: {error}")
        return 2
    except KeyboardInterrupt:
        log("interrupted during setup")
        return 130

    import psutil

    database = urlparse(args.database_url).path.lstrip("/")
    topology = Topology(env, log_dir=run_dir)
    sampler = None
    runner = None
    steps: list[dict] = []
    workers = 0
    status = 0
    try:
        topology.start()
        pids = ", ".join(f"{p.name} {p.pid}" for p in topology.processes.values())
        log(f"started {pids}")
        topology.wait_ready(timeout=120)
        roots = {p.pid: _group_name(p.name) for p in topology.processes.values()}
        roots[os.getpid()] = "driver"
        sampler = CpuSampler(roots, database)
        sampler.start()
        runner = Runner(args, topology, sampler, run_dir, fixture_path)
        workers = web_workers(topology)
        log(f"ready: gunicorn with {workers} workers on {topology.base_url}")
        # What the seed left for the worker (report frames, socket checks) goes first.
        backlog, since = outbox_backlog(env["DATABASE_URL"]), time.monotonic()
        while backlog[0] and time.monotonic() - since < max(args.drain, 60):
            topology.check_alive()
            time.sleep(1)
            backlog = outbox_backlog(env["DATABASE_URL"])
        log(f"outbox backlog {backlog[0]} after {time.monotonic() - since:.0f} s")
        if args.warmup > 0:
            log(f"warm-up: {plan[0][1]} users for {args.warmup:.0f} s (not recorded)")
            runner.locust("warmup", plan[0][1], args.warmup)
        failing_in_a_row = 0
        for label, users, target in plan:
            name = label.replace(" ", "-").replace("/", "")
            figures = step(runner, name, users, target, seconds)
            earlier = []
            while (
                not figures["passed"]
                and figures["noise"] > NOISE_LIMIT
                and len(earlier) < args.retry_noisy
            ):
                log(f"{label}: {figures['noise']} % of a core used outside this run: again")
                earlier.append(figures)
                figures = step(runner, f"{name}-again{len(earlier)}", users, target, seconds)
            figures["label"] = label
            figures["noisy_attempts"] = earlier
            steps.append(figures)
            if figures["passed"]:
                failing_in_a_row = 0
                continue
            failing_in_a_row += 1
            far_past = failing_in_a_row >= 2 or figures["p95"] > 2 * args.p95_ms
            if args.find_capacity and not args.keep_going and far_past:
                log("stopping: past the limit")
                break
        if not args.find_capacity and steps and not steps[0]["passed"]:
            status = 1
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        status = 130
    except (RuntimeError, psutil.Error, OSError) as error:
        log(f"FAILED: {error}")
        for name in topology.processes:
            path = run_dir / f"{name}.log"
            tail = path.read_text(errors="replace").splitlines()[-15:] if path.exists() else []
            print(f"--- {name}.log (last {len(tail)} lines) ---", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr, flush=True)
        status = 1
    finally:
        if runner and runner.popen:
            stop_popen(runner.popen)
        if sampler:
            sampler.stop()
        topology.stop(args.stop_timeout)
        log(f"stopped {', '.join(f'{p.name} {p.pid}' for p in topology.processes.values())}")

    if steps:
        report = {
            "started": started.isoformat(timespec="seconds"),
            "git": git_revision(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "machine": {
                "cores": psutil.cpu_count(),
                "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                "python": platform.python_version(),
                "load_average_at_start": [round(x, 2) for x in load_avg],
                "locust": _locust_version(),
            },
            "web_workers": workers,
            "database_reused": reuse,
            "server_environment": {
                name: env[name]
                for name in (
                    "WEB_CONCURRENCY",
                    "GUNICORN_MAX_REQUESTS",
                    "CONN_MAX_AGE",
                    "LOG_LEVEL",
                )
                if name in env
            },
            "pace": args.pace,
            "client": args.client,
            "requests_per_user_per_s": round(per_user, 3),
            "step_seconds": seconds,
            "ramp_seconds": args.ramp,
            "customers": len(fixture["customers"]),
            "managers": len(fixture["managers"]),
            "steps": steps,
            "answer": verdict(steps, args.p95_ms),
            "run_dir": str(run_dir),
        }
        (run_dir / "loadtest.json").write_text(json.dumps(report, indent=2))
        RESULTS.mkdir(parents=True, exist_ok=True)
        table = markdown(report)
        (run_dir / "loadtest.md").write_text(table)
        shutil.copy(run_dir / "loadtest.json", RESULTS / "loadtest.json")
        shutil.copy(run_dir / "loadtest.md", RESULTS / "loadtest.md")
        print(table, flush=True)
        log(f"results in {run_dir}")
    return status


def _group_name(process: str) -> str:
    return {"web": "gunicorn", "asgi": "daphne", "worker": "celery worker", "beat": "celery beat"}[
        process
    ]


def _locust_version() -> str:
    try:
        out = subprocess.run([str(BIN / "locust"), "--version"], capture_output=True, text=True)
        return out.stdout.split()[1] if out.stdout else "unknown"
    except (OSError, IndexError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
