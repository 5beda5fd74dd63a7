#!/usr/bin/env python
"""Redis/broker outage drill: an outage costs no 500 and loses no side effect.

    .venv/bin/python bench/outage_drill.py [--duration 60] [--outage 20] [--clients 4]

An operator's fault drill, never run in CI; up to 12 minutes, stops by itself.
On 127.0.0.1 with the production settings it starts a private redis-server
(spare port, no persistence), gunicorn, a Celery worker and beat over a fresh
database `marque_drill` on the shared PostgreSQL. Client processes loop "add a
SKU to the cart, check out, GET the catalogue"; 15 s in, Redis is stopped for
--outage seconds and started again empty. Once the outbox and the worker have
drained (at most --drain seconds, 600: what a restarted Redis lost comes back
after OUTBOX_REDELIVER_AFTER_SECONDS) it checks from the database: no 5xx;
every 201 is an order with its customer notification; the revenue snapshots of
the drill's periods equal the figures recomputed from the orders; no outbox
message unsent; stock + units sold conserved. It prints a table and exits 1
when a check fails. It stops only the processes it started (by PID), never
touches the shared Redis on 6379 and keeps the logs in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DB_NAME = "marque_drill"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
PG = ["-h", "127.0.0.1", "-U", "postgres"]
VENV_BIN = BASE_DIR / ".venv" / "bin"
FAULT_AT = 15.0  # seconds into the load
STOCK = 1_000_000
N_SKUS = 4
PHONE_PREFIX = "+99670099"  # drill customers: +996 700 99x xxx
INLINE_KG = {
    "recipient_name": "Aida Bekova",
    "phone": "+996700123456",
    "city": "Bishkek",
    "street": "Chui Ave",
    "building": "120",
    "apartment": "5",
}


class NullSMSBackend:
    """SMS_BACKEND of the drill: accepted by production settings, sends nothing."""

    def __init__(self, **kwargs) -> None:
        pass

    def send(self, to: str, body: str) -> None:
        pass


SETUP = """
import json, os
from products.models import SKU, Category, Product, ProductPrice
from rest_framework_simplejwt.tokens import RefreshToken
from users.models import User
p = json.loads(os.environ["DRILL_PARAMS"])
category = Category.objects.create(name="Drill", slug="drill", market="ALL")
skus, tokens = [], []
for i in range(p["skus"]):
    product = Product.objects.create(
        name=f"Drill {i}", slug=f"drill-{i}", category=category, market="ALL"
    )
    ProductPrice.objects.create(product=product, market="KG", price="1290.00")
    sku = SKU.objects.create(
        product=product, code=f"DRILL-{i}", size="M", color="Black", stock=p["stock"]
    )
    skus.append(sku.pk)
for i in range(p["clients"]):
    user = User.objects.create_user(f"{p['prefix']}{i:04d}", first_name="Drill")
    tokens.append(str(RefreshToken.for_user(user).access_token))
print("DRILL_JSON=" + json.dumps({"skus": skus, "tokens": tokens}))
"""

MEASURE = """
import json, os
from collections import Counter
from datetime import UTC, datetime
from django.db.models import Max, Sum
from orders.models import Order, OrderItem
from outbox.models import OutboxMessage
from products.models import SKU
from store_manager.analytics import FIGURE_NAMES, period_bounds, period_figures
from store_manager.models import RevenuePeriod, RevenueSnapshot
from users.models import Notification
p = json.load(open(os.environ["DRILL_IN"]))
at = {k: datetime.fromtimestamp(p[k], UTC) for k in ("stopped_at", "restarted_at")}
orders = {o.order_number: o for o in Order.objects.filter(user__phone__startswith=p["prefix"])}
notes = Counter(Notification.objects.filter(
    type="order_status", data__status="pending", data__order_number__in=list(orders)
).values_list("data__order_number", flat=True))
missing = sorted(n for n in orders if notes[n] == 0)
lost = []  # (created, sent) of the lost ones, in seconds from the moment Redis stopped
for number in missing:
    message = OutboxMessage.objects.get(
        task="orders.tasks.notify_order_created", kwargs__order_id=orders[number].pk
    )
    lost.append([(t - at["stopped_at"]).total_seconds() if t else None
                 for t in (orders[number].created_at, message.sent_at)] + [message.attempts])
stale, checked = [], 0
for period in RevenuePeriod.values:
    for bounds in sorted({period_bounds("KG", period, o.created_at) for o in orders.values()}):
        checked += 1
        raw = period_figures(market="KG", start=bounds.start, end=bounds.end)
        row = RevenueSnapshot.objects.filter(
            market="KG", period=period, period_start=bounds.start
        ).first()
        diff = [f"{f} row={getattr(row, f, None)} orders={getattr(raw, f)}"
                for f in FIGURE_NAMES if getattr(row, f, None) != getattr(raw, f)]
        if diff:
            stale.append(f"{period} {bounds.start:%Y-%m-%d %H:%M}Z: " + ", ".join(diff))
skus = []
for sku in SKU.objects.filter(code__startswith="DRILL-"):
    sold = OrderItem.objects.filter(sku=sku).aggregate(n=Sum("quantity"))["n"] or 0
    ok = sku.stock + sold == p["stock"]
    skus.append({"code": sku.code, "stock": sku.stock, "sold": sold, "ok": ok})
relayed = OutboxMessage.objects.filter(attempts__gt=1)
last = relayed.aggregate(t=Max("sent_at"))["t"]
print("DRILL_JSON=" + json.dumps({
    "orders_db": len(orders), "not_in_db": sorted(set(p["orders"]) - set(orders)),
    "missing": missing, "lost": lost, "duplicates": sorted(n for n in orders if notes[n] > 1),
    "checked": checked, "stale": stale, "skus": skus,
    "unsent": OutboxMessage.objects.filter(completed_at__isnull=True).count(),
    "relayed": relayed.count(),
    "redelivered": OutboxMessage.objects.filter(deliveries__gt=1).count(),
    "relay_done": (last - at["restarted_at"]).total_seconds() if last else None,
}))
"""


def log(message: str) -> None:
    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", flush=True)


def manage(argv: list[str], env: dict, logfile: Path, **extra_env: str) -> str:
    """`manage.py <argv>` to completion; its output goes to `logfile` and is returned."""
    argv = [str(VENV_BIN / "python"), "manage.py", *argv]
    result = subprocess.run(
        argv, cwd=BASE_DIR, env=env | extra_env, capture_output=True, text=True, timeout=300
    )
    with logfile.open("a") as out:
        out.write(f"$ manage.py {argv[2]}\n{result.stdout}{result.stderr}\n")
    if result.returncode:
        raise RuntimeError(f"manage.py {argv[2]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def shell_json(code: str, env: dict, logfile: Path, **extra_env: str) -> dict:
    out = manage(["shell", "-c", code], env, logfile, **extra_env)
    line = next(x for x in out.splitlines() if x.startswith("DRILL_JSON="))
    return json.loads(line.removeprefix("DRILL_JSON="))


def spawn(name: str, argv: list[str], env: dict, logdir: Path) -> subprocess.Popen:
    out = (logdir / f"{name}.log").open("wb")
    return subprocess.Popen(argv, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen | None) -> None:
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL after 30 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def client(index: int, token: str, skus: list, base: str, t0: float, duration: float, queue):
    """One customer: cart add, checkout, catalogue GET, until t0 + duration."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    events, orders, samples = [], [], []

    def call(endpoint: str, method: str, path: str, **kwargs):
        started = time.time()
        try:
            response = session.request(method, base + path, timeout=35, **kwargs)
            status = response.status_code
        except requests.RequestException as exc:
            response, status = None, f"error:{type(exc).__name__}"
        events.append((started - t0, endpoint, status))
        if response is not None and status >= 500 and len(samples) < 3:
            samples.append(f"{endpoint} {status} at t={started - t0:.1f}s: {response.text[:300]}")
        return response

    while time.time() < t0:
        time.sleep(0.01)
    n = 0
    while time.time() < t0 + duration:
        sku = skus[(index + n) % len(skus)]
        n += 1
        call("cart add", "POST", "/api/v1/cart/items/", json={"sku_id": sku, "quantity": 1})
        body = {"address": INLINE_KG, "payment_method": "cash_on_delivery"}
        response = call("checkout", "POST", "/api/v1/orders/", json=body)
        if response is not None and response.status_code == 201:
            orders.append(response.json()["order_number"])
        call("catalogue", "GET", "/api/v1/products/", headers={"X-Market": "KG"})
    queue.put((events, orders, samples))


def log_errors(logdir: Path) -> list[str]:
    """Per process log: how many ERROR/CRITICAL lines, and the first one."""
    found = []
    for path in sorted(logdir.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        hits = [i for i, line in enumerate(lines) if re.search(r"\bERROR\b|\bCRITICAL\b", line)]
        if hits:
            found.append(f"{path.name}: {len(hits)} ERROR/CRITICAL lines, the first:")
            found += [f"    {line[:200]}" for line in lines[hits[0] : hits[0] + 3]]
    return found


QUEUES = ("--queues", "realtime,notifications,payments,analytics,default")  # the Procfile's


def start_services(env: dict, tmp: Path, procs: dict, redis, base: str) -> None:
    """gunicorn, one worker, beat; returns once /readyz answers and the worker is consuming."""
    import requests

    conf = ["-c", "gunicorn_config.py"] if (BASE_DIR / "gunicorn_config.py").exists() else []
    bind = ["--bind", base.removeprefix("http://"), "--workers", "2"]
    celery = [str(VENV_BIN / "celery"), "-A", "main"]
    argvs = {
        "gunicorn": [str(VENV_BIN / "gunicorn"), "main.wsgi", *conf, *bind],
        "worker": [*celery, "worker", "--concurrency", "2", "--loglevel", "WARNING", *QUEUES],
        "beat": [*celery, "beat", "--schedule", str(tmp / "beat-schedule"), "--loglevel", "INFO"],
    }
    for name, argv in argvs.items():
        procs[name] = spawn(name, argv, env, tmp)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(procs[name].poll() is not None for name in ("gunicorn", "worker", "beat")):
            break
        try:
            ready = requests.get(base + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            ready = False
        if ready and redis.client().exists("_kombu.binding.celery"):
            pids = ", ".join(f"{name} {procs[name].pid}" for name in ("gunicorn", "worker", "beat"))
            return log(f"up at {base} (pids: {pids})")
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn/worker/beat did not come up; see the logs in {tmp}")


def run_load(args: argparse.Namespace, data: dict, redis, base: str, procs: dict) -> dict:
    """The client processes, with the outage played in the middle of their load."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    t0 = time.time() + 2
    clients = procs["clients"] = [
        ctx.Process(
            target=client,
            args=(i, data["tokens"][i], data["skus"], base, t0, args.duration, queue),
        )
        for i in range(args.clients)
    ]
    for proc in clients:
        proc.start()
    log(f"load: {args.clients} clients, {args.duration:.0f} s; Redis down at t={FAULT_AT:.0f} s")
    time.sleep(max(0.0, t0 + FAULT_AT - time.time()))
    r = redis.client()
    run = {"t0": t0, "backlog": (r.llen("celery"), r.hlen("unacked"))}
    redis.stop()
    run["stopped_at"] = time.time()
    log(f"redis stopped; {run['backlog']} tasks were queued/unacked in it")
    time.sleep(max(0.0, run["stopped_at"] + args.outage - time.time()))
    redis.start()
    run["restarted_at"] = time.time()
    log(f"redis started again, empty, after {run['restarted_at'] - run['stopped_at']:.1f} s")
    results = [queue.get(timeout=60) for _ in clients]
    for proc in clients:
        proc.join(timeout=10)
    for key, parts in zip(("events", "orders", "samples"), zip(*results, strict=True), strict=True):
        run[key] = [item for part in parts for item in part]
    return run


def wait_drain(redis, limit: float) -> float | None:
    """Seconds until every outbox message is completed and no task is queued; None: never."""
    started = time.time()
    sql = "SELECT count(*) FROM outbox_outboxmessage WHERE completed_at IS NULL"
    while time.time() - started < limit:
        psql = ["psql", *PG, "-d", DB_NAME, "-tAc", sql]
        unsent = subprocess.run(psql, capture_output=True, text=True, check=True).stdout.strip()
        r = redis.client()
        if unsent == "0" and r.llen("celery") == 0 and r.hlen("unacked") == 0:
            time.sleep(2)  # the last task's transaction
            return time.time() - started
        time.sleep(1)
    return None


def report(args, run: dict, m: dict, drained: float | None, undeliverable: int, tmp: Path) -> int:
    down = (run["stopped_at"] - run["t0"], run["restarted_at"] - run["t0"])
    counts = Counter((endpoint, status) for _, endpoint, status in run["events"])
    during = Counter((e, s) for t, e, s in run["events"] if down[0] <= t < down[1])
    errors = sum(n for (_, s), n in counts.items() if not isinstance(s, int) or s >= 500)
    skus_ok = all(sku["ok"] for sku in m["skus"])
    print("\nrequests by endpoint and status: whole run / during the outage")
    for key in sorted(counts, key=str):
        print(f"  {key[0]:<10} {key[1]!s:<20} {counts[key]:>6} / {during.get(key, 0)}")
    relay = m["relay_done"]
    rows = [
        ("outage window", f"t={down[0]:.1f} s .. {down[1]:.1f} s ({down[1] - down[0]:.1f} s)"),
        ("tasks queued/unacked when Redis stopped", "{} / {}".format(*run["backlog"])),
        ("5xx + transport errors", errors),
        ("orders: 201s / in database", f"{len(run['orders'])} / {m['orders_db']}"),
        ("notifications missing / duplicated", f"{len(m['missing'])} / {len(m['duplicates'])}"),
        ("stale snapshot rows", f"{len(m['stale'])} of {m['checked']} checked"),
        ("outbox messages not completed", m["unsent"]),
        ("messages relayed by beat", m["relayed"]),
        ("sent again: the broker lost them", m["redelivered"]),
        ("outbox drained after Redis came back", f"{relay:.1f} s" if drained else "no"),
        ("drained after the load", f"{drained:.1f} s" if drained else f"NOT in {args.drain} s"),
        ("messages in ae.undeliver", undeliverable),
        ("stock + units sold conserved", "yes" if skus_ok else f"NO {m['skus']}"),
    ]
    print()
    for name, value in rows:
        print(f"  {name:<40} {value}")
    notes = [*m["stale"][:5], *run["samples"]]
    gone = [x for x in m["lost"] if x[1] is not None]  # relayed to Redis, never run
    if gone:
        created, sent, tries = ([x[i] for x in gone] for i in (0, 1, 2))
        notes.append(
            f"{len(gone)} notifications lost: orders created {min(created):+.1f}.."
            f"{max(created):+.1f} s from the Redis stop, their messages marked sent at "
            f"{min(sent):+.1f}..{max(sent):+.1f} s (attempts {sorted(set(tries))}): accepted by "
            "Redis, still queued when it stopped, never run"
        )
    if waiting := len(m["lost"]) - len(gone):
        notes.append(f"{waiting} notifications not delivered yet: their message is still unsent")
    print(*(f"  ! {note}" for note in notes), *log_errors(tmp), sep="\n")
    failed = errors or m["missing"] or m["stale"] or m["unsent"] or m["not_in_db"]
    failed = failed or not skus_ok or drained is None or len(run["orders"]) != m["orders_db"]
    print(f"\n{'FAIL' if failed else 'PASS'} (logs: {tmp})")
    return 1 if failed else 0


def drill(args: argparse.Namespace, tmp: Path, procs: dict) -> int:
    from main.testing import PrivateRedis, free_port

    redis = procs["redis"] = PrivateRedis(tmp)
    redis.start()
    base = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "main.settings.production",
        "SECRET_KEY": "drill-" + "x" * 60 + "-not-a-real-secret",
        "DATABASE_URL": DB_URL,
        "REDIS_URL": redis.url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SMS_BACKEND": "bench.outage_drill.NullSMSBackend",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])),
    }
    log(f"private redis {redis.url} (pid {redis.process.pid}); logs in {tmp}")
    subprocess.run(["dropdb", *PG, "--if-exists", "--force", DB_NAME], check=True)
    subprocess.run(["createdb", *PG, DB_NAME], check=True)
    manage(["migrate", "--noinput"], env, tmp / "setup.log")
    params = {"skus": N_SKUS, "stock": STOCK, "clients": args.clients, "prefix": PHONE_PREFIX}
    data = shell_json(SETUP, env, tmp / "setup.log", DRILL_PARAMS=json.dumps(params))
    log(f"{DB_NAME}: migrated, {args.clients} customers, {N_SKUS} SKUs of {STOCK} units")
    start_services(env, tmp, procs, redis, base)
    run = run_load(args, data, redis, base, procs)
    log("load done; waiting for the outbox and the worker to drain")
    drained = wait_drain(redis, args.drain)
    undeliverable = redis.client().llen("ae.undeliver")
    placed = tmp / "placed.json"
    keys = ("orders", "stopped_at", "restarted_at")
    placed.write_text(
        json.dumps({"prefix": PHONE_PREFIX, "stock": STOCK} | {k: run[k] for k in keys})
    )
    measured = shell_json(MEASURE, env, tmp / "measure.log", DRILL_IN=str(placed))
    return report(args, run, measured, drained, undeliverable, tmp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds Redis is down (20)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (4)")
    parser.add_argument("--drain", type=float, default=600.0, help="longest drain wait (600)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="outage_drill_"))
    procs: dict = {}
    try:
        return drill(args, tmp, procs)
    finally:
        for proc in procs.get("clients", []):
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for name in ("gunicorn", "beat", "worker"):
            stop(procs.get(name))
        if procs.get("redis"):
            procs["redis"].stop()
        subprocess.run(["dropdb", *PG, "--if-exists", "--force", DB_NAME], check=False)
        log(f"stopped what the drill started; dropped {DB_NAME}; logs kept in {tmp}")


if __name__ == "__main__":
    sys.exit(main())
