#!/usr/bin/env python
"""Real-time benchmark: 1,000 sockets, order commit → frame on 100 manager sockets.

    .venv/bin/python bench/realtime.py                 # 200 orders at 2/s, 1 then 2 ASGI processes
    .venv/bin/python bench/realtime.py --orders 500 --rate 1
    make bench-realtime BENCH_ARGS="--orders 100 --processes 1"

Issue text: "1,000 concurrent sockets on one ASGI process: memory per socket, and
the p50/p99 from an order commit to the frame arriving on 100 manager sockets of
that market (target p99 < 100 ms on this machine), plus the same with two ASGI
processes behind one Redis."

What one run does, everything on 127.0.0.1:

1. Drops, creates and migrates its own PostgreSQL database (`marque_bench_rt`),
   seeds 100 KG managers (orders, revenue, KG), 900 KG customers and a few
   products with KG prices and stock for ever, then flushes its own Redis
   database (`/5`): cache, Celery broker and channel layer all live there.
2. Starts, as children it owns (stopped by their PIDs in a `finally`, also on
   Ctrl-C, SIGTERM or the global --timeout), one Celery worker and, per
   scenario, one or two daphne processes serving `main.asgi:application`, all
   with `main.settings.local`, DEBUG off, and the same DATABASE_URL / REDIS_URL.
3. Per scenario (1 daphne with 1,000 sockets, then 2 daphnes with 500 each),
   a client process (asyncio, `websockets`) opens one socket per user, each with
   a fresh ticket from `realtime.services.ticket_issue`, and checks each answers
   a ping. Daphne's VmRSS is read before (after one warm-up socket) and after.
4. This process places --orders checkouts at --rate per second, one customer
   each, in-process: `transaction.on_commit(record_commit_time)` is registered
   first inside an outer `transaction.atomic()`, then `order_checkout` runs, so the
   recorded wall time is the commit instant, before the outbox relay's own
   on-commit hook hands the messages to Redis. The client process stamps the
   arrival (time.time(), same clock) of every `order.created` frame on every
   manager socket. Latency = arrival - commit, over every (order, manager socket)
   pair; a frame that never arrives is counted lost, never dropped from the stats.
5. Breaks the path down per order with the outbox row of the
   `realtime.tasks.push_order_created` message (sent_at, started_at) and the
   frame's own `at`: commit → relayed to the broker → a worker starts the task →
   frame built → first socket has it → last socket has it; and every worker
   task written meanwhile (queue wait, run time).
6. Records who used the CPU (daphne, worker, PostgreSQL, Redis, the client,
   this process) idle with the sockets open (--idle) and while placing, and
   samples the channel layer's per-process queue in Redis.

The default pace, 2 orders/s, keeps this 2-core machine about half busy: an
order makes about six worker tasks (notifications, snapshots, frames), so
10/s saturates it and then measures a growing Celery queue, not the path.
The machine's load before the run is measured and flagged when above 15 %.

Prints a Markdown table on stdout (progress on stderr), writes
bench/results/realtime.json and the children's logs next to it. Exit code 0, or
1 when a frame was lost or a socket failed, 2 on a setup problem or the timeout.
A benchmark, never a test: `make test` does not run it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

# The catalogue bench's safe database handling (loopback only, a name with 'bench',
# never marque or test_*) and its BenchError, as bench/checkout.py uses them.
from catalogue import BenchError, check_db_url, recreate_database

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
VENV_BIN = Path(sys.executable).parent  # .venv/bin: celery and daphne live beside python

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/marque_bench_rt"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

WS_PATH = "/ws/v1/events/"
CHANNEL_PREFIX = "marque:rt"  # CHANNEL_LAYERS prefix (main/settings/base.py)
REVENUE_GROUP = "managers.KG.revenue"
PUSH_TASK = "realtime.tasks.push_order_created"
MANAGER_PHONE = "+99670091{:04d}"  # bench managers: +996 700 91x xxx
CUSTOMER_PHONE = "+99670092{:04d}"  # bench customers: +996 700 92x xxx
BIG_STOCK = 10_000_000
WARMUP_ORDERS = 3
QUIET_PCT = 15.0  # machine busy share above which a run is flagged (other load)
PING = '{"type":"ping"}'


class BenchTimeout(BaseException):
    """The global --timeout fired (a BaseException: no `except Exception` swallows it)."""


def log(message: str) -> None:
    print(f"[bench-rt {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def raise_open_files(wanted: int = 65536) -> int:
    """Raise the soft open-file limit (children inherit it): 1,000 sockets on each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(math.ceil(p / 100 * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def summary_ms(values: list[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "n": len(ordered),
        "p50_ms": ms(percentile(ordered, 50)),
        "p95_ms": ms(percentile(ordered, 95)),
        "p99_ms": ms(percentile(ordered, 99)),
        "max_ms": ms(ordered[-1] if ordered else None),
    }


# --- Safe database and Redis ---------------------------------------------------------------


def check_redis_url(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    db = parts.path.lstrip("/") or "0"
    if parts.hostname not in LOOPBACK:
        raise BenchError(f"The bench Redis must be on 127.0.0.1, not {parts.hostname}")
    if not db.isdigit() or int(db) == 0:
        raise BenchError(f"Use a Redis database of its own (e.g. /5), not {db!r}: it is flushed")


def redis_client(redis_url: str):
    import redis

    return redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)


def flush_redis(redis_url: str) -> None:
    check_redis_url(redis_url)
    try:
        redis_client(redis_url).flushdb()
    except Exception as exc:
        raise BenchError(f"Cannot flush Redis {redis_url}: {exc!r}") from exc


def group_size(redis_url: str, group: str) -> int:
    return int(redis_client(redis_url).zcard(f"{CHANNEL_PREFIX}:group:{group}"))


def forget_channel_layer(redis_url: str) -> int:
    """Delete the channel layer's keys (groups, queues) left by stopped daphnes; only those."""
    client = redis_client(redis_url)
    keys = list(client.scan_iter(match=f"{CHANNEL_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


# --- Django in this process ----------------------------------------------------------------


def django_env(db_url: str, redis_url: str) -> dict[str, str]:
    """The environment of this process, the worker, the daphnes and the client process."""
    return {
        "DJANGO_SETTINGS_MODULE": "main.settings.local",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "DEBUG": "false",  # no per-connection query log in long-lived processes
        "PYTHONUNBUFFERED": "1",
    }


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


def seed(
    *, managers: int, customers: int, products: int, opted_out: bool
) -> tuple[list[int], list[int], list[int]]:
    """Managers, customers, priced SKUs; bulk inserts (no signals, no outbox messages).

    `opted_out`: every manager's settings turn new-order notifications off, so an order
    makes no `manager_notification.created` frames (100 per order otherwise).
    """
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from main.markets import CatalogMarket
    from outbox.events import quiet
    from products.models import SKU, Category, Product, ProductPrice
    from store_manager.models import ManagerSettings, StoreManager
    from users.models import User

    password = make_password(None)  # unusable: nobody signs in with these
    with quiet(), transaction.atomic():
        manager_users = User.objects.bulk_create(
            User(phone=MANAGER_PHONE.format(i), market="KG", password=password, first_name="Mgr")
            for i in range(managers)
        )
        StoreManager.objects.bulk_create(
            StoreManager(
                user=user,
                role=StoreManager.Role.MANAGER,
                can_view_orders=True,
                can_view_revenue=True,
                can_manage_kg=True,
                active_market="KG",
                is_active=True,
            )
            for user in manager_users
        )
        if opted_out:
            ManagerSettings.objects.bulk_create(
                ManagerSettings(manager=manager, notify_new_orders=False)
                for manager in StoreManager.objects.filter(user__in=manager_users)
            )
        customer_users = User.objects.bulk_create(
            User(phone=CUSTOMER_PHONE.format(i), market="KG", password=password, first_name="Cus")
            for i in range(customers)
        )
        category = Category.objects.create(
            name="Bench realtime", slug="bench-rt", market=CatalogMarket.ALL
        )
        skus = []
        for i in range(products):
            product = Product.objects.create(
                name=f"Bench RT {i}", slug=f"bench-rt-{i}", category=category, market="KG"
            )
            ProductPrice.objects.create(product=product, market="KG", price=Decimal("1290.00"))
            skus.append(
                SKU.objects.create(
                    product=product, code=f"BENCH-RT-{i}", size="M", color="Black", stock=BIG_STOCK
                )
            )
    return [u.pk for u in manager_users], [u.pk for u in customer_users], [s.pk for s in skus]


def place_order(user, sku_id: int) -> tuple[str, float, float]:
    """One checkout; returns (order number, commit wall time, seconds the checkout took)."""
    from django.db import transaction
    from orders.services.checkout import order_checkout
    from products.services.cart import cart_item_add

    cart_item_add(user=user, market="KG", sku_id=sku_id, quantity=1)
    committed: list[float] = []

    def record_commit_time() -> None:
        committed.append(time.time())

    began = time.time()
    with transaction.atomic():
        # Registered first: it runs right after COMMIT, before the outbox relay's hook.
        transaction.on_commit(record_commit_time)
        result = order_checkout(
            user=user,
            payment_method="cash_on_delivery",
            address={
                "recipient_name": "Bench Buyer",
                "phone": user.phone,
                "city": "Bishkek",
                "street": "Chui",
                "building": "1",
            },
        )
    return result.order.order_number, committed[0], committed[0] - began


# --- Child processes -----------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path
    extra_pids: list[int] = field(default_factory=list)  # e.g. the worker's pool processes

    @property
    def pid(self) -> int:
        return self.process.pid


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start_child(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Child:
    log_file = log_path.open("w")
    process = subprocess.Popen(
        argv,
        cwd=BASE_DIR,
        env=os.environ | env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a terminal's Ctrl-C reaches us only; we stop them
    )
    log_file.close()
    log(f"started {name} (pid {process.pid}), log {log_path}")
    return Child(name=name, process=process, log_path=log_path)


def stop_child(child: Child, timeout: float = 15.0) -> None:
    """SIGTERM by PID, SIGKILL after `timeout`; then any recorded pool process still alive."""
    extra = sorted(set(child.extra_pids) | set(children_of(child.pid)))
    if child.process.poll() is None:
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"{child.name} (pid {child.pid}) did not stop in {timeout:.0f} s: SIGKILL")
            child.process.kill()
            child.process.wait(timeout=5)
    deadline = time.monotonic() + 5
    for pid in extra:
        # Only a process that still runs our program (not a reused PID).
        while "celery" in cmdline(pid) or "daphne" in cmdline(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.1)
    log(f"stopped {child.name} (pid {child.pid}, exit {child.process.returncode})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_daphne(name: str, env: dict[str, str]) -> tuple[Child, int]:
    port = free_port()
    argv = [
        str(VENV_BIN / "daphne"),
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "-v",
        "1",
        "main.asgi:application",
    ]
    return start_child(name, argv, env, RESULTS_DIR / f"realtime-{name}.log"), port


def wait_daphne(child: Child, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/healthz"
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise BenchError(f"{child.name} exited ({child.process.returncode}): {child.log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"{child.name} did not answer {url} within {timeout:.0f} s")


def start_worker(env: dict[str, str], pool: str, concurrency: int, loglevel: str) -> Child:
    argv = [
        str(VENV_BIN / "celery"),
        "-A",
        "main",
        "worker",
        f"--loglevel={loglevel}",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        "--hostname=bench-rt@%h",
        "--queues=realtime,notifications,payments,analytics,default",  # the Procfile's
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return start_child("celery-worker", argv, env, RESULTS_DIR / "realtime-worker.log")


def wait_worker(child: Child, timeout: float = 60.0) -> None:
    """Until the worker answers a control ping over the broker (this process's Celery app)."""
    from main.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise BenchError(f"the worker exited ({child.process.returncode}): {child.log_path}")
        try:
            if app.control.ping(timeout=1.0):
                child.extra_pids = children_of(child.pid)
                return
        except Exception as exc:  # broker not there yet
            log(f"worker ping: {exc!r}")
            time.sleep(0.5)
    raise BenchError(f"the Celery worker did not answer a ping within {timeout:.0f} s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def cpu_seconds_by_pid(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return found


def pids_named(comm: str) -> list[int]:
    """PIDs whose command name is `comm` (read-only: to account for PostgreSQL and Redis CPU)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cpu_snapshot(groups: dict[str, Callable[[], list[int]]]) -> dict:
    """CPU seconds used so far by each process of each group, and by the whole machine.

    Groups are read afresh each time (PostgreSQL starts and ends backends).
    """
    snapshot: dict = {name: cpu_seconds_by_pid(pids()) for name, pids in groups.items()}
    busy, total = machine_busy()
    snapshot["machine"] = (busy, total)
    return snapshot


class ProcessWatcher(threading.Thread):
    """Every process's CPU, read each second: also those that start and end meanwhile."""

    def __init__(self, every: float = 1.0) -> None:
        super().__init__(name="process-watcher", daemon=True)
        self.every = every
        self.stop_event = threading.Event()
        self.first = self._all()  # pid -> CPU seconds when first seen (0 if born since)
        self.last = dict(self.first)
        self.names: dict[int, str] = {}

    @staticmethod
    def _all() -> dict[int, float]:
        return cpu_seconds_by_pid(
            [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
        )

    def run(self) -> None:
        while not self.stop_event.wait(self.every):
            for pid, value in self._all().items():
                if pid not in self.first:
                    self.first[pid] = 0.0
                if pid not in self.names:
                    self.names[pid] = cmdline(pid)[:60].strip()
                self.last[pid] = value

    def busiest(self, ours: set[int], seconds: float, n: int = 3) -> list[str]:
        """The busiest processes that are not the bench's own (another run, a test suite)."""
        self.stop_event.set()
        self.join(timeout=5)
        spent = sorted(
            ((value - self.first[pid], pid) for pid, value in self.last.items() if pid not in ours),
            reverse=True,
        )
        return [
            f"{100 * used / seconds:.0f}% pid {pid} {self.names.get(pid) or cmdline(pid)[:60]}"
            for used, pid in spent[:n]
            if used / seconds >= 0.05
        ]


def cpu_used(before: dict, after: dict, seconds: float, watcher: ProcessWatcher) -> dict:
    """Share of one core each group used between two snapshots; the machine's busy share.

    A process that started in between counts from zero; one that ended is left out.
    """
    used = {}
    for name, now in after.items():
        if name == "machine":
            continue
        spent = sum(value - before[name].get(pid, 0.0) for pid, value in now.items())
        used[name] = round(100 * spent / seconds, 1)
    (busy0, total0), (busy1, total1) = before["machine"], after["machine"]
    busy_pct = 100 * (busy1 - busy0) / max(total1 - total0, 1)
    # Whatever else ran meanwhile (another test suite...), in % of one core: ≈ 0 when quiet.
    ours = sum(used.values())
    used["other (processes, kernel)"] = round(busy_pct * (os.cpu_count() or 1) - ours, 1)
    used["machine busy % (all cores)"] = round(busy_pct, 1)
    # The bench's own processes, and the pool processes and backends they had meanwhile.
    ours = {pid for name, pids in after.items() if name != "machine" for pid in pids}
    ours |= {pid for name, pids in before.items() if name != "machine" for pid in pids}
    used["busiest others"] = watcher.busiest(ours, seconds)
    return used


class BacklogSampler(threading.Thread):
    """Samples the channel layer's per-process queues (`<prefix>specific.<process>!`) in Redis.

    channels_redis keeps one sorted set per ASGI process for all its sockets, capped at
    the layer's `capacity`: a group_send beyond it is dropped for every socket there.
    """

    def __init__(self, redis_url: str, capacity: int, every: float = 0.05) -> None:
        super().__init__(name="backlog-sampler", daemon=True)
        self.client = redis_client(redis_url)
        self.capacity = capacity
        self.every = every
        self.stop_event = threading.Event()
        self.max_backlog: dict[str, int] = {}
        self.max_inflight = 0
        self.samples = 0
        self.full_samples = 0
        self.error: str | None = None

    def run(self) -> None:
        pattern = f"{CHANNEL_PREFIX}specific.*"
        while not self.stop_event.wait(self.every):
            try:
                for key in self.client.scan_iter(match=pattern, count=1000):
                    size = int(self.client.zcard(key))
                    name = key.decode()
                    if name.endswith("!"):
                        self.max_backlog[name] = max(self.max_backlog.get(name, 0), size)
                        self.full_samples += size >= self.capacity
                    else:  # `…!$inflight`: popped, not yet confirmed (put back on the next pop)
                        self.max_inflight = max(self.max_inflight, size)
                self.samples += 1
            except Exception as exc:  # Redis busy: a missed sample, not a failed run
                self.error = repr(exc)

    def stop(self) -> dict:
        self.stop_event.set()
        self.join(timeout=5)
        return {
            "max_backlog_per_process": sorted(self.max_backlog.values(), reverse=True),
            "capacity": self.capacity,
            "samples": self.samples,
            "samples_at_capacity": self.full_samples,
            "max_inflight": self.max_inflight,
            "error": self.error,
        }


GIT_STATUS = ["git", "status", "--porcelain", "--untracked-files=no"]


def git_revision() -> str:
    """HEAD, `+dirty` when tracked code differs from it (bench/, docs/, Makefile aside)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        # The code under test: the bench's own files and the docs do not count.
        dirty = git(*GIT_STATUS[1:], "--", ".", ":!bench", ":!docs", ":!Makefile")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def background_load(seconds: float = 3.0) -> float:
    """Share of all cores busy over `seconds`, before this bench starts anything (percent)."""
    busy0, total0 = machine_busy()
    time.sleep(seconds)
    busy1, total1 = machine_busy()
    return round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1)


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]  # guest is in user
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal


# --- The client process (asyncio + websockets) ---------------------------------------------


@dataclass
class Sock:
    index: int
    server: int
    manager: bool
    ws: object
    task: asyncio.Task | None = None
    arrivals: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    types: Counter = field(default_factory=Counter)
    closed: str | None = None


class Client:
    """Holds the sockets; answers commands from the bench process over a pipe."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.sockets: list[Sock] = []
        self.frame_at: dict[str, str] = {}  # order number -> the frame's own `at`

    async def open(self, specs: list[dict], concurrency: int) -> dict:
        from asgiref.sync import sync_to_async
        from realtime.services import ticket_issue
        from users.models import User
        from websockets.asyncio.client import connect

        users = await sync_to_async(User.objects.in_bulk)([s["user_id"] for s in specs])
        gate = asyncio.Semaphore(concurrency)
        errors: list[str] = []
        began = time.monotonic()

        async def open_one(spec: dict) -> None:
            async with gate:
                try:
                    # A fresh ticket right before its socket: tickets live 30 s.
                    ticket = ticket_issue(user=users[spec["user_id"]])
                    ws = await connect(
                        f"{spec['url']}?ticket={ticket}",
                        ping_interval=None,
                        compression=None,
                        open_timeout=30,
                        close_timeout=5,
                    )
                    await ws.send(PING)
                    while True:
                        raw = await asyncio.wait_for(ws.recv(), timeout=30)
                        if _loads(raw).get("type") == "pong":
                            break
                except Exception as exc:
                    errors.append(f"{spec['user_id']}: {exc!r}")
                    return
                sock = Sock(len(self.sockets), spec["server"], spec["manager"], ws)
                self.sockets.append(sock)
                sock.task = asyncio.create_task(self.read(sock))

        await asyncio.gather(*(open_one(spec) for spec in specs))
        return {
            "opened": len(specs) - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
            "seconds": round(time.monotonic() - began, 2),
        }

    async def read(self, sock: Sock) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in sock.ws:
                arrived = time.time()
                frame = _loads(raw)
                kind = frame.get("type")
                sock.types[kind] += 1
                if kind == "order.created":
                    number = frame["data"]["order_number"]
                    if number in sock.arrivals:
                        sock.duplicates += 1
                    else:
                        sock.arrivals[number] = arrived
                    self.frame_at.setdefault(number, frame.get("at"))
        except ConnectionClosed as exc:
            sock.closed = repr(exc)
        except Exception as exc:
            sock.closed = f"reader failed: {exc!r}"
        else:
            sock.closed = sock.closed or f"closed: {sock.ws.close_code}"

    def count(self) -> dict:
        managers = [s for s in self.sockets if s.manager]
        return {
            "order_frames": sum(len(s.arrivals) for s in managers),
            "open": sum(1 for s in self.sockets if s.closed is None),
        }

    def collect(self) -> dict:
        managers = [s for s in self.sockets if s.manager]
        types_managers: Counter = Counter()
        types_customers: Counter = Counter()
        for sock in self.sockets:
            (types_managers if sock.manager else types_customers).update(sock.types)
        return {
            "managers": [{"server": s.server, "arrivals": s.arrivals} for s in managers],
            "frame_at": self.frame_at,
            "duplicates": sum(s.duplicates for s in managers),
            "closed_early": [s.closed for s in self.sockets if s.closed is not None][:5],
            "closed_early_count": sum(1 for s in self.sockets if s.closed is not None),
            "frame_types_managers": dict(types_managers),
            "frame_types_customers": dict(types_customers),
        }

    async def close_all(self, concurrency: int) -> dict:
        gate = asyncio.Semaphore(concurrency)

        async def close_one(sock: Sock) -> None:
            async with gate:
                with contextlib.suppress(Exception):  # already gone: nothing to close
                    await asyncio.wait_for(sock.ws.close(), timeout=10)
                if sock.task is not None:
                    sock.task.cancel()

        sockets, self.sockets, self.frame_at = self.sockets, [], {}
        await asyncio.gather(*(close_one(s) for s in sockets))
        return {"closed": len(sockets)}

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await loop.run_in_executor(None, _poll, self.conn, 1.0)
            if message is None:
                if os.getppid() == 1:  # the bench process is gone
                    return
                continue
            command, payload = message
            if command == "open":
                reply = await self.open(payload["specs"], payload["concurrency"])
            elif command == "count":
                reply = self.count()
            elif command == "collect":
                reply = self.collect()
            elif command == "close":
                reply = await self.close_all(payload["concurrency"])
            elif command == "stop":
                await self.close_all(50)
                self.conn.send({"stopped": True})
                return
            else:
                reply = {"error": f"unknown command {command}"}
            self.conn.send(reply)


def _loads(raw: str | bytes) -> dict:
    import orjson

    return orjson.loads(raw)


def _poll(conn, timeout: float):
    try:
        if conn.poll(timeout):
            return conn.recv()
    except (EOFError, OSError):
        return ("stop", None)
    return None


def client_main(conn, env: dict[str, str]) -> None:
    """Entry point of the client process (spawned: nothing inherited but the pipe)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process stops us
    raise_open_files()
    django_setup(env)
    asyncio.run(Client(conn).serve())


class ClientHandle:
    """The bench process's side of the client process."""

    def __init__(self, env: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(
            target=client_main, args=(child_conn, env), name="bench-rt-client", daemon=True
        )
        self.process.start()
        log(f"started the client process (pid {self.process.pid})")

    def call(self, command: str, payload=None, timeout: float = 120.0):
        self.conn.send((command, payload))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.conn.poll(0.5):
                return self.conn.recv()
            if not self.process.is_alive():
                raise BenchError(f"the client process died (exit {self.process.exitcode})")
        raise BenchError(f"the client process did not answer {command!r} in {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(BenchError, OSError, EOFError):
                self.call("stop", timeout=30)
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()  # its own PID
            self.process.join(timeout=5)
        log(f"stopped the client process (pid {self.process.pid})")


# --- One scenario --------------------------------------------------------------------------


def run_scenario(
    *,
    name: str,
    servers: int,
    args,
    env: dict[str, str],
    client: ClientHandle,
    worker: Child,
    managers: list[int],
    customers: list[int],
    skus: list[int],
    owned: list[Child],
    first_customer: int,
) -> dict:
    from users.models import User

    daphnes = []
    for i in range(servers):
        child, port = start_daphne(f"{name}-daphne-{i + 1}", env)
        owned.append(child)
        daphnes.append((child, port))
    for child, port in daphnes:
        wait_daphne(child, port)
    urls = [f"ws://127.0.0.1:{port}{WS_PATH}" for _, port in daphnes]

    # One socket per process first (imports, Redis pools), closed, then the baseline RSS.
    warm = [
        {"url": url, "user_id": customers[0], "manager": False, "server": i}
        for i, url in enumerate(urls)
    ]
    opened = client.call("open", {"specs": warm, "concurrency": 10})
    if opened["failed"]:
        raise BenchError(f"warm-up socket failed: {opened['errors']}")
    client.call("close", {"concurrency": 10})
    time.sleep(1.0)
    rss_before = [rss_kib(child.pid) for child, _ in daphnes]

    specs = [
        {"url": urls[i % servers], "user_id": uid, "manager": True, "server": i % servers}
        for i, uid in enumerate(managers)
    ] + [
        {"url": urls[i % servers], "user_id": uid, "manager": False, "server": i % servers}
        for i, uid in enumerate(customers)
    ]
    log(f"{name}: opening {len(specs)} sockets on {servers} daphne process(es) …")
    opened = client.call("open", {"specs": specs, "concurrency": args.open_concurrency}, 300)
    log(f"{name}: {opened['opened']} open, {opened['failed']} failed in {opened['seconds']} s")
    time.sleep(2.0)
    rss_after = [rss_kib(child.pid) for child, _ in daphnes]
    per_process = [len([s for s in specs if s["server"] == i]) for i in range(servers)]
    members = group_size(args.redis_url, REVENUE_GROUP)
    log(f"{name}: RSS {rss_before} → {rss_after} KiB; {members} sockets in {REVENUE_GROUP}")

    groups = {
        "daphne": lambda: [c.pid for c, _ in daphnes],
        "celery worker": lambda: [worker.pid, *children_of(worker.pid)],
        "postgres": lambda: pids_named("postgres"),
        "redis": lambda: pids_named("redis-server"),
        "client": lambda: [client.process.pid],
        "bench (checkouts)": lambda: [os.getpid()],
    }
    before, watcher = cpu_snapshot(groups), ProcessWatcher()
    watcher.start()
    time.sleep(args.idle)
    idle_cpu = cpu_used(before, cpu_snapshot(groups), args.idle, watcher)
    log(f"{name}: idle {args.idle:.0f} s with the sockets open, % of one core: {idle_cpu}")

    # The buyers: customers in turn (each has its own socket: it hears its notification).
    buyers = User.objects.in_bulk(customers)
    buyer_ids = customers[first_customer:] + customers[:first_customer]

    def order(i: int) -> tuple[str, float, float]:
        return place_order(buyers[buyer_ids[i % len(buyer_ids)]], skus[i % len(skus)])

    def wait_frames(expected: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            state = client.call("count")
            if state["order_frames"] >= expected or time.monotonic() > deadline:
                return state
            time.sleep(0.25)

    # Warm-up orders (not measured): worker processes, pools and code paths.
    warm_numbers = []
    for i in range(WARMUP_ORDERS):
        warm_numbers.append(order(i)[0])
        time.sleep(0.2)
    wait_frames(WARMUP_ORDERS * len(managers), 15)
    time.sleep(1.0)

    log(f"{name}: {args.orders} orders at {args.rate}/s …")
    worker_log_offset = worker.log_path.stat().st_size
    before, watcher = cpu_snapshot(groups), ProcessWatcher()
    watcher.start()
    from django.conf import settings

    capacity = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("capacity", 100)
    sampler = BacklogSampler(args.redis_url, capacity)
    sampler.start()
    commits: dict[str, float] = {}
    checkout_seconds: list[float] = []
    started = time.monotonic()
    for i in range(args.orders):
        due = started + i / args.rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        number, committed, took = order(WARMUP_ORDERS + i)
        commits[number] = committed
        checkout_seconds.append(took)
    placing = time.monotonic() - started
    busy_cpu = cpu_used(before, cpu_snapshot(groups), placing, watcher)
    expected_total = (WARMUP_ORDERS + args.orders) * len(managers)
    state = wait_frames(expected_total, args.drain)
    phase = time.monotonic() - started
    backlog = sampler.stop()
    log(f"{name}: channel-layer backlog {backlog}")
    log(f"{name}: placed in {placing:.1f} s; {state['order_frames']}/{expected_total} frames")

    collected = client.call("collect", timeout=120)
    closed = client.call("close", {"concurrency": args.open_concurrency}, 300)
    time.sleep(1.0)
    left_in_group = group_size(args.redis_url, REVENUE_GROUP)
    # channels_redis logs a group message it drops (the process's queue full) at INFO only.
    with worker.log_path.open("rb") as worker_log:
        worker_log.seek(worker_log_offset)
        dropped = [
            line.decode(errors="replace").strip()
            for line in worker_log
            if b"over capacity in group" in line
        ]
    backlog["over_capacity_log_lines"] = len(dropped)
    backlog["over_capacity_revenue_group"] = sum(REVENUE_GROUP in line for line in dropped)
    backlog["over_capacity_examples"] = dropped[:3]
    for child, _ in daphnes:
        stop_child(child)
        owned.remove(child)
    stale = forget_channel_layer(args.redis_url)

    stage_summary, per_order = breakdown(commits, collected)
    result = evaluate(
        name=name,
        servers=servers,
        commits=commits,
        collected=collected,
        managers=len(managers),
    )
    result.update(
        {
            "sockets": {
                "requested": len(specs),
                "opened": opened["opened"],
                "failed": opened["failed"],
                "errors": opened["errors"],
                "open_seconds": opened["seconds"],
                "per_process": per_process,
                "revenue_group_members": members,
                "left_in_group_after_close": left_in_group,
                "channel_layer_keys_deleted_after": stale,
                "closed_by_client": closed["closed"],
                "closed_early_count": collected["closed_early_count"],
                "closed_early": collected["closed_early"],
            },
            "memory": {
                "rss_before_kib": rss_before,
                "rss_after_kib": rss_after,
                "kib_per_socket": [
                    round((after - before) / n, 1)
                    for before, after, n in zip(rss_before, rss_after, per_process, strict=True)
                ],
            },
            "orders": {
                "placed": len(commits),
                "rate_asked": args.rate,
                "rate_achieved": round(len(commits) / placing, 2) if placing else None,
                "checkout": summary_ms(checkout_seconds),
            },
            "cpu_pct_of_one_core_idle": idle_cpu,
            "cpu_pct_of_one_core_placing": busy_cpu,
            "phase_seconds": round(phase, 1),
            "channel_layer": backlog,
            "frame_types_managers": collected["frame_types_managers"],
            "frame_types_customers": collected["frame_types_customers"],
            "breakdown": stage_summary,
            "per_order": per_order,
            "worker_tasks": worker_tasks(min(commits.values()) - 1, max(commits.values()) + 1),
        }
    )
    return result


def evaluate(*, name: str, servers: int, commits: dict, collected: dict, managers: int) -> dict:
    latencies: list[float] = []
    per_server: dict[int, list[float]] = {}
    lost = 0
    for sock in collected["managers"]:
        arrivals = sock["arrivals"]
        for number, committed in commits.items():
            arrived = arrivals.get(number)
            if arrived is None:
                lost += 1
                continue
            latencies.append(arrived - committed)
            per_server.setdefault(sock["server"], []).append(arrived - committed)
    expected = len(commits) * managers
    received = expected - lost
    # Whole orders missing on every socket of a process point at the channel layer's
    # per-process queue; scattered misses at one socket's own buffer.
    missing: Counter = Counter()
    for sock in collected["managers"]:
        for number in commits:
            if number not in sock["arrivals"]:
                missing[(number, sock["server"])] += 1
    # Saturation check: a system keeping up shows the same p50 at the start and at the end.
    ordered = list(commits)
    quarter = max(len(ordered) // 4, 1)
    head, tail = set(ordered[:quarter]), set(ordered[-quarter:])

    def p50_of(numbers: set[str]) -> float | None:
        values = sorted(
            sock["arrivals"][n] - commits[n]
            for sock in collected["managers"]
            for n in numbers
            if n in sock["arrivals"]
        )
        value = percentile(values, 50)
        return None if value is None else round(value * 1000, 1)

    return {
        "scenario": name,
        "asgi_processes": servers,
        "manager_sockets": len(collected["managers"]),
        "frames_expected": expected,
        "frames_received": received,
        "frames_lost": lost,
        "duplicates": collected["duplicates"],
        "lost_by_order_and_process": [
            {"order": number, "process": server, "sockets_missing": count}
            for (number, server), count in sorted(missing.items())
        ][:50],
        "latency": summary_ms(latencies),
        "latency_per_process": {str(k): summary_ms(v) for k, v in sorted(per_server.items())},
        "p50_first_quarter_ms": p50_of(head),
        "p50_last_quarter_ms": p50_of(tail),
    }


def worker_tasks(since: float, until: float) -> dict:
    """Every outbox task written while the orders were placed: queue wait and run time."""
    from outbox.models import OutboxMessage

    rows = OutboxMessage.objects.filter(
        created_at__gte=datetime.fromtimestamp(since, UTC),
        created_at__lte=datetime.fromtimestamp(until, UTC),
    ).values("task", "sent_at", "started_at", "completed_at")
    waits: dict[str, list[float]] = {}
    runs: dict[str, list[float]] = {}
    unfinished: Counter = Counter()
    counts: Counter = Counter()
    for row in rows:
        task = row["task"]
        counts[task] += 1
        waits.setdefault(task, [])
        runs.setdefault(task, [])
        if row["sent_at"] and row["started_at"]:
            waits[task].append((row["started_at"] - row["sent_at"]).total_seconds())
        if row["started_at"] and row["completed_at"]:
            runs[task].append((row["completed_at"] - row["started_at"]).total_seconds())
        else:
            unfinished[task] += 1
    return {
        task: {
            "count": counts[task],
            "wait": summary_ms(waits[task]),
            "run": summary_ms(runs[task]),
            "run_total_s": round(sum(runs[task]), 2),
            "unfinished": unfinished[task],
        }
        for task in sorted(waits)
    }


def breakdown(commits: dict[str, float], collected: dict) -> tuple[dict, list[dict]]:
    """Per order: commit → relayed → worker start → frame built → first / last socket.

    Returns the stages' percentiles over the orders, and each order's own figures (ms
    after its commit; `at_s`: seconds after the first commit) for reading the tail.
    """
    from orders.models import Order
    from outbox.models import OutboxMessage

    numbers = {
        row["pk"]: row["order_number"]
        for row in Order.objects.filter(order_number__in=list(commits)).values("pk", "order_number")
    }
    stages: dict[str, list[float]] = {
        "commit → relayed to broker (sent_at)": [],
        "relayed → worker starts task (started_at)": [],
        "task start → frame built (`at`)": [],
        "frame built → first socket has it": [],
        "first → last manager socket": [],
        "commit → worker starts task": [],
    }
    messages = OutboxMessage.objects.filter(
        task=PUSH_TASK, kwargs__order_id__in=list(numbers)
    ).values("kwargs", "sent_at", "started_at")
    first_commit = min(commits.values())
    per_order = []

    def ms(value: float | None, committed: float) -> float | None:
        return None if value is None else round((value - committed) * 1000, 1)

    for message in messages:
        number = numbers.get(message["kwargs"]["order_id"])
        if number is None or message["sent_at"] is None or message["started_at"] is None:
            continue
        committed = commits[number]
        sent = message["sent_at"].timestamp()
        began = message["started_at"].timestamp()
        stages["commit → relayed to broker (sent_at)"].append(sent - committed)
        stages["relayed → worker starts task (started_at)"].append(began - sent)
        stages["commit → worker starts task"].append(began - committed)
        at = collected["frame_at"].get(number)
        built = datetime.fromisoformat(at).timestamp() if at else None
        arrivals = [s["arrivals"][number] for s in collected["managers"] if number in s["arrivals"]]
        if built is not None:
            stages["task start → frame built (`at`)"].append(built - began)
            if arrivals:
                stages["frame built → first socket has it"].append(min(arrivals) - built)
        if arrivals:
            stages["first → last manager socket"].append(max(arrivals) - min(arrivals))
        last_by_process: dict[int, float] = {}
        for sock in collected["managers"]:
            if number in sock["arrivals"]:
                server = sock["server"]
                last_by_process[server] = max(
                    last_by_process.get(server, 0.0), sock["arrivals"][number]
                )
        per_order.append(
            {
                "order": number,
                "at_s": round(committed - first_commit, 2),
                "commit_epoch": round(committed, 3),
                "sent": ms(sent, committed),
                "started": ms(began, committed),
                "built": ms(built, committed),
                "first": ms(min(arrivals) if arrivals else None, committed),
                "last": ms(max(arrivals) if arrivals else None, committed),
                "last_by_process": {str(k): ms(v, committed) for k, v in last_by_process.items()},
            }
        )
    per_order.sort(key=lambda row: row["at_s"])
    return {stage: summary_ms(values) for stage, values in stages.items()}, per_order


# --- Report --------------------------------------------------------------------------------


def fmt(value) -> str:
    return "-" if value is None else f"{value:,}"


def report(results: list[dict], meta: dict) -> str:
    lines = [
        f"## Real-time benchmark ({meta['when']}, {meta['cpus']} CPUs, {meta['orders']} orders "
        f"at {meta['rate']}/s, {meta['managers']} manager + {meta['customers']} customer sockets)",
        "",
        f"Machine busy before the run: {meta['busy_before_pct']} % of all cores"
        + (" (**not quiet: figures skewed**)" if meta["busy_before_pct"] > QUIET_PCT else "")
        + f"; worker {meta['worker']}; new-order manager notifications "
        + ("on" if meta["manager_notifications"] else "**off** (--no-manager-notifications)")
        + f"; code {meta['code']}; load average at the end {meta['loadavg']}.",
        "",
        "Latency: order commit (on_commit, this process) → `order.created` frame received on "
        "each manager socket (client process), over every (order, manager socket) pair.",
        "",
        "| ASGI processes | sockets open | KiB per socket | frames received / expected | lost "
        "| p50 ms | p95 ms | p99 ms | max ms | p50 first / last quarter | p99 < 100 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lat = r["latency"]
        met = lat["p99_ms"] is not None and lat["p99_ms"] < 100 and r["frames_lost"] == 0
        lines.append(
            f"| {r['asgi_processes']} | {r['sockets']['opened']:,} / {r['sockets']['requested']:,} "
            f"| {' / '.join(str(x) for x in r['memory']['kib_per_socket'])} "
            f"| {r['frames_received']:,} / {r['frames_expected']:,} | {r['frames_lost']:,} "
            f"| {fmt(lat['p50_ms'])} | {fmt(lat['p95_ms'])} | {fmt(lat['p99_ms'])} "
            f"| {fmt(lat['max_ms'])} | {fmt(r['p50_first_quarter_ms'])} / "
            f"{fmt(r['p50_last_quarter_ms'])} | {'yes' if met else '**no**'} |"
        )
    for r in results:
        lines += [
            "",
            f"### {r['asgi_processes']} ASGI process(es): where the time goes (per order, "
            "push_order_created's outbox row and frame)",
            "",
            "| stage | p50 ms | p95 ms | p99 ms | max ms |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for stage, s in r["breakdown"].items():
            lines.append(
                f"| {stage} | {fmt(s['p50_ms'])} | {fmt(s['p95_ms'])} | {fmt(s['p99_ms'])} "
                f"| {fmt(s['max_ms'])} |"
            )
        lines += [
            "",
            "| worker task (all written while placing) | count | wait p50 ms | wait p99 ms "
            "| run p50 ms | run p99 ms | run total s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for task, t in r["worker_tasks"].items():
            lines.append(
                f"| {task} | {t['count']} | {fmt(t['wait']['p50_ms'])} "
                f"| {fmt(t['wait']['p99_ms'])} | {fmt(t['run']['p50_ms'])} "
                f"| {fmt(t['run']['p99_ms'])} | {t['run_total_s']} |"
            )
        slowest = sorted(r["per_order"], key=lambda row: row["last"] or 0, reverse=True)[:5]
        lines += [
            "",
            "| slowest orders: ms after commit | at s | relayed | task start | frame built "
            "| first socket | last socket | last per process |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for row in slowest:
            lines.append(
                f"| {row['order']} | {row['at_s']} | {fmt(row['sent'])} | {fmt(row['started'])} "
                f"| {fmt(row['built'])} | {fmt(row['first'])} | {fmt(row['last'])} "
                f"| {row['last_by_process']} |"
            )
        co = r["orders"]["checkout"]
        lines += [
            "",
            f"Orders placed {r['orders']['placed']} at {r['orders']['rate_achieved']}/s "
            f"(checkout call p50 {fmt(co['p50_ms'])} ms, p99 {fmt(co['p99_ms'])} ms); "
            f"RSS {r['memory']['rss_before_kib']} → {r['memory']['rss_after_kib']} KiB; "
            f"CPU while placing, % of one core: {r['cpu_pct_of_one_core_placing']}; idle with "
            f"the sockets open: {r['cpu_pct_of_one_core_idle']}; channel-layer queue per "
            f"process: max {r['channel_layer']['max_backlog_per_process']} of "
            f"{r['channel_layer']['capacity']}; frames on manager sockets "
            f"{r['frame_types_managers']}; duplicates {r['duplicates']}; sockets closed early "
            f"{r['sockets']['closed_early_count']}.",
        ]
    return "\n".join(lines)


# --- Main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--orders", type=int, default=200, help="measured orders per scenario")
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        help="orders per second (each makes ~6 worker tasks: 10/s saturates 2 cores)",
    )
    parser.add_argument("--managers", type=int, default=100)
    parser.add_argument("--customers", type=int, default=900)
    parser.add_argument("--products", type=int, default=5)
    parser.add_argument(
        "--processes", default="1,2", help="ASGI process counts, one scenario each (default 1,2)"
    )
    parser.add_argument(
        "--no-manager-notifications",
        action="store_true",
        help="managers opt out of new-order notifications: no 100 extra frames per order",
    )
    parser.add_argument("--worker-pool", default="prefork")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--worker-loglevel",
        default="WARNING",
        help="INFO also logs channels_redis's 'channels over capacity' (frames dropped)",
    )
    parser.add_argument("--open-concurrency", type=int, default=50, help="sockets opening at once")
    parser.add_argument(
        "--idle", type=float, default=10.0, help="seconds measured idle with the sockets open"
    )
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for late frames")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help=f"wait up to this many seconds for the machine to be under {QUIET_PCT:.0f} %% busy",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="global limit, seconds")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "realtime.json")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.rate <= 0 or args.managers < 1:
        parser.error("--orders, --rate and --managers must be positive")
    servers_list = [int(x) for x in args.processes.split(",") if x.strip()]

    def on_alarm(signum, frame):
        raise BenchTimeout()

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(max(int(args.timeout + args.wait_quiet), 1))

    RESULTS_DIR.mkdir(exist_ok=True)
    nofile = raise_open_files()
    owned: list[Child] = []
    client: ClientHandle | None = None
    worker: Child | None = None
    began = time.monotonic()
    try:
        check_db_url(args.db_url)
        check_redis_url(args.redis_url)
        quiet_until = time.monotonic() + args.wait_quiet
        busy = background_load()
        while busy > QUIET_PCT and time.monotonic() < quiet_until:
            log(f"machine {busy} % busy before the bench starts: waiting for it to be quiet")
            busy = background_load(10.0)
        if busy > QUIET_PCT:
            log(f"WARNING: the machine is {busy} % busy before the bench starts: figures skewed")
        env = django_env(args.db_url, args.redis_url)
        log(f"open-file limit {nofile}; recreating {args.db_url.rsplit('/', 1)[-1]} …")
        recreate_database(args.db_url)
        django_setup(env)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        managers, customers, skus = seed(
            managers=args.managers,
            customers=args.customers,
            products=args.products,
            opted_out=args.no_manager_notifications,
        )
        log(f"seeded {len(managers)} managers, {len(customers)} customers, {len(skus)} SKUs")
        flush_redis(args.redis_url)

        worker = start_worker(env, args.worker_pool, args.worker_concurrency, args.worker_loglevel)
        owned.append(worker)
        wait_worker(worker)
        log(f"worker ready (pool processes {worker.extra_pids})")
        client = ClientHandle(env)

        results = []
        for n, servers in enumerate(servers_list):
            results.append(
                run_scenario(
                    name=f"{servers}proc",
                    servers=servers,
                    args=args,
                    env=env,
                    client=client,
                    worker=worker,
                    managers=managers,
                    customers=customers,
                    skus=skus,
                    owned=owned,
                    first_customer=(n * 97) % len(customers),
                )
            )
            r = results[-1]
            log(
                f"{servers} process(es): p50 {r['latency']['p50_ms']} ms, p99 "
                f"{r['latency']['p99_ms']} ms, lost {r['frames_lost']}/{r['frames_expected']}"
            )
        meta = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "orders": args.orders,
            "rate": args.rate,
            "managers": len(managers),
            "customers": len(customers),
            "worker": f"{args.worker_pool}, concurrency {args.worker_concurrency}",
            "manager_notifications": not args.no_manager_notifications,
            "database": args.db_url.rsplit("/", 1)[-1],
            "redis": args.redis_url,
            "seconds": round(time.monotonic() - began, 1),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "busy_before_pct": busy,
            "code": git_revision(),
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(report(results, meta))
        log(f"done in {meta['seconds']} s; JSON in {args.output}")
        bad = [
            r
            for r in results
            if r["frames_lost"] or r["sockets"]["failed"] or r["sockets"]["closed_early_count"]
        ]
        return 1 if bad else 0
    except BenchError as exc:
        log(f"setup problem: {exc}")
        return 2
    except BenchTimeout:
        log(f"global timeout ({args.timeout:.0f} s) reached: stopping")
        return 2
    except KeyboardInterrupt:
        log("interrupted: stopping")
        return 130
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        if client is not None:
            client.stop()
        for child in reversed(owned):
            stop_child(child)


if __name__ == "__main__":
    sys.exit(main())
