"""Production smoke test (`make smoke`, run by CI): the Procfile's topology, one journey.

    .venv/bin/python ops/smoke.py            # PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379

Starts `make up`'s four processes (ops/up.py: production settings, LOCAL_RUN) on
spare ports against a database of its own (`marque_smoke`, dropped and created
again) and Redis database 11 (emptied first), waits for /readyz, then drives one
journey over real HTTP and WebSocket:

OTP sign-in (the code read from the SMS the worker sent) → browse → cart →
checkout → the manager's socket receives `order.created` → the manager confirms,
processes and ships → the worker recomputes the day's revenue snapshot → the
dashboard and the revenue report show the order → the request id is echoed and
the metrics count what happened.

Every process is stopped by its PID at the end, pass or fail; on failure the
tail of each process's log is printed. Exit status 0 only if every step passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg2
import redis
import requests
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from up import Topology, free_port, local_environment, prepare

CUSTOMER_PHONE = "+996700555001"  # a new account: the journey signs up
MANAGER_PHONE = "+996700000003"  # the demo store's KG manager (docs: README)
ADDRESS = {
    "recipient_name": "Smoke Test",
    "phone": CUSTOMER_PHONE,
    "city": "Bishkek",
    "street": "Chui Ave",
    "building": "1",
}
WAIT = 60  # seconds any one asynchronous step may take


class SmokeFailure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def until(what: str, probe, timeout: float = WAIT, interval: float = 0.3):
    """`probe()` until it returns something truthy; SmokeFailure after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SmokeFailure(f"{what}: nothing after {timeout:.0f} s")
        time.sleep(interval)


class Client:
    """A JSON client of the API in one market, optionally signed in."""

    def __init__(self, base: str, market: str = "KG") -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update({"X-Market": market, "Accept": "application/json"})

    def call(self, method: str, path: str, expect: int = 200, **kwargs) -> dict:
        response = self.session.request(method, f"{self.base}/api/v1/{path}", timeout=15, **kwargs)
        check(
            response.status_code == expect,
            f"{method} {path}: {response.status_code} (expected {expect}): {response.text[:300]}",
        )
        check(
            response.headers.get("Content-Type", "").startswith("application/json")
            or response.status_code == 204,
            f"{method} {path}: not JSON ({response.headers.get('Content-Type')})",
        )
        return response.json() if response.content else {}

    def sign_in(self, phone: str, sms_file: Path) -> dict:
        sent_before = len(read_sms(sms_file, phone))
        self.call("POST", "auth/otp/request/", 202, json={"phone": phone})
        # The code travels through the outbox and the worker's notifications queue.
        messages = until(
            f"SMS to {phone}",
            lambda: (found := read_sms(sms_file, phone))[sent_before:] and found,
        )
        code = next(word for word in messages[-1]["body"].split() if word.rstrip(".").isdigit())
        session = self.call(
            "POST", "auth/otp/verify/", json={"phone": phone, "code": code.rstrip(".")}
        )
        self.session.headers["Authorization"] = f"Bearer {session['access']}"
        return session


def read_sms(path: Path, phone: str) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [message for message in map(json.loads, lines) if message["to"] == phone]


def fresh_database(url: str) -> None:
    """Drop and create the smoke database (only it: its name is checked)."""
    name = url.rsplit("/", 1)[1]
    check(name.endswith("_smoke"), f"refusing to recreate {name!r}: not a *_smoke database")
    maintenance = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    maintenance.close()


class Journey:
    def __init__(self, topology: Topology, sms_file: Path) -> None:
        self.topology = topology
        self.sms_file = sms_file
        self.base = topology.base_url
        self.steps: list[tuple[str, float]] = []
        self.checkout_id = f"smoke-checkout-{uuid.uuid4().hex[:12]}"

    def step(self, name: str, action):
        started = time.monotonic()
        result = action()
        elapsed = time.monotonic() - started
        self.steps.append((name, elapsed))
        print(f"  ok  {name} ({elapsed:.1f} s)", flush=True)
        return result

    def run(self) -> None:
        shopper = Client(self.base)
        manager = Client(self.base)

        signed = self.step(
            "customer signs in with an SMS code",
            lambda: shopper.sign_in(CUSTOMER_PHONE, self.sms_file),
        )
        check(signed["is_new_user"] and signed["user"]["market"] == "KG", f"sign-up: {signed}")
        self.step(
            "manager signs in with an SMS code",
            lambda: manager.sign_in(MANAGER_PHONE, self.sms_file),
        )
        me = manager.call("GET", "manager/me/")
        check(me["active_market"] == "KG", f"manager/me/: {me}")

        sku = self.step("browse: list, detail, an SKU in stock", lambda: self.browse())
        self.step(
            "cart: add two units",
            lambda: shopper.call(
                "POST", "cart/items/", 201, json={"sku_id": sku["id"], "quantity": 2}
            ),
        )
        cart = shopper.call("GET", "cart/")
        check(cart["items"] and cart["items"][0]["quantity"] == 2, f"cart: {cart}")

        before = manager.call("GET", "manager/dashboard/")
        today = before["date"]
        revenue_path = f"manager/revenue/?period=daily&date_from={today}&date_to={today}"
        snapshot_before = manager.call("GET", revenue_path)["totals"]

        order = self.step(
            "checkout while the manager's socket listens",
            lambda: asyncio.run(self.checkout_heard_by_manager(shopper, manager)),
        )
        check(Decimal(order["total"]) > 0 and order["status"] == "pending", f"order: {order}")
        number = order["order_number"]

        def ship():
            for status in ("confirmed", "processing", "shipped"):
                changed = manager.call(
                    "POST", f"manager/orders/{number}/status/", json={"status": status}
                )
                check(changed["status"] == status, f"status {status}: {changed}")

        self.step("manager confirms, processes and ships", ship)
        mine = shopper.call("GET", f"orders/{number}/")
        check(mine["status"] == "shipped", f"the customer sees {mine['status']}")

        def snapshot_counts_it():
            totals = manager.call("GET", revenue_path)["totals"]
            return totals["orders_count"] == snapshot_before["orders_count"] + 1 and totals

        totals = self.step(
            "worker recomputes the day's snapshot",
            lambda: until("the daily snapshot counting the order", snapshot_counts_it),
        )
        expected = Decimal(snapshot_before["revenue"] or 0) + Decimal(order["total"])
        check(Decimal(totals["revenue"]) == expected, f"snapshot revenue {totals} != {expected}")

        after = manager.call("GET", "manager/dashboard/")
        check(
            after["today"]["orders_count"] == before["today"]["orders_count"] + 1,
            f"dashboard today: {before['today']} → {after['today']}",
        )
        check(after["last_7_days"][-1]["date"] == today, "dashboard: today is last")
        print("  ok  dashboard shows the order", flush=True)

        self.step(
            "request id, JSON logs into the worker, metrics", lambda: self.observability(shopper)
        )

    def browse(self):
        anonymous = Client(self.base)
        listing = anonymous.call("GET", "products/?page_size=20")
        check(listing["results"], "the catalogue is empty")
        for row in listing["results"]:
            detail = anonymous.call("GET", f"products/{row['slug']}/")
            in_stock = [sku for sku in detail["skus"] if sku["in_stock"] and not sku["low_stock"]]
            if in_stock:
                return in_stock[0]
        raise SmokeFailure("no product with an SKU in stock")

    async def checkout_heard_by_manager(self, shopper: Client, manager: Client) -> dict:
        ticket = manager.call("POST", "realtime/ticket/", 201)["ticket"]
        url = f"ws://127.0.0.1:{self.topology.env['ASGI_PORT']}/ws/v1/events/?ticket={ticket}"
        async with connect(url) as socket:
            await socket.send('{"type": "ping"}')
            pong = json.loads(await asyncio.wait_for(socket.recv(), 10))
            check(pong == {"type": "pong"}, f"ping: {pong}")
            order = await asyncio.to_thread(
                shopper.call,
                "POST",
                "orders/",
                201,
                json={"address": ADDRESS, "payment_method": "cash_on_delivery"},
                headers={"Idempotency-Key": str(uuid.uuid4()), "X-Request-ID": self.checkout_id},
            )
            deadline = time.monotonic() + WAIT
            while True:
                remaining = deadline - time.monotonic()
                check(remaining > 0, "no order.created frame on the manager's socket")
                frame = json.loads(await asyncio.wait_for(socket.recv(), remaining))
                if frame.get("type") == "order.created":
                    check(
                        frame["data"]["order_number"] == order["order_number"],
                        f"frame for another order: {frame}",
                    )
                    check(frame["data"]["total"] == order["total"], f"frame total: {frame}")
                    return order

    def observability(self, shopper: Client) -> None:
        request_id = f"smoke-{uuid.uuid4().hex[:12]}"
        response = shopper.session.get(
            f"{self.base}/api/v1/users/me/", headers={"X-Request-ID": request_id}, timeout=10
        )
        check(response.status_code == 200, f"users/me/: {response.status_code}")
        check(
            response.headers.get("X-Request-ID") == request_id,
            f"X-Request-ID not echoed: {response.headers.get('X-Request-ID')!r}",
        )
        token = self.topology.env["METRICS_TOKEN"]
        metrics = requests.get(
            f"{self.base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        check(metrics.status_code == 200, f"/metrics: {metrics.status_code}")
        text = metrics.text
        for needle in ("marque_http_requests_total", 'market="KG"'):
            check(needle in text, f"/metrics has no {needle}")
        refused = requests.get(f"{self.base}/metrics", timeout=10)
        check(refused.status_code in (401, 403), f"/metrics without a token: {refused.status_code}")

        # JSON log lines: the checkout's access line in the web log, and the tasks it
        # queued logging the same request id in the worker's.
        def lines(name: str) -> list[dict]:
            text = (self.topology.log_dir / f"{name}.log").read_text(errors="replace")
            return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

        access = [
            line
            for line in lines("web")
            if line.get("request_id") == self.checkout_id and line["event"] == "request_finished"
        ]
        check(
            len(access) == 1 and access[0]["status"] == 201 and access[0]["market"] == "KG",
            f"web log: the checkout's access line: {access}",
        )
        tasks = until(
            "worker log lines with the checkout's request id",
            lambda: {
                line["task_name"]
                for line in lines("worker")
                if line.get("request_id") == self.checkout_id and "task_name" in line
            },
        )
        check("orders.tasks.notify_order_created" in tasks, f"tasks of the checkout: {tasks}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/marque_smoke")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()

    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="marque-smoke-"))
    env = local_environment(
        run_dir,
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        PORT=str(free_port()),
        ASGI_PORT=str(free_port()),
        WEB_CONCURRENCY="2",
        LOG_LEVEL="INFO",
        # Whatever the caller's shell or .env says: codes to the file, no real SMS to the
        # demo numbers, no other broker, replica or error reporting.
        SMS_BACKEND="users.sms.FileBackend",
        SMS_FILE_PATH=str(run_dir / "sms.jsonl"),
        CELERY_BROKER_URL=args.redis_url,
        DATABASE_REPLICA_URL="",
        SENTRY_DSN="",
    )
    fresh_database(args.database_url)
    redis.Redis.from_url(args.redis_url).flushdb()
    print(f"smoke: preparing (migrate, collectstatic, small demo store) in {run_dir}", flush=True)
    prepare(env, small=True)

    topology = Topology(env, log_dir=run_dir)
    topology.start()
    pids = ", ".join(f"{p.name} {p.pid}" for p in topology.processes.values())
    print(f"smoke: started {pids}", flush=True)
    status = 1
    try:
        topology.wait_ready()
        print(f"smoke: ready in {time.monotonic() - started:.0f} s; the journey:", flush=True)
        Journey(topology, Path(env["SMS_FILE_PATH"])).run()
        topology.check_alive()
        status = 0
    except (SmokeFailure, RuntimeError, requests.RequestException, TimeoutError) as error:
        print(f"smoke: FAILED: {error}", file=sys.stderr, flush=True)
        for name in topology.processes:
            log = run_dir / f"{name}.log"
            tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
            print(f"--- {name}.log (last {len(tail)} lines) ---", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr, flush=True)
    finally:
        topology.stop()
    verdict = "passed" if status == 0 else "failed"
    print(f"smoke: {verdict} in {time.monotonic() - started:.0f} s; stopped {pids}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
