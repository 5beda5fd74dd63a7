"""The client side of `make faults` (ops/faults.py): load threads that record every answer.

Every HTTP response is recorded with when it was asked, what it was (`kind`),
its status, content type, JSON `code`, `Retry-After`, and whether its body
holds HTML or a stack trace. Clients keep going through faults: after a 503 or
a transport error they pause half a second (a drill probes continuously; a real
client would honour `Retry-After`), and a checkout that got no definite answer
is retried with the same `Idempotency-Key` until it gets one.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

ADDRESS = {
    "recipient_name": "Fault Drill",
    "phone": "+996700123456",
    "city": "Bishkek",
    "street": "Chui Ave",
    "building": "120",
    "apartment": "5",
}
CHECKOUT = {"address": ADDRESS, "payment_method": "cash_on_delivery"}
HTML_MARKERS = ("<html", "<!doctype")
TRACE_MARKERS = ("Traceback", 'File "')
# What counts as the kind of request answering again (recovery time).
SUCCESS = {"readyz": 200, "catalogue": 200, "checkout": 201}
ORDERINGS = ("-created_at", "price", "-price", "-sales_count")


@dataclass(frozen=True)
class Hit:
    t: float  # seconds since the drill's t0 when the request was sent
    elapsed: float
    actor: str
    kind: str
    method: str
    path: str
    status: int | None  # None: no HTTP answer (transport error)
    content_type: str
    code: str | None
    retry_after: str | None
    html: bool
    trace: bool
    error: str | None

    @property
    def label(self) -> str:
        return str(self.status) if self.status is not None else "error"

    def problems(self) -> list[str]:
        """The client-facing rules this answer breaks (empty: none)."""
        found = []
        if self.status is None:
            found.append("transport_error")
            return found
        if self.status >= 500 and self.status != 503:
            found.append("5xx_not_503")
        if self.status == 503 and not self.retry_after and self.kind != "readyz":
            found.append("503_without_retry_after")
        if self.status != 204 and not self.content_type.startswith("application/json"):
            found.append("not_json")
        if self.html:
            found.append("html")
        if self.trace:
            found.append("traceback")
        return found


class Recorder:
    """Thread-safe list of `Hit`s, plus up to a few sample bodies per broken rule."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.hits: list[Hit] = []
        self.samples: dict[str, list[dict]] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def wall(self, t: float) -> float:
        return self.wall0 + t

    def add(self, hit: Hit, response: requests.Response | None = None) -> None:
        problems = hit.problems()
        with self._lock:
            self.hits.append(hit)
            for problem in problems:
                bucket = self.samples.setdefault(problem, [])
                if len(bucket) < 5:
                    bucket.append(
                        {
                            "t": round(hit.t, 2),
                            "request": f"{hit.method} {hit.path}",
                            "status": hit.status,
                            "content_type": hit.content_type,
                            "retry_after": hit.retry_after,
                            "error": hit.error,
                            "body": response.text[:600] if response is not None else None,
                            "request_id": response.headers.get("X-Request-ID")
                            if response is not None
                            else None,
                        }
                    )

    def snapshot(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def first_success_after(self, kind: str, t: float) -> float | None:
        wanted = SUCCESS[kind]
        for hit in self.snapshot():
            if hit.kind == kind and hit.t >= t and hit.status == wanted:
                return hit.t
        return None


class Api:
    """A JSON client of the API in the KG market; every answer goes to the recorder."""

    def __init__(self, base: str, recorder: Recorder, actor: str) -> None:
        self.base = base
        self.recorder = recorder
        self.actor = actor
        self.session = requests.Session()
        self.session.headers.update({"X-Market": "KG", "Accept": "application/json"})

    def _hit(self, started: float, kind: str, method: str, path: str, *answer) -> Hit:
        """One request's record: who asked what, when, how long it took, and `answer`."""
        return Hit(started, self.recorder.now() - started, self.actor, kind, method, path, *answer)

    def call(
        self, kind: str, method: str, path: str, timeout: float = 30, **kwargs
    ) -> requests.Response | None:
        started = self.recorder.now()
        try:
            response = self.session.request(method, self.base + path, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            self.recorder.add(
                self._hit(started, kind, method, path, None, "", None, None, False, False, error)
            )
            return None
        text = response.text
        code = None
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and text:
            try:
                body = response.json()
                code = body.get("code") if isinstance(body, dict) else None
            except ValueError:
                pass
        lowered = text[:4000].lower()
        self.recorder.add(
            self._hit(
                started,
                kind,
                method,
                path,
                response.status_code,
                content_type,
                code,
                response.headers.get("Retry-After"),
                any(marker in lowered for marker in HTML_MARKERS),
                any(marker in text for marker in TRACE_MARKERS),
                None,
            ),
            response,
        )
        return response

    def clone(self, actor: str) -> Api:
        """The same identity on a session of its own (one session per thread)."""
        twin = Api(self.base, self.recorder, actor)
        twin.session.headers.update(self.session.headers)
        return twin

    def json(self, kind: str, method: str, path: str, expect: int, **kwargs) -> dict:
        """A call that must succeed (setup steps): raises otherwise."""
        response = self.call(kind, method, path, **kwargs)
        if response is None or response.status_code != expect:
            status = response.status_code if response is not None else "no answer"
            body = response.text[:300] if response is not None else ""
            raise RuntimeError(f"{method} {path}: {status} (expected {expect}) {body}")
        return response.json() if response.content else {}


def read_sms(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def sign_in(api: Api, phone: str, sms_file: Path, timeout: float = 60) -> dict:
    """OTP sign-in (sign-up for a new phone): the code is read from the SMS file."""
    sent_before = sum(1 for sms in read_sms(sms_file) if sms["to"] == phone)
    api.json("signin", "POST", "/api/v1/auth/otp/request/", 202, json={"phone": phone})
    deadline = time.monotonic() + timeout
    while True:
        mine = [sms for sms in read_sms(sms_file) if sms["to"] == phone]
        if len(mine) > sent_before:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no SMS to {phone} after {timeout:.0f} s")
        time.sleep(0.2)
    code = next(w.rstrip(".") for w in mine[-1]["body"].split() if w.rstrip(".").isdigit())
    session = api.json(
        "signin", "POST", "/api/v1/auth/otp/verify/", 200, json={"phone": phone, "code": code}
    )
    api.session.headers["Authorization"] = f"Bearer {session['access']}"
    return session


class Load:
    """Customers, a manager, a readiness probe and a manager's socket, until `stop`."""

    # What the manager does next with an order in each state: (action, probability).
    NEXT = {
        "pending": (("status", "confirmed", 0.5), ("cancel", None, 0.15)),
        "confirmed": (("status", "processing", 0.5), ("cancel", None, 0.1)),
        "processing": (("status", "shipped", 0.6),),
        "shipped": (("status", "delivered", 0.5),),
        "cancelled": (("resume", None, 0.3),),
    }

    def __init__(
        self,
        recorder: Recorder,
        customers: list[Api],
        manager: Api,
        probe: Api,
        skus: list[dict],
        slugs: list[str],
        asgi_port: str,
        think: float,
        checkout_share: float,
        seed: int = 7,
    ) -> None:
        self.recorder = recorder
        self.customers = customers
        self.manager = manager
        self.socket_api = manager.clone("manager-socket")
        self.probe = probe
        self.skus = skus
        self.slugs = slugs
        self.asgi_port = asgi_port
        self.think = think
        self.checkout_share = checkout_share
        self.seed = seed
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.manager_queue: deque[tuple[str, str]] = deque()
        self.orders: dict[str, str] = {}  # order number -> the idempotency key that made it
        self.key_orders: dict[str, set[str]] = {}  # idempotency key -> order numbers answered
        self.unresolved_keys: dict[str, str] = {}  # key -> customer actor, no definite answer
        self.frames: Counter[str] = Counter()
        self.frame_orders: set[str] = set()
        self.socket_closes: Counter[str] = Counter()
        self.socket_opens = 0

    # --- threads ---------------------------------------------------------------------------

    def start(self) -> None:
        targets = [
            (f"customer-{i}", self._customer, (api, random.Random(self.seed + i)))
            for i, api in enumerate(self.customers)
        ]
        targets += [
            ("manager", self._manager, (random.Random(self.seed - 1),)),
            ("probe", self._probe, ()),
            ("socket", self._socket, ()),
        ]
        for name, target, args in targets:
            thread = threading.Thread(target=target, args=args, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self, timeout: float = 40) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def _pause(self, response: requests.Response | None, rng: random.Random) -> None:
        if response is None or response.status_code >= 500 or response.status_code == 429:
            self.stop.wait(0.5)
        else:
            self.stop.wait(self.think * rng.uniform(0.5, 1.5))

    def _customer(self, api: Api, rng: random.Random) -> None:
        """Mostly reads. On `checkout_share` of the visits a SKU goes into the cart, and the
        next visit checks out (so checkouts are in flight whatever fails meanwhile)."""
        key: str | None = None
        while not self.stop.is_set():
            ordering = rng.choice(ORDERINGS)
            size = rng.choice((6, 12, 20))
            answers = [
                api.call(
                    "catalogue", "GET", f"/api/v1/products/?page_size={size}&ordering={ordering}"
                )
            ]
            if rng.random() < 0.6:
                slug = rng.choice(self.slugs)
                answers.append(api.call("product", "GET", f"/api/v1/products/{slug}/"))
            if key is not None:
                key = self._checkout(api, key, rng)
            elif rng.random() < self.checkout_share:
                sku = rng.choice(self.skus)
                body = {"sku_id": sku["id"], "quantity": rng.randint(1, 2)}
                added = api.call("cart_add", "POST", "/api/v1/cart/items/", json=body)
                answers.append(added)
                if added is not None and added.status_code in (200, 201):
                    key = str(uuid.uuid4())
                    with self._lock:
                        self.unresolved_keys[key] = api.actor
            if rng.random() < 0.15:
                answers.append(api.call("orders", "GET", "/api/v1/orders/"))
            if rng.random() < 0.15:
                path = "/api/v1/users/me/notifications/"
                answers.append(api.call("notifications", "GET", path))
            if any(a is None or a.status_code >= 500 for a in answers):
                self.stop.wait(0.5)  # something is down: come back soon
            else:
                self.stop.wait(self.think * rng.uniform(0.5, 1.5))
        if key is not None:  # the last checkout had no definite answer: settle it
            for _ in range(5):
                key = self._checkout(api, key, rng)
                if key is None:
                    break
                time.sleep(1)

    def _checkout(self, api: Api, key: str, rng: random.Random) -> str | None:
        """One checkout try with `key`; returns the key while the answer is not definite."""
        response = self.place(api, key)
        if response is None or response.status_code >= 500 or response.status_code == 429:
            return key
        if response.status_code == 201:
            number = response.json()["order_number"]
            if rng.random() < 0.1:
                cancelled = api.call(
                    "cancel",
                    "POST",
                    f"/api/v1/orders/{number}/cancel/",
                    json={"reason": "fault drill"},
                )
                if cancelled is not None and cancelled.status_code == 200:
                    return None
            with self._lock:
                if len(self.manager_queue) < 60:
                    self.manager_queue.append((number, "pending"))
        return None

    def _manager(self, rng: random.Random) -> None:
        api = self.manager
        turn = 0
        while not self.stop.is_set():
            turn += 1
            if turn % 10 == 0:
                api.call("manager_orders", "GET", "/api/v1/manager/orders/?page_size=20")
            elif turn % 10 == 5:
                api.call("dashboard", "GET", "/api/v1/manager/dashboard/")
            with self._lock:
                item = self.manager_queue.popleft() if self.manager_queue else None
            if item is None:
                self.stop.wait(self.think)
                continue
            number, state = item
            self._pause(self._act(api, number, state, rng), rng)

    def _act(self, api: Api, number: str, state: str, rng: random.Random):
        roll = rng.random()
        for action, target, chance in self.NEXT.get(state, ()):
            if roll >= chance:
                roll -= chance
                continue
            base = f"/api/v1/manager/orders/{number}/"
            if action == "status":
                response = api.call(
                    "manager_status", "POST", base + "status/", json={"status": target}
                )
                after = target
            elif action == "cancel":
                response = api.call(
                    "manager_cancel", "POST", base + "cancel/", json={"reason": "fault drill"}
                )
                after = "cancelled"
            else:
                response = api.call(
                    "manager_resume", "POST", base + "resume/", json={"note": "fault drill"}
                )
                after = "pending"
            with self._lock:
                if response is None or response.status_code >= 500:
                    self.manager_queue.append((number, state))  # try again later
                elif response.status_code == 200 and len(self.manager_queue) < 60:
                    self.manager_queue.append((number, after))
            return response
        return None

    def _probe(self) -> None:
        while not self.stop.is_set():
            self.probe.call("readyz", "GET", "/readyz", timeout=10)
            self.stop.wait(0.25)

    def _socket(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        """The manager's socket: counts frames; reconnects with a new ticket (docs/REALTIME.md)."""
        while not self.stop.is_set():
            ticket = await asyncio.to_thread(
                self.socket_api.call, "ticket", "POST", "/api/v1/realtime/ticket/"
            )
            if ticket is None or ticket.status_code != 201:
                await asyncio.sleep(3)
                continue
            url = f"ws://127.0.0.1:{self.asgi_port}/ws/v1/events/?ticket={ticket.json()['ticket']}"
            try:
                async with connect(url, open_timeout=10) as socket:
                    self.socket_opens += 1
                    while not self.stop.is_set():
                        try:
                            raw = await asyncio.wait_for(socket.recv(), 1)
                        except TimeoutError:
                            continue
                        frame = json.loads(raw)
                        self.frames[frame.get("type", "?")] += 1
                        if frame.get("type") == "order.created":
                            self.frame_orders.add(frame["data"]["order_number"])
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else "no close frame"
                self.socket_closes[str(code)] += 1
            except (OSError, TimeoutError, InvalidStatus) as exc:
                self.socket_closes[type(exc).__name__] += 1
            await asyncio.sleep(3)

    # --- driven by the drills: a burst of work, a checkout placed during a fault ----------

    def fill_cart(self, customer: Api) -> str | None:
        """One SKU into `customer`'s cart; returns the Idempotency-Key of its checkout."""
        added = customer.call(
            "cart_add",
            "POST",
            "/api/v1/cart/items/",
            json={"sku_id": random.choice(self.skus)["id"], "quantity": 1},
        )
        if added is None or added.status_code not in (200, 201):
            return None
        key = str(uuid.uuid4())
        with self._lock:
            self.unresolved_keys[key] = customer.actor
        return key

    def place(self, customer: Api, key: str) -> requests.Response | None:
        """One checkout try with `key` (bookkeeping as the customers' own)."""
        response = customer.call(
            "checkout", "POST", "/api/v1/orders/", json=CHECKOUT, headers={"Idempotency-Key": key}
        )
        if response is not None and response.status_code < 500 and response.status_code != 429:
            with self._lock:
                self.unresolved_keys.pop(key, None)
                if response.status_code == 201:
                    number = response.json()["order_number"]
                    self.orders[number] = key
                    self.key_orders.setdefault(key, set()).add(number)
        return response

    def burst(self, customer: Api, manager: Api, count: int = 8) -> list[str]:
        """`count` quick checkouts by one customer, each confirmed at once by `manager`
        (a session of its own: the manager thread keeps using its own)."""
        numbers = []
        for _ in range(count):
            key = self.fill_cart(customer)
            if key is None:
                continue
            response = self.place(customer, key)
            if response is not None and response.status_code == 201:
                number = response.json()["order_number"]
                numbers.append(number)
                manager.call(
                    "manager_status",
                    "POST",
                    f"/api/v1/manager/orders/{number}/status/",
                    json={"status": "confirmed"},
                )
        return numbers
