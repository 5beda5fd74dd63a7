#!/usr/bin/env python
"""Fault drills (`make faults`): the production topology under load, one fault after another.

    .venv/bin/python ops/faults.py                       # every drill, about 6-8 minutes
    .venv/bin/python ops/faults.py --drills broker,worker --clients 3

An operator's drill, never part of `make test`. It starts private instances of its
own, on spare loopback ports, and never touches the shared PostgreSQL (5432) or
Redis (6379): a PostgreSQL cluster (initdb + pg_ctl in a temporary directory, as
the `postgres` user when run as root), a Redis for the cache and the channel layer
(`REDIS_URL`) and a Redis for the Celery broker (`CELERY_BROKER_URL`), both
without persistence. It migrates and seeds the small demo store (`--full-seed`:
the full one), tops up the stock of a few SKUs, starts the Procfile's topology
(ops/up.py: gunicorn, daphne, a Celery worker, beat; production settings,
`LOCAL_RUN`), signs customers and the demo KG manager in with the SMS codes, and
keeps clients busy for the whole run (catalogue, product pages, cart, checkout
with an Idempotency-Key, cancellations; the manager confirms, ships, delivers,
cancels and resumes; a readiness probe; the manager's WebSocket). Then, one after
another, each followed by a recovery check and the outbox's drain:

- `redis`: after a burst of checkouts (work queued in the broker), both Redis
  stopped for --outage s (the single-Redis case: cache, channel layer and broker
  at once), then started again empty;
- `redis-cache`: the cache Redis alone (cache, channel layer), the broker up;
- `postgres`: PostgreSQL stopped (`pg_ctl stop -m fast`, its sessions cut) under
  load, started again --pg-down s later; the app is not restarted;
- `worker`: the Celery worker killed with -9 (its whole process group: main
  process and pool children) right after a burst of checkouts while a task is
  running, started again --worker-down s later (`Topology.restart`);
- `broker`: the broker Redis alone stopped for --outage s while checkouts go on
  (they must answer 201, their work waits in the outbox), started again empty.

During each fault one sign-in code is requested for a new phone, and a customer
whose cart was filled before the fault checks out (sent again with the same
Idempotency-Key after it until the answer is definite).

Every response is recorded (status, content type, JSON `code`, `Retry-After`, HTML
or traceback in the body). Afterwards it checks, by SQL on the private database:
stock + units sold conserved per SKU, no order without items, one order per
Idempotency-Key, no duplicate snapshot row, every order event's customer and
manager notifications exactly once, an SMS per shipped/delivered event, every
outbox message completed, and the snapshots equal a recomputation from the
orders. Results: `bench/results/faults/results.json` and `summary.md` (with the
processes' logs); exit status 1 if a client-facing rule or an invariant failed.

Timing settings of the run (environment of every process; docs/OPERATIONS.md):
`CELERY_TASK_TIME_LIMIT=20` (soft 15, so the visibility timeout is 80 s and a
killed worker's task comes back within the run), `OUTBOX_REDELIVER_AFTER_SECONDS=30`
(what a Redis restarted empty lost is sent again after 30 s, not five minutes; the
load is light enough that no message waits that long in a healthy queue),
`OUTBOX_RELAY_SECONDS=10` (a relay run stays under the soft limit).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faults_checks as checks
from faults_infra import PrivatePostgres, PrivateRedis, broker_backlog
from faults_load import SUCCESS, Api, Hit, Load, Recorder, sign_in
from up import BIN, ROOT, Topology, free_port, http_status, local_environment, prepare

DRILLS = ("redis", "redis-cache", "postgres", "worker", "broker")
TITLES = {
    "redis": "Redis stopped (cache, channel layer and broker), restarted empty",
    "redis-cache": "cache Redis stopped (broker up), restarted empty",
    "postgres": "PostgreSQL stopped (fast: sessions cut) and started again",
    "worker": "Celery worker killed -9 mid-task (process group), restarted",
    "broker": "broker Redis stopped at checkout (cache up), restarted empty",
}
DRILL_SETTINGS = {
    "CELERY_TASK_TIME_LIMIT": "20",
    "CELERY_TASK_SOFT_TIME_LIMIT": "15",
    "OUTBOX_REDELIVER_AFTER_SECONDS": "30",
    "OUTBOX_RELAY_SECONDS": "10",
    "LOG_LEVEL": "INFO",
}
MAX_DELIVERIES = 5  # OUTBOX_MAX_DELIVERIES, the settings' default
DATABASE = "marque"
CUSTOMER_PHONES = [f"+99670077701{i}" for i in range(10)]
BURST_PHONE = "+996700777020"
MANAGER_PHONE = "+996700000003"  # the demo store's KG manager
AFTER = 30.0  # seconds after a fault looked at as its aftermath (or until the next drill)


@contextlib.contextmanager
def quiet(path: Path):
    """This process's stdout and stderr (and its children's) go to `path` meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as target:
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def log(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", flush=True)


def utc(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


@dataclass
class Drill:
    name: str
    title: str
    start: float | None = None  # seconds since the recorder's t0
    end: float | None = None
    details: dict = field(default_factory=dict)
    recovery: dict = field(default_factory=dict)
    drained_after: float | None = None
    failures: list[str] = field(default_factory=list)


class Database:
    """The drill's own connection to the private database; reconnects after a restart."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection = None

    def get(self):
        if self.connection is None or self.connection.closed:
            self.connection = psycopg2.connect(self.url, connect_timeout=3)
            self.connection.autocommit = True
        return self.connection

    def rows(self, sql: str, params: dict | None = None) -> list[tuple] | None:
        """None while the database cannot be reached."""
        try:
            return checks.rows(self.get(), sql, params)
        except psycopg2.Error:
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            return None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


class FaultRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = args.output_dir
        self.pg: PrivatePostgres | None = None
        self.cache: PrivateRedis | None = None
        self.broker: PrivateRedis | None = None
        self.topology: Topology | None = None
        self.load: Load | None = None
        self.recorder = Recorder()
        self.drills: list[Drill] = []
        self.timeline: list[dict] = []
        self.monitor_stop = threading.Event()
        self.monitor_thread: threading.Thread | None = None
        self.started = time.monotonic()
        self.result: dict = {"settings": DRILL_SETTINGS, "args": {}}

    # --- set-up ----------------------------------------------------------------------------

    def setup(self) -> None:
        args = self.args
        if self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)
        self.pg = PrivatePostgres()
        self.pg.init()
        self.pg.start()
        self.pg.create_database(DATABASE)
        self.cache = PrivateRedis("cache")
        self.cache.start()
        self.broker = PrivateRedis("broker")
        self.broker.start()
        log(
            f"private PostgreSQL :{self.pg.port} (pid {self.pg.pid()}), Redis cache "
            f":{self.cache.port} (pid {self.cache.pid}), broker :{self.broker.port} "
            f"(pid {self.broker.pid})"
        )
        overrides = {
            "DATABASE_URL": self.pg.url(DATABASE),
            "REDIS_URL": self.cache.url,
            "CELERY_BROKER_URL": self.broker.url,
            "PORT": str(free_port()),
            "ASGI_PORT": str(free_port()),
            **DRILL_SETTINGS,
        }
        if args.web_concurrency:
            overrides["WEB_CONCURRENCY"] = str(args.web_concurrency)
        self.env = local_environment(self.out, **overrides)
        self.db = Database(self.pg.url(DATABASE))
        self.monitor_db = Database(self.pg.url(DATABASE))  # the monitor thread's own
        log(f"migrate, collectstatic, {'full' if args.full_seed else 'small'} demo seed")
        with quiet(self.out / "setup.log"):
            prepare(self.env, seed=True, small=not args.full_seed)
        log("prepared")
        self.topology = Topology(self.env, log_dir=self.out)
        self.topology.start()
        self.topology.wait_ready(120)
        self.pids = {name: p.pid for name, p in self.topology.processes.items()}
        log(f"topology up at {self.topology.base_url}: {self.pids}")
        self.skus, self.slugs = self._stock_pool()
        sms = Path(self.env["SMS_FILE_PATH"])
        base = self.topology.base_url
        self.customers = []
        for i in range(args.clients):
            api = Api(base, self.recorder, f"customer-{i}")
            sign_in(api, CUSTOMER_PHONES[i], sms)
            self.customers.append(api)
        self.burst_customer = Api(base, self.recorder, "burst")
        sign_in(self.burst_customer, BURST_PHONE, sms)
        self.manager = Api(base, self.recorder, "manager")
        sign_in(self.manager, MANAGER_PHONE, sms)
        log(f"signed in {args.clients} customers, a burst customer and the KG manager")

    def _stock_pool(self) -> tuple[list[dict], list[str]]:
        """A few SKUs in stock of different KG products, each topped up (staff adjustment)."""
        anonymous = Api(self.topology.base_url, self.recorder, "setup")
        listing = anonymous.json("setup", "GET", "/api/v1/products/?page_size=40", 200)
        slugs = [row["slug"] for row in listing["results"]]
        pool = []
        for slug in slugs:
            detail = anonymous.json("setup", "GET", f"/api/v1/products/{slug}/", 200)
            in_stock = [sku for sku in detail["skus"] if sku["in_stock"]]
            if in_stock:
                pool.append({"id": in_stock[0]["id"], "slug": slug})
            if len(pool) >= self.args.skus:
                break
        if not pool:
            raise RuntimeError("no SKU in stock in the KG catalogue")
        code = (
            "import json, os\n"
            "from django.db import transaction\n"
            "from products.services.stock import sku_stock_adjust\n"
            "ids = json.loads(os.environ['FAULTS_SKUS'])\n"
            "with transaction.atomic():\n"
            "    stock = {pk: sku_stock_adjust(sku_id=pk, delta=int(os.environ['FAULTS_TOPUP']))"
            " for pk in ids}\n"
            "print('FAULTS_JSON=' + json.dumps(stock))\n"
        )
        stock = self.shell_json(
            code, FAULTS_SKUS=json.dumps([s["id"] for s in pool]), FAULTS_TOPUP="3000"
        )
        log(f"stock pool: {len(pool)} SKUs topped up by 3000 units ({stock})")
        return pool, slugs

    def shell_json(self, code: str, **extra: str) -> dict:
        done = subprocess.run(
            [str(BIN / "python"), "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py shell failed: {done.stderr[-2000:]}")
        line = next(x for x in done.stdout.splitlines() if x.startswith("FAULTS_JSON="))
        return json.loads(line.removeprefix("FAULTS_JSON="))

    # --- the monitor: outbox drain per drill, backlog, processes -------------------------

    def monitor(self) -> None:
        while not self.monitor_stop.wait(1.0):
            now = self.recorder.now()
            sample = {"t": round(now, 1)}
            counted = self.monitor_db.rows(
                "SELECT count(*) FILTER (WHERE completed_at IS NULL), "
                "count(*) FILTER (WHERE completed_at IS NULL AND sent_at IS NULL) "
                "FROM outbox_outboxmessage"
            )
            if counted is not None:
                sample["outbox_pending"], sample["outbox_unsent"] = counted[0]
            backlog = broker_backlog(self.broker)
            if backlog is not None:
                sample.update(backlog)
            self.timeline.append(sample)
            for drill in self.drills:
                if drill.end is None or drill.drained_after is not None:
                    continue
                left = self.monitor_db.rows(
                    "SELECT count(*) FROM outbox_outboxmessage "
                    "WHERE completed_at IS NULL AND created_at <= %(end)s",
                    {"end": utc(self.recorder.wall(drill.end))},
                )
                if left is not None and left[0][0] == 0:
                    drill.drained_after = round(now - drill.end, 1)

    # --- the drills --------------------------------------------------------------------------

    def run_drills(self) -> None:
        args = self.args
        before = checks.baseline(self.db.get())
        self.baseline = before
        self.since = utc(self.recorder.wall(self.recorder.now()))
        self.load = Load(
            self.recorder,
            self.customers,
            self.manager,
            Api(self.topology.base_url, self.recorder, "probe"),
            self.skus,
            self.slugs,
            self.env["ASGI_PORT"],
            think=args.think,
            checkout_share=args.checkout_share,
        )
        self.load.start()
        self.monitor_thread = threading.Thread(target=self.monitor, name="monitor", daemon=True)
        self.monitor_thread.start()
        log(f"load: {args.clients} customers, the manager, a probe, a socket; warm-up")
        time.sleep(args.warmup)
        self.result["warmup"] = self.window(0, self.recorder.now())
        for name in args.drills:
            if time.monotonic() - self.started > args.budget:
                log(f"time budget of {args.budget:.0f} s spent: {name} skipped")
                self.drills.append(Drill(name, TITLES[name], failures=["skipped: time budget"]))
                continue
            self.wait_ready()
            drill = Drill(name, TITLES[name])
            if self.timeline:
                drill.details["outbox_pending_before"] = self.timeline[-1].get("outbox_pending")
            self.drills.append(drill)
            log(f"drill {name}: {drill.title}")
            getattr(self, "play_" + name.replace("-", "_"))(drill)
            log(f"drill {name}: fault over after {drill.end - drill.start:.1f} s; recovery")
            self.topology.check_alive()
            self.wait_recovery(drill)
            self.wait_drain(drill)
            self.count_resent(drill)
            self.topology.check_alive()
            time.sleep(args.gap)
        log("drills done; the load stops")
        self.load.finish()
        self.load_end = self.recorder.now()

    def wait_ready(self, limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        while http_status(f"{self.topology.base_url}/readyz") != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"/readyz not 200 after {limit:.0f} s")
            time.sleep(0.5)

    def wait_recovery(self, drill: Drill) -> None:
        deadline = time.monotonic() + self.args.recovery_limit
        while True:
            for kind in SUCCESS:
                if kind not in drill.recovery:
                    at = self.recorder.first_success_after(kind, drill.end)
                    if at is not None:
                        drill.recovery[kind] = round(at - drill.end, 2)
            if len(drill.recovery) == len(SUCCESS) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for kind in SUCCESS:
            if kind not in drill.recovery:
                drill.recovery[kind] = None
                drill.failures.append(
                    f"{kind}: no success within {self.args.recovery_limit:.0f} s after the fault"
                )
        log(f"drill {drill.name}: recovered {drill.recovery}")

    def wait_drain(self, drill: Drill) -> None:
        deadline = time.monotonic() + self.args.drain_limit
        while drill.drained_after is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if drill.drained_after is None:
            log(f"drill {drill.name}: outbox not drained after {self.args.drain_limit:.0f} s")
        else:
            log(f"drill {drill.name}: outbox drained {drill.drained_after} s after the fault")

    def checkout_during(self, drill: Drill, key: str | None) -> str | None:
        """The burst customer checks out during the fault (its cart was filled before)."""
        if key is None:
            drill.details["checkout_during"] = "cart not filled before the fault"
            return None
        response = self.load.place(self.burst_customer, key)
        drill.details["checkout_during"] = answer(response)
        if response is None or response.status_code >= 500 or response.status_code == 429:
            return key
        return None

    def checkout_after(self, drill: Drill, key: str | None) -> None:
        """A checkout without a definite answer is sent again with the same key until it has one."""
        deadline = time.monotonic() + self.args.recovery_limit
        while key is not None and time.monotonic() < deadline:
            response = self.load.place(self.burst_customer, key)
            if response is not None and response.status_code < 500:
                drill.details["checkout_same_key_after"] = {
                    **answer(response),
                    "seconds_after_fault": round(self.recorder.now() - drill.end, 2),
                }
                return
            time.sleep(0.5)
        if key is not None:
            drill.failures.append("the checkout retried with its Idempotency-Key got no answer")

    def _outage(self, drill: Drill, targets: list[PrivateRedis], burst: bool = False) -> None:
        if burst:  # work queued in the broker when it stops: what Redis loses
            manager = self.manager.clone("burst-manager")
            self.load.burst(self.burst_customer, manager, 10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                backlog = broker_backlog(self.broker)
                if backlog and backlog["queued"] >= 5:
                    break
                time.sleep(0.05)
        key = self.load.fill_cart(self.burst_customer)
        drill.details["broker_backlog_at_stop"] = broker_backlog(self.broker)
        drill.start = self.recorder.now()
        stop_wall = utc(time.time())
        for target in targets:
            target.stop()
        drill.details["stopped"] = [f"{t.name} redis :{t.port}" for t in targets]
        time.sleep(max(0.0, drill.start + self.args.outage / 2 - self.recorder.now()))
        self.otp_probe(drill)
        key = self.checkout_during(drill, key)
        time.sleep(max(0.0, drill.start + self.args.outage - self.recorder.now()))
        drill.details["outbox_unsent_before_restart"] = self._count(
            "SELECT count(*) FROM outbox_outboxmessage "
            "WHERE sent_at IS NULL AND completed_at IS NULL AND created_at >= %(start)s",
            start=utc(self.recorder.wall(drill.start)),
        )
        for target in targets:
            target.start()
        drill.end = self.recorder.now()
        drill.details["broker_stopped_at"] = stop_wall if self.broker in targets else None
        self.checkout_after(drill, key)

    def count_resent(self, drill: Drill) -> None:
        """After a broker stop: messages it had taken and lost (the relay sent them again),
        and messages written while it was down (sent once it was back)."""
        stopped = drill.details.pop("broker_stopped_at", None)
        if stopped is None:
            return
        drill.details["sent_again_lost_by_the_broker"] = self._count(
            "SELECT count(*) FROM outbox_outboxmessage "
            "WHERE created_at <= %(at)s AND sent_at > %(at)s AND deliveries > 1",
            at=stopped,
        )
        drill.details["written_during_sent_after_restart"] = self._count(
            "SELECT count(*) FROM outbox_outboxmessage WHERE created_at >= %(start)s "
            "AND created_at <= %(end)s AND sent_at >= %(end)s",
            start=stopped,
            end=utc(self.recorder.wall(drill.end)),
        )

    def otp_probe(self, drill: Drill) -> None:
        """One sign-in code request for a new phone during the fault (docs: the Outages table)."""
        phone = f"+9967007770{30 + len(self.drills)}"
        api = Api(self.topology.base_url, self.recorder, "otp-probe")
        response = api.call(
            "otp_request", "POST", "/api/v1/auth/otp/request/", json={"phone": phone}
        )
        drill.details["otp_request"] = answer(response)

    def _count(self, sql: str, **params) -> int | None:
        found = self.db.rows(sql, params)
        return found[0][0] if found else None

    def play_redis(self, drill: Drill) -> None:
        self._outage(drill, [self.cache, self.broker], burst=True)

    def play_redis_cache(self, drill: Drill) -> None:
        self._outage(drill, [self.cache])

    def play_broker(self, drill: Drill) -> None:
        self._outage(drill, [self.broker])

    def play_postgres(self, drill: Drill) -> None:
        key = self.load.fill_cart(self.burst_customer)
        drill.start = self.recorder.now()
        self.pg.stop("fast")
        stopped = self.recorder.now()
        self.otp_probe(drill)
        key = self.checkout_during(drill, key)
        time.sleep(max(0.0, stopped + self.args.pg_down - self.recorder.now()))
        self.pg.start()
        drill.end = self.recorder.now()
        self.checkout_after(drill, key)
        drill.details.update(
            stop_took=round(stopped - drill.start, 2),
            down=round(drill.end - stopped, 2),
            postmaster_pid_after=self.pg.pid(),
        )

    def play_worker(self, drill: Drill) -> None:
        """A burst of checkouts (each confirmed); -9 to the worker's group while a task runs."""
        manager = self.manager.clone("burst-manager")
        burst = threading.Thread(
            target=self.load.burst, args=(self.burst_customer, manager, 10), daemon=True
        )
        burst.start()
        running: list[tuple] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not running:
            running = (
                self.db.rows(
                    "SELECT id, task FROM outbox_outboxmessage "
                    "WHERE started_at IS NOT NULL AND completed_at IS NULL"
                )
                or []
            )
            if not running:
                time.sleep(0.02)
        worker = self.topology.processes["worker"]
        backlog = broker_backlog(self.broker)
        worker.signal(signal.SIGKILL, group=True)
        drill.start = self.recorder.now()
        kill_wall = utc(time.time())
        worker.popen.wait(timeout=10)
        time.sleep(1)
        left = group_members(worker.pid)
        interrupted = self.db.rows(
            "SELECT task, count(*) FROM outbox_outboxmessage WHERE started_at <= %(at)s "
            "AND completed_at IS NULL GROUP BY task",
            {"at": kill_wall},
        )
        drill.details.update(
            running_seen_before_kill=[t for _, t in running],
            interrupted_tasks=dict(interrupted or []),
            broker_backlog_at_kill=backlog,
            killed_pid=worker.pid,
            group_left_after_1s=left,
        )
        self.otp_probe(drill)
        time.sleep(max(0.0, drill.start + self.args.worker_down - self.recorder.now()))
        log_file = self.out / "worker.log"
        offset = log_file.stat().st_size if log_file.exists() else 0
        self.topology.restart("worker")
        ready_deadline = time.monotonic() + 60
        while time.monotonic() < ready_deadline:
            with log_file.open("rb") as handle:
                handle.seek(offset)
                if b" ready." in handle.read():
                    break
            time.sleep(0.2)
        else:
            drill.failures.append("the restarted worker did not log `ready.` within 60 s")
        drill.end = self.recorder.now()
        drill.details["new_pid"] = self.topology.processes["worker"].pid
        burst.join(30)

    # --- after the load ----------------------------------------------------------------------

    def final_drain(self) -> float | None:
        started = time.monotonic()
        while time.monotonic() - started < self.args.drain_limit:
            left = self._count(
                "SELECT count(*) FROM outbox_outboxmessage WHERE completed_at IS NULL"
            )
            if left == 0:
                time.sleep(2)  # the last task's own transaction
                return round(time.monotonic() - started, 1)
            time.sleep(1)
        return None

    def invariants(self) -> dict:
        connection = self.db.get()
        since = self.since
        found = {
            "stock": checks.check_stock(connection, self.baseline),
            "orders": checks.check_orders(
                connection, since, dict(self.load.orders), self.load.key_orders
            ),
            "snapshot_rows": checks.check_snapshot_rows(connection),
            "daily_revenue_sql": checks.check_daily_revenue(connection, since),
            "customer_notifications": checks.check_customer_notifications(connection, since),
            "manager_notifications": checks.check_manager_notifications(connection, since),
            "sms": checks.check_sms(connection, since, Path(self.env["SMS_FILE_PATH"])),
            "outbox": checks.check_outbox(connection, MAX_DELIVERIES),
        }
        found["snapshots_recomputed"] = self.snapshot_check()
        return found

    def snapshot_check(self) -> dict:
        """Every snapshot row of a period holding a drill order equals `period_figures`."""
        code = (
            "import json, os\n"
            "from datetime import datetime\n"
            "from orders.models import Order\n"
            "from store_manager.analytics import FIGURE_NAMES, period_bounds, period_figures\n"
            "from store_manager.models import RevenuePeriod, RevenueSnapshot\n"
            "since = datetime.fromisoformat(os.environ['FAULTS_SINCE'])\n"
            "orders = list(Order.objects.filter(created_at__gte=since)"
            ".values_list('market', 'created_at'))\n"
            "stale, checked = [], 0\n"
            "for period in RevenuePeriod.values:\n"
            "    touched = {(m, period_bounds(m, period, at)) for m, at in orders}\n"
            "    for market, b in sorted(touched):\n"
            "        checked += 1\n"
            "        raw = period_figures(market=market, start=b.start, end=b.end)\n"
            "        row = RevenueSnapshot.objects.filter(market=market, period=period,"
            " period_start=b.start).first()\n"
            "        diff = [f'{f} row={getattr(row, f, None)} orders={getattr(raw, f)}'"
            " for f in FIGURE_NAMES if getattr(row, f, None) != getattr(raw, f)]\n"
            "        if diff:\n"
            "            stale.append(f'{market} {period} {b.start:%Y-%m-%d %H:%M}Z: '"
            " + ', '.join(diff))\n"
            "print('FAULTS_JSON=' + json.dumps({'checked': checked, 'stale': stale}))\n"
        )
        found = self.shell_json(code, FAULTS_SINCE=self.since.isoformat())
        return {"ok": not found["stale"], **found}

    # --- figures -----------------------------------------------------------------------------

    def window(self, start: float, end: float, answered_by: float | None = None) -> dict:
        """Requests sent in [start, end) (and answered before `answered_by`, if given)."""
        hits = [
            h
            for h in self.recorder.snapshot()
            if start <= h.t < end and (answered_by is None or h.t + h.elapsed < answered_by)
        ]
        return summarise(hits)

    def drill_result(self, drill: Drill) -> dict:
        if drill.start is None:
            return {"name": drill.name, "title": drill.title, "failures": drill.failures}
        if drill.end is None:  # interrupted during the fault
            drill.end = self.recorder.now()
            drill.failures.append("interrupted during the fault")
        during = self.window(drill.start, drill.end)
        later = [d.start for d in self.drills if d.start is not None and d.start > drill.end]
        after_end = min([drill.end + AFTER, *later])
        after = self.window(drill.end, after_end, answered_by=after_end)
        if during["problems"] or after["problems"]:
            drill.failures.append(
                f"client-facing rules broken: during {during['problems']}, "
                f"after {after['problems']}"
            )
        if drill.name in ("redis", "redis-cache", "broker"):
            checkouts = during["by_kind"].get("checkout", {})
            other = {s: n for s, n in checkouts.items() if s != "201"}
            if other:
                drill.failures.append(f"checkout during the fault answered {other} (not only 201)")
        return {
            "name": drill.name,
            "title": drill.title,
            "fault_window_s": [round(drill.start, 1), round(drill.end, 1)],
            "fault_seconds": round(drill.end - drill.start, 1),
            "during": during,
            "after": after,
            "after_window_s": round(after_end - drill.end, 1),
            "recovery_s": drill.recovery,
            "outbox_drained_after_s": drill.drained_after,
            "details": drill.details,
            "failures": drill.failures,
        }

    def scan_logs(self) -> dict:
        found = {}
        for path in sorted(self.out.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            errors = [x for x in lines if '"level": "error"' in x.lower() or " ERROR " in x]
            errors += [x for x in lines if "CRITICAL" in x]
            found[path.name] = {
                "lines": len(lines),
                "error_lines": len(errors),
                "tracebacks": sum("Traceback" in x for x in lines),
                "first_errors": [x[:400] for x in dict.fromkeys(errors)][:8],
            }
        return found


def answer(response: requests.Response | None) -> dict:
    """Status, JSON code and Retry-After of one answer, for the report."""
    if response is None:
        return {"status": None}
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        code = None
    return {
        "status": response.status_code,
        "code": code,
        "retry_after": response.headers.get("Retry-After"),
    }


def group_members(pgid: int) -> list[str]:
    """Processes still in a process group, with their state (Z: a zombie, already dead)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            found.append(f"{stat.parent.name} {fields[0]}")
    return found


def summarise(hits: list[Hit]) -> dict:
    status = Counter(h.label for h in hits)
    by_kind: dict[str, Counter] = {}
    for hit in hits:
        by_kind.setdefault(hit.kind, Counter())[hit.label] += 1
    problems = Counter(p for h in hits for p in h.problems())
    with_ra = sum(1 for h in hits if h.status == 503 and h.retry_after)
    without_ra = sum(1 for h in hits if h.status == 503 and not h.retry_after)
    readyz_without = sum(
        1 for h in hits if h.status == 503 and not h.retry_after and h.kind == "readyz"
    )
    codes = Counter(f"{h.status} {h.code}" for h in hits if h.status and h.status >= 400)
    checkout = sorted(h.elapsed for h in hits if h.kind == "checkout" and h.status == 201)
    return {
        "requests": len(hits),
        "by_status": dict(sorted(status.items())),
        "by_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
        "error_codes": dict(codes.most_common()),
        "503_with_retry_after": with_ra,
        "503_without_retry_after": without_ra,
        "503_without_retry_after_readyz": readyz_without,
        "5xx_not_503": sum(1 for h in hits if h.status and h.status >= 500 and h.status != 503),
        "html": sum(h.html for h in hits),
        "traceback": sum(h.trace for h in hits),
        "not_json": problems.get("not_json", 0),
        "transport_errors": status.get("error", 0),
        "problems": dict(problems),
        "checkout_201_p50_s": percentile(checkout, 0.5),
        "checkout_201_p95_s": percentile(checkout, 0.95),
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def statuses(counts: dict) -> str:
    return ", ".join(f"{n} x {s}" for s, n in counts.items()) or "—"


def markdown(result: dict) -> str:
    lines = [
        "# Fault drills (`make faults`)",
        "",
        f"{result['when']}; {result['verdict']} in {result['run_seconds']:.0f} s; "
        f"{result['clients']} customers + the KG manager + a probe + a socket; settings "
        + ", ".join(f"`{k}={v}`" for k, v in result["settings"].items()),
        "",
        "| drill | fault | requests during the fault (by status) | 503 with / without "
        "Retry-After | other 5xx | HTML / traces / not JSON | recovery: readyz, catalogue, "
        "checkout (s) | outbox drained (s after the fault) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in result["drills"]:
        if "during" not in d:
            lines.append(f"| {d['name']} | skipped | | | | | | |")
            continue
        w = d["during"]
        rec = d["recovery_s"]
        lines.append(
            f"| {d['name']} | {d['fault_seconds']} s | {w['requests']}: "
            f"{statuses(w['by_status'])} | {w['503_with_retry_after']} / "
            f"{w['503_without_retry_after']}"
            + (
                f" (readyz {w['503_without_retry_after_readyz']})"
                if w["503_without_retry_after_readyz"]
                else ""
            )
            + f" | {w['5xx_not_503']} | {w['html']} / {w['traceback']} / {w['not_json']} | "
            f"{rec.get('readyz')}, {rec.get('catalogue')}, {rec.get('checkout')} | "
            f"{d['outbox_drained_after_s']} |"
        )
    lines += ["", "## Per drill", ""]
    for d in result["drills"]:
        lines.append(f"### {d['name']}: {d['title']}")
        if "during" in d:
            lines.append(f"- during, by kind: `{json.dumps(d['during']['by_kind'])}`")
            lines.append(f"- during, error codes: `{json.dumps(d['during']['error_codes'])}`")
            lines.append(
                f"- checkout 201 latency during: p50 {d['during']['checkout_201_p50_s']} s, "
                f"p95 {d['during']['checkout_201_p95_s']} s"
            )
            lines.append(
                f"- the {d['after_window_s']} s after: {statuses(d['after']['by_status'])}"
            )
            lines.append(f"- details: `{json.dumps(d['details'], default=str)}`")
        lines.append(f"- failures: {d['failures'] or 'none'}")
        lines.append("")
    lines += ["## Invariants", ""]
    for name, check in result.get("invariants", {}).items():
        shown = {k: v for k, v in check.items() if k != "ok" and v not in ([], {}, None)}
        lines.append(
            f"- **{name}**: {'ok' if check['ok'] else 'FAILED'} `{json.dumps(shown, default=str)}`"
        )
    lines += ["", "## Whole run", ""]
    whole = result.get("whole_run", {})
    if whole:
        lines.append(f"- requests: {whole['requests']}: {statuses(whole['by_status'])}")
        lines.append(f"- rules broken: {whole['problems'] or 'none'}")
    lines.append(f"- realtime (at most once): `{json.dumps(result.get('realtime', {}))}`")
    lines.append(f"- processes not restarted: `{json.dumps(result.get('processes', {}))}`")
    for problem, samples in result.get("samples", {}).items():
        lines.append(f"- sample of {problem}: `{json.dumps(samples[:2])[:1500]}`")
    lines.append(f"- final outbox drain after the load: {result.get('final_drain_s')} s")
    lines.append(f"- failures: {result['failures'] or 'none'}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--drills",
        default=",".join(DRILLS),
        help=f"comma-separated, played in this order (default: all, {','.join(DRILLS)})",
    )
    parser.add_argument("--clients", type=int, default=4, help="customer threads (4)")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause of a client (1 s)")
    parser.add_argument(
        "--checkout-share", type=float, default=0.25, help="visits that check out (0.25)"
    )
    parser.add_argument("--outage", type=float, default=20, help="seconds Redis is down (20)")
    parser.add_argument("--pg-down", type=float, default=5, help="seconds PostgreSQL is down (5)")
    parser.add_argument("--worker-down", type=float, default=5, help="seconds without worker (5)")
    parser.add_argument("--warmup", type=float, default=10, help="load before the first drill")
    parser.add_argument("--gap", type=float, default=3, help="pause between drills (3 s)")
    parser.add_argument("--recovery-limit", type=float, default=60)
    parser.add_argument("--drain-limit", type=float, default=150, help="per drill and final")
    parser.add_argument("--budget", type=float, default=780, help="no drill starts after (s)")
    parser.add_argument("--skus", type=int, default=8, help="SKUs in the stock pool (8)")
    parser.add_argument("--web-concurrency", type=int, help="gunicorn workers (default: its own)")
    parser.add_argument("--full-seed", action="store_true", help="the full demo store")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "bench" / "results" / "faults")
    args = parser.parse_args()
    args.drills = [d.strip() for d in args.drills.split(",") if d.strip()]
    unknown = set(args.drills) - set(DRILLS)
    if unknown or args.clients > len(CUSTOMER_PHONES):
        parser.error(f"unknown drills {sorted(unknown)} or too many clients")

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    run = FaultRun(args)
    failures: list[str] = []
    result = run.result
    result["args"] = {k: str(v) for k, v in vars(args).items()}
    try:
        run.setup()
        run.run_drills()
        log("waiting for the outbox to drain completely")
        result["final_drain_s"] = run.final_drain()
        result["invariants"] = run.invariants()
    except KeyboardInterrupt:
        failures.append("aborted: interrupted")
        log("ABORTED: interrupted")
    except SystemExit as exc:  # ops/up.py refusing to run
        failures.append(f"aborted: {exc}")
        log(f"ABORTED: {exc}")
    except Exception as exc:  # whatever broke the drill: cleaned up and reported below
        failures.append(f"aborted: {type(exc).__name__}: {exc}")
        log(f"ABORTED: {type(exc).__name__}: {exc}")
        traceback.print_exc()
    finally:
        if run.load is not None:
            run.load.finish(10)
        run.monitor_stop.set()
        if run.monitor_thread is not None:
            run.monitor_thread.join(10)
        processes = {}
        if run.topology is not None:
            for name, pid in getattr(run, "pids", {}).items():
                process = run.topology.processes.get(name)
                processes[name] = {
                    "pid_at_start": pid,
                    "pid_at_end": process.pid if process else None,
                    "alive_at_end": bool(process and process.alive()),
                }
            run.topology.stop()
        for part in (run.cache, run.broker):
            if part is not None:
                part.cleanup()
        if hasattr(run, "db"):
            run.db.close()
            run.monitor_db.close()
        if run.pg is not None:
            run.pg.cleanup()
    result["processes"] = processes
    for name, state in processes.items():
        if name != "worker" and (state["pid_at_start"] != state["pid_at_end"]):
            failures.append(f"{name} was restarted")
        if not state["alive_at_end"]:
            failures.append(f"{name} was not running at the end")
    result["drills"] = [run.drill_result(d) for d in run.drills]
    for drill in result["drills"]:
        failures += [f"{drill['name']}: {f}" for f in drill["failures"]]
    hits = run.recorder.snapshot()
    result["whole_run"] = summarise(hits)
    if result["whole_run"]["problems"]:
        failures.append(f"client-facing rules broken: {result['whole_run']['problems']}")
    result["samples"] = run.recorder.samples
    for name, check in result.get("invariants", {}).items():
        if not check["ok"]:
            failures.append(f"invariant {name} failed")
    if "invariants" in result and result.get("final_drain_s") is None:
        failures.append(f"outbox not drained within {args.drain_limit:.0f} s after the load")
    if run.load is not None:
        result["realtime"] = {
            "socket_opens": run.load.socket_opens,
            "socket_closes": dict(run.load.socket_closes),
            "frames": dict(run.load.frames),
            "orders_201": len(run.load.orders),
            "order_created_frames": len(run.load.frame_orders & set(run.load.orders)),
            "unresolved_checkout_keys": len(run.load.unresolved_keys),
        }
    result["timeline"] = run.timeline
    result["logs"] = run.scan_logs() if run.out.exists() else {}
    result["clients"] = args.clients
    result["when"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    result["run_seconds"] = round(time.monotonic() - run.started, 1)
    result["failures"] = failures
    result["verdict"] = "FAIL" if failures else "PASS"
    run.out.mkdir(parents=True, exist_ok=True)
    (run.out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    summary = markdown(result)
    (run.out / "summary.md").write_text(summary)
    print(summary, flush=True)
    log(f"{result['verdict']} in {result['run_seconds']:.0f} s; results in {run.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
