"""MARQUE's traffic mix for Locust (`make loadtest`; ops/loadtest.py drives it).

    .venv/bin/python ops/loadtest.py --users 200 --duration 60     # the usual way
    LOADTEST_FIXTURE=run/fixture.json .venv/bin/locust -f ops/locustfile.py \\
        --headless -u 200 -r 20 -t 70s --host http://127.0.0.1:8000   # by hand, same fixture

Four kinds of visitor, each its own user class. Every user starts `pace` tasks per
second on average, at exponentially distributed intervals (`poisson_pacing`), so the
request mix does not depend on how fast the server answers (as long as it answers
within the pace), and the users' requests arrive as a Poisson stream. Not
`constant_throughput`: users spawned together stay in phase with it, and their
requests then arrive in bursts (the first runs of this file sent 70 req/s as one
burst of about 300 ms every second, which the server had to queue):

| class | users (weight) | tasks/s each | requests/task | share of requests |
| --- | ---: | ---: | ---: | ---: |
| `Browser`: anonymous catalogue, both markets (`X-Market`) | 28 | pace | 1 | 70 % |
| `Shopper`: signed-in cart and wishlist | 8 | pace | 1 | 20 % |
| `Buyer`: signed-in checkout (add to cart, `POST orders/`) | 5 | pace / 5 | 2 | 5 % |
| `Manager`: dashboard, orders, order detail, revenue | 2 | pace | 1 | 5 % |

Per second: 28 x pace + 8 x pace + 5 x (pace / 5) x 2 + 2 x pace = 40 x pace requests
for 43 users, i.e. 0.93 x pace per user: 0.465 requests/s per user at the default
pace (`LOADTEST_PACE`, 0.5 task/s: one click every 2 s).

Sign-in is not part of the mix: OTP codes are rate limited per IP and per phone
(docs/AUTH.md) and all the load comes from 127.0.0.1. ops/loadtest.py creates the
customers and managers beforehand and mints their JWT access tokens with the
server's SECRET_KEY, in the fixture file named by `LOADTEST_FIXTURE`, together
with what the users pick from (product slugs and ids, SKUs, filter values, order
numbers). Each signed-in Locust user takes a customer of its own from the pool.

Requests are named `<group> <route>` (`browse products/{slug}/`, `checkout
orders/`), so the statistics group by endpoint and by kind of visitor. Every
answer other than the expected status is a failure (a 409 `out_of_stock` too:
the driver tops the stock up so it never runs out).

`LOADTEST_RESULT` (optional): where to write, when the test stops, every
endpoint's counts and response-time histogram, the errors, and the instants the
users were all spawned and the test stopped (ops/loadtest.py reads it).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

from locust import FastHttpUser, HttpUser, events, task

logger = logging.getLogger("marque.loadtest")

_FIXTURE_PATH = os.environ.get("LOADTEST_FIXTURE")
if not _FIXTURE_PATH:
    raise SystemExit(
        "LOADTEST_FIXTURE is not set: run ops/loadtest.py, or point it at its fixture.json"
    )
FIXTURE = json.loads(Path(_FIXTURE_PATH).read_text())
PACE = float(os.environ.get("LOADTEST_PACE", "0.5"))  # tasks per user per second
CHECKOUT_PACE = PACE / 5  # a buyer checks out every 10 s at the default pace
MARKETS = ("KG", "US")
LANGUAGES = {"KG": ("ru", "ky", "en"), "US": ("en",)}
ORDERINGS = ("-created_at", "-created_at", "-created_at", "price", "-price", "-sales_count")
ORDERINGS += ("-rating_avg",)
RNG = random.Random()

_customers = itertools.count()
_managers = itertools.count()
_marks: dict[str, float] = {}


def poisson_pacing(rate: float):
    """A `wait_time`: tasks start at `rate` per second on average, exponential gaps.

    The next start is scheduled from the previous scheduled start, not from the end of
    the task, so a slow answer does not lower the rate; a task that overruns its slot
    starts the next one at once, with no catching up afterwards.
    """

    def wait_time(user) -> float:
        now = time.monotonic()
        previous = getattr(user, "_next_start", None)
        start = now if previous is None or previous < now - 1 / rate else previous
        user._next_start = start + RNG.expovariate(rate)
        return max(0.0, user._next_start - now)

    return wait_time


def q(value: str) -> str:
    """A query-string value (sizes, colours and brands may hold spaces or `&`)."""
    return quote(value, safe=",")


def _zipf_weights(n: int, s: float = 1.0) -> list[float]:
    """Popularity of the n items of a list, most popular first (a few products get most views)."""
    return [1 / (rank**s) for rank in range(1, n + 1)]


# FastHttpUser (geventhttpclient) by default: the cheapest client per request, so the load
# generator takes as little as possible of the cores it shares with the server.
# LOADTEST_CLIENT=requests switches to HttpUser (python-requests) to compare clients.
CLIENT = os.environ.get("LOADTEST_CLIENT", "fast")
_Base = HttpUser if CLIENT == "requests" else FastHttpUser


class Api(_Base):
    """One visitor: JSON requests under /api/v1/, each checked against its expected status."""

    abstract = True
    network_timeout = 10.0  # a request this slow is a failure, not a stall of the run
    connection_timeout = 5.0
    group = ""

    def on_start(self) -> None:
        self.headers = {"Accept": "application/json"}

    def call(self, method: str, path: str, route: str, expect=(200,), **kwargs):
        """`method /api/v1/<path>`, named `<group> <route>`; the response, or None on failure.

        Test the result with `is not None`: a response without a body (204) is falsy.
        """
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if CLIENT == "requests":
            kwargs.setdefault("timeout", (self.connection_timeout, self.network_timeout))
        with self.client.request(
            method,
            f"/api/v1/{path}",
            name=f"{self.group} {route}",
            headers=headers,
            catch_response=True,
            **kwargs,
        ) as response:
            if response.status_code in expect:
                response.success()
                return response
            body = (response.text or "")[:160] if response.status_code else ""
            wanted = "/".join(map(str, expect))
            response.failure(f"{response.status_code} (expected {wanted}) {body}".strip())
            return None

    @staticmethod
    def body(response) -> dict:
        try:
            return response.json() if response is not None and response.content else {}
        except ValueError:
            return {}


class Browser(Api):
    """Anonymous catalogue browsing in one market: lists, filters, facets, product pages."""

    weight = 28
    wait_time = poisson_pacing(PACE)
    group = "browse"

    def on_start(self) -> None:
        self.market = RNG.choice(MARKETS)
        self.catalogue = FIXTURE["catalogue"][self.market]
        self.headers = {
            "Accept": "application/json",
            "X-Market": self.market,
            "Accept-Language": RNG.choice(LANGUAGES[self.market]),
        }
        slugs = self.catalogue["slugs"]
        self.popularity = _zipf_weights(len(slugs))

    def slug(self) -> str:
        return RNG.choices(self.catalogue["slugs"], weights=self.popularity)[0]

    @task(18)
    def product_list(self) -> None:
        pages = max(1, -(-self.catalogue["count"] // 20))
        page = RNG.choices(range(1, pages + 1), weights=_zipf_weights(pages, 1.5))[0]
        query = f"page={page}"
        if RNG.random() < 0.4:
            query += f"&ordering={RNG.choice(ORDERINGS)}"
        self.call("GET", f"products/?{query}", "products/")

    @task(12)
    def product_list_filtered(self) -> None:
        catalogue = self.catalogue
        params: list[str] = []
        if RNG.random() < 0.7:
            category, subcategory = RNG.choice(catalogue["subcategories"])
            params.append(f"category={q(category)}")
            if subcategory and RNG.random() < 0.4:
                params.append(f"subcategory={q(subcategory)}")
        if catalogue["sizes"] and RNG.random() < 0.35:
            sizes = RNG.sample(catalogue["sizes"], min(len(catalogue["sizes"]), RNG.randint(1, 2)))
            params.append("size=" + q(",".join(sizes)))
        if catalogue["colors"] and RNG.random() < 0.25:
            params.append(f"color={q(RNG.choice(catalogue['colors']))}")
        if catalogue["brands"] and RNG.random() < 0.15:
            params.append(f"brand={q(RNG.choice(catalogue['brands']))}")
        if RNG.random() < 0.2:
            low, high = catalogue["price"]
            params.append(f"max_price={RNG.uniform(low, high):.2f}")
        if RNG.random() < 0.2:
            params.append("in_stock=true")
        if catalogue["search"] and RNG.random() < 0.1:
            params.append(f"search={q(RNG.choice(catalogue['search']))}")
        if not params:
            params.append(f"category={q(RNG.choice(catalogue['categories']))}")
        if RNG.random() < 0.3:
            params.append(f"ordering={RNG.choice(ORDERINGS)}")
        self.call("GET", "products/?" + "&".join(params), "products/?filters")

    @task(20)
    def product_detail(self) -> None:
        self.call("GET", f"products/{self.slug()}/", "products/{slug}/")

    @task(3)
    def product_reviews(self) -> None:
        self.call("GET", f"products/{self.slug()}/reviews/", "products/{slug}/reviews/")

    @task(6)
    def facets(self) -> None:
        query = ""
        if RNG.random() < 0.6:
            query = f"?category={q(RNG.choice(self.catalogue['categories']))}"
        self.call("GET", f"products/facets/{query}", "products/facets/")

    @task(5)
    def categories(self) -> None:
        self.call("GET", "categories/", "categories/")

    @task(2)
    def category(self) -> None:
        slug = RNG.choice(self.catalogue["categories"])
        self.call("GET", f"categories/{slug}/", "categories/{slug}/")

    @task(3)
    def banners(self) -> None:
        query = RNG.choice(("", "", "?type=hero", "?type=promo"))
        self.call("GET", f"banners/{query}", "banners/")

    @task(1)
    def markets(self) -> None:
        self.call("GET", "markets/", "markets/")


class Customer(Api):
    """A signed-in customer of the fixture's pool, one per Locust user."""

    abstract = True

    def on_start(self) -> None:
        pool = FIXTURE["customers"]
        index = next(_customers)
        if index >= len(pool):
            logger.warning("customer pool of %d exhausted: users now share customers", len(pool))
        self.customer = pool[index % len(pool)]
        self.market = self.customer["market"]
        self.catalogue = FIXTURE["catalogue"][self.market]
        self.headers = {"Accept": "application/json"}
        self.headers["Authorization"] = f"Bearer {self.customer['token']}"


class Shopper(Customer):
    """Signed-in cart and wishlist: reads, adds, quantity changes, removals."""

    weight = 8
    wait_time = poisson_pacing(PACE)
    group = "cart"
    MAX_LINES = 6

    def on_start(self) -> None:
        super().on_start()
        self.lines: dict[int, int] = {}  # cart line id -> SKU id
        self.wished: set[int] = set()
        self.remember_cart(self.call("GET", "cart/", "cart/"))
        wishlist = self.body(self.call("GET", "wishlist/?page_size=100", "wishlist/"))
        self.wished = {row["id"] for row in wishlist.get("results", [])}

    def remember_cart(self, response) -> None:
        if response is not None:
            items = self.body(response).get("items", [])
            self.lines = {item["id"]: item["sku_id"] for item in items}

    @task(4)
    def cart_read(self) -> None:
        self.remember_cart(self.call("GET", "cart/", "cart/"))

    @task(3)
    def cart_add(self) -> None:
        if len(self.lines) >= self.MAX_LINES:
            self.cart_remove()
            return
        in_cart = set(self.lines.values())
        sku_id = RNG.choice([s for s in self.catalogue["sku_ids"] if s not in in_cart])
        self.remember_cart(
            self.call(
                "POST",
                "cart/items/",
                "cart/items/",
                expect=(201, 200),
                json={"sku_id": sku_id, "quantity": RNG.randint(1, 2)},
            )
        )

    @task(2)
    def cart_update(self) -> None:
        if not self.lines:
            self.cart_add()
            return
        line = RNG.choice(list(self.lines))
        self.remember_cart(
            self.call(
                "PATCH",
                f"cart/items/{line}/",
                "cart/items/{id}/",
                json={"quantity": RNG.randint(1, 3)},
            )
        )

    @task(1)
    def cart_remove(self) -> None:
        if not self.lines:
            self.cart_read()
            return
        line = RNG.choice(list(self.lines))
        gone = self.call("DELETE", f"cart/items/{line}/", "cart/items/{id}/", expect=(204,))
        if gone is not None:  # (an empty 204 response is falsy)
            self.lines.pop(line, None)

    @task(3)
    def wishlist_read(self) -> None:
        self.call("GET", "wishlist/", "wishlist/")

    @task(2)
    def wishlist_add(self) -> None:
        choices = [p for p in self.catalogue["product_ids"] if p not in self.wished]
        if not choices:
            self.wishlist_remove()
            return
        product_id = RNG.choice(choices)
        added = self.call(
            "POST",
            "wishlist/items/",
            "wishlist/items/",
            expect=(201, 200),
            json={"product_id": product_id},
        )
        if added is not None:
            self.wished.add(product_id)

    @task(1)
    def wishlist_remove(self) -> None:
        if not self.wished:
            self.wishlist_add()
            return
        product_id = RNG.choice(sorted(self.wished))
        route = "wishlist/items/{product_id}/"
        gone = self.call("DELETE", f"wishlist/items/{product_id}/", route, expect=(204,))
        if gone is not None:
            self.wished.discard(product_id)


class Buyer(Customer):
    """Checkout: one SKU into the cart, then `POST orders/` with a fresh Idempotency-Key."""

    weight = 5
    wait_time = poisson_pacing(CHECKOUT_PACE)
    group = "checkout"

    def on_start(self) -> None:
        super().on_start()
        # Whatever an earlier run left in this customer's cart goes.
        self.call("DELETE", "cart/", "cart/", expect=(204,))

    @task
    def checkout(self) -> None:
        added = self.call(
            "POST",
            "cart/items/",
            "cart/items/",
            expect=(201, 200),
            json={"sku_id": RNG.choice(self.catalogue["sku_ids"]), "quantity": 1},
        )
        if added is None:
            return
        self.call(
            "POST",
            "orders/",
            "orders/",
            expect=(201,),
            json={"address_id": self.customer["address_id"], "payment_method": "cash_on_delivery"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )


class Manager(Api):
    """A store manager (role admin) on the dashboard and the orders of their active market."""

    weight = 2
    wait_time = poisson_pacing(PACE)
    group = "manager"

    def on_start(self) -> None:
        pool = FIXTURE["managers"]
        self.manager = pool[next(_managers) % len(pool)]
        self.market = self.manager["market"]
        self.orders = FIXTURE["orders"][self.market]
        self.headers = {"Accept": "application/json", "X-Market": self.market}
        self.headers["Authorization"] = f"Bearer {self.manager['token']}"

    @task(3)
    def dashboard(self) -> None:
        self.call("GET", "manager/dashboard/", "manager/dashboard/")

    @task(4)
    def orders_list(self) -> None:
        week_ago = (date.today() - timedelta(days=7)).isoformat()
        query = RNG.choice(
            (
                "",
                "status=pending",
                "today=true",
                "ordering=-total",
                "page=2",
                f"date_from={week_ago}",
                "status=shipped&ordering=-created_at",
                f"search={RNG.choice(self.orders)}" if self.orders else "status=confirmed",
            )
        )
        self.call("GET", f"manager/orders/?{query}", "manager/orders/")

    @task(2)
    def order_detail(self) -> None:
        if not self.orders:
            self.orders_list()
            return
        number = RNG.choice(self.orders)
        self.call("GET", f"manager/orders/{number}/", "manager/orders/{order_number}/")

    @task(1)
    def revenue(self) -> None:
        query = RNG.choice(
            (
                "period=daily",
                "period=weekly",
                "period=hourly&date_from=" + (date.today() - timedelta(days=1)).isoformat(),
            )
        )
        self.call("GET", f"manager/revenue/?{query}", "manager/revenue/")


# --- What ops/loadtest.py reads back ---------------------------------------------------------


_environment = None
_spawned_classes: dict[str, int] = {}


@events.init.add_listener
def _init(environment, **kwargs) -> None:
    global _environment
    _environment = environment


@events.spawning_complete.add_listener
def _spawned(user_count: int, **kwargs) -> None:
    if "spawned" not in _marks:
        _marks["spawned"] = time.time()
        if _environment is not None and _environment.runner is not None:
            _spawned_classes.update(_environment.runner.user_classes_count)


@events.test_stop.add_listener
def _write_result(environment, **kwargs) -> None:
    path = os.environ.get("LOADTEST_RESULT")
    if not path:
        return
    _marks["stopped"] = time.time()
    stats = environment.stats

    def entry(e) -> dict:
        return {
            "method": e.method,
            "name": e.name,
            "num_requests": e.num_requests,
            "num_failures": e.num_failures,
            "total_response_time": e.total_response_time,
            "max_response_time": e.max_response_time,
            "total_content_length": e.total_content_length,
            "start_time": e.start_time,
            "last_request_timestamp": e.last_request_timestamp,
            "response_times": {str(k): v for k, v in e.response_times.items()},
        }

    result = {
        "marks": _marks,
        "user_classes": _spawned_classes,
        "entries": [entry(e) for e in stats.entries.values() if e.num_requests or e.num_failures],
        "total": entry(stats.total),
        "errors": [
            {"method": e.method, "name": e.name, "error": str(e.error), "count": e.occurrences}
            for e in stats.errors.values()
        ],
    }
    Path(path).write_text(json.dumps(result))
