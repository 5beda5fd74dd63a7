"""`/metrics` (Prometheus): the token rules, and what each metric counts (docs/OBSERVABILITY.md).

Every test reads the numbers the way Prometheus does, from the exposition that
`/metrics` serves (or, for the multiprocess proof, from the files of several
processes), and compares them before and after the thing an operator would
watch: a request, a catalogue read, a task, a checkout, a code request, a socket.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from asgiref.sync import sync_to_async
from celery import shared_task
from celery.exceptions import Retry
from django.conf import settings as django_settings
from django.db import transaction
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from conftest import authenticate
from main import metrics
from orders.tests.helpers import INLINE_KG, checkout, fill_cart, priced_sku
from orders.tests.test_payments import authorize, deliver, placed
from realtime.tests.support import close_code, open_socket, run, settled, ticket_for
from users.tests.factories import UserFactory

TOKEN = "test-metrics-token-0123456789"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client=None) -> dict[tuple[str, tuple], float]:
    """Every sample of `/metrics`, as {(name, sorted labels): value}."""
    response = (client or APIClient()).get("/metrics", **AUTH)
    assert response.status_code == 200, response.content
    return samples(response.content.decode())


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


class Delta:
    """What moved between two scrapes."""

    def __init__(self) -> None:
        self.before = scrape()

    def __call__(self, name: str, **labels: str) -> float:
        after = scrape()
        return value(after, name, **labels) - value(self.before, name, **labels)


# --- The endpoint -------------------------------------------------------------------------


def test_without_a_token_setting_the_endpoint_does_not_exist(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", **AUTH)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dGVzdDp0ZXN0", TOKEN])
def test_no_bearer_token_is_401(client, header):
    headers = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "detail": "Send the metrics token as `Authorization: Bearer <token>`.",
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper()])
def test_a_wrong_token_is_403(client, token):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_the_token_gets_the_prometheus_text_format(client):
    response = client.get("/metrics", **AUTH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    assert "# TYPE marque_http_requests_total counter" in text
    assert "# TYPE marque_http_request_duration_seconds histogram" in text
    # Prometheus asking for OpenMetrics gets it.
    response = client.get(
        "/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0", **AUTH
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().rstrip().endswith("# EOF")


def test_only_reads_are_allowed(client):
    assert client.post("/metrics", **AUTH).status_code == 405


def test_scrapes_over_plain_http_are_not_redirected(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/metrics", **AUTH).status_code == 200
    assert client.get("/api/v1/markets/").status_code == 301


def test_the_endpoint_is_not_in_the_api_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["paths"]
    assert not [path for path in schema["paths"] if "metrics" in path]


# --- HTTP requests ------------------------------------------------------------------------


def test_a_request_is_counted_by_route_and_status_with_its_latency(client):
    delta = Delta()
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200

    assert delta("marque_http_requests_total", method="GET", route="healthz", status="200") == 2
    count = "marque_http_request_duration_seconds_count"
    assert delta(count, method="GET", route="healthz") == 2
    inf = "marque_http_request_duration_seconds_bucket"
    assert delta(inf, method="GET", route="healthz", le="+Inf") == 2


@pytest.mark.django_db
def test_routes_are_patterns_never_raw_paths(client):
    delta = Delta()
    assert client.get("/api/v1/products/no-such-product/").status_code == 404
    assert client.get("/no/such/page/12345").status_code == 404
    assert client.post("/healthz").status_code == 405

    route = "api/v1/products/<slug>/"
    assert delta("marque_http_requests_total", method="GET", route=route, status="404") == 1
    assert delta("marque_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert delta("marque_http_requests_total", method="POST", route="healthz", status="405") == 1
    assert "no-such-product" not in client.get("/metrics", **AUTH).content.decode()


def test_a_request_answered_by_a_middleware_keeps_its_route(client, settings):
    """A body refused by Content-Length never reaches URL resolution: still its route."""
    settings.API_MAX_BODY_BYTES = 10
    delta = Delta()
    response = client.post("/api/v1/auth/otp/request/", {"phone": "+996700123456" * 5})
    assert response.status_code == 413
    route = "api/v1/auth/otp/request/"
    assert delta("marque_http_requests_total", method="POST", route=route, status="413") == 1


@pytest.mark.django_db
def test_the_database_time_of_a_request_is_recorded(client):
    delta = Delta()
    assert client.get("/readyz").status_code == 200  # a SELECT 1 per database

    assert delta("marque_http_db_queries_total", route="readyz") >= 1
    assert delta("marque_http_request_db_seconds_count", route="readyz") == 1
    assert delta("marque_http_request_db_seconds_sum", route="readyz") > 0
    # A request that never touches the database records none.
    delta = Delta()
    client.get("/healthz")
    assert delta("marque_http_db_queries_total", route="healthz") == 0
    assert delta("marque_http_request_db_seconds_sum", route="healthz") == 0
    assert delta("marque_http_request_db_seconds_count", route="healthz") == 1


# --- Catalogue cache ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_repeated_anonymous_catalogue_read_is_a_cache_hit(client):
    delta = Delta()
    first = client.get("/api/v1/categories/", HTTP_X_MARKET="KG")
    second = client.get("/api/v1/categories/", HTTP_X_MARKET="KG")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content

    name = "marque_catalogue_cache_requests_total"
    # The first read missed both layers and stored them; the second was replayed whole.
    assert delta(name, layer="response", result="miss") == 1
    assert delta(name, layer="body", result="miss") == 1
    assert delta(name, layer="response", result="hit") == 1
    assert delta(name, layer="body", result="hit") == 0


@pytest.mark.django_db
def test_a_signed_in_catalogue_read_uses_the_body_cache(customer):
    client = authenticate(APIClient(), customer)
    delta = Delta()
    client.get("/api/v1/categories/")
    client.get("/api/v1/categories/")
    name = "marque_catalogue_cache_requests_total"
    assert delta(name, layer="body", result="miss") == 1
    assert delta(name, layer="body", result="hit") == 1
    assert delta(name, layer="response", result="hit") == 0  # never replayed to a signed-in user


# --- Celery ---------------------------------------------------------------------------------


@shared_task(name="main.tests.test_metrics.add")
def add(a, b):
    return a + b


@shared_task(name="main.tests.test_metrics.explode")
def explode():
    raise RuntimeError("boom")


@shared_task(bind=True, name="main.tests.test_metrics.flaky", max_retries=1)
def flaky(self):
    if not self.request.retries:
        raise self.retry(countdown=0)
    return "done"


def test_task_outcomes_and_durations_are_recorded_by_task_name():
    delta = Delta()
    # As a worker runs them: the outcome is the state Celery recorded.
    assert add.apply((2, 3)).get() == 5
    assert explode.apply(throw=False).state == "FAILURE"
    assert flaky.apply(throw=False).get() == "done"  # retried once (eager: at once)
    # Eager with exceptions propagated to the caller (development, tests): the same.
    with pytest.raises(RuntimeError):
        explode.delay()
    with pytest.raises(Retry):
        flaky.delay()

    tasks = "marque_celery_tasks_total"
    assert delta(tasks, task="main.tests.test_metrics.add", outcome="success") == 1
    assert delta(tasks, task="main.tests.test_metrics.explode", outcome="failure") == 2
    assert delta(tasks, task="main.tests.test_metrics.flaky", outcome="retry") == 2
    assert delta(tasks, task="main.tests.test_metrics.flaky", outcome="success") == 1
    duration = "marque_celery_task_duration_seconds_count"
    assert delta(duration, task="main.tests.test_metrics.add") == 1
    assert delta(duration, task="main.tests.test_metrics.explode") == 2


# --- Business counters, by market -------------------------------------------------------------


@pytest.mark.django_db
def test_a_checkout_counts_one_order_in_its_market_after_commit(
    customer, customer_client, django_capture_on_commit_callbacks
):
    delta = Delta()
    fill_cart(customer, (priced_sku(price="1290.00"), 1))
    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.post(
            "/api/v1/orders/",
            {"address": INLINE_KG, "payment_method": "cash_on_delivery"},
            format="json",
        )
    assert response.status_code == 201
    # A checkout that fails (the cart is empty now) places nothing.
    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.post(
            "/api/v1/orders/",
            {"address": INLINE_KG, "payment_method": "cash_on_delivery"},
            format="json",
        )
    assert response.status_code == 400

    orders = "marque_orders_placed_total"
    assert delta(orders, market="KG", payment_method="cash_on_delivery") == 1
    assert delta(orders, market="US", payment_method="cash_on_delivery") == 0


@pytest.mark.django_db
def test_an_order_rolled_back_is_not_counted(customer, django_capture_on_commit_callbacks):
    delta = Delta()
    fill_cart(customer, (priced_sku(price="1290.00"), 1))

    def place_and_roll_back():
        with transaction.atomic():
            assert checkout(customer).order.pk
            transaction.set_rollback(True)

    with django_capture_on_commit_callbacks(execute=True):
        place_and_roll_back()
    assert delta("marque_orders_placed_total", market="KG", payment_method="cash_on_delivery") == 0


@pytest.mark.django_db
def test_card_payments_authorised_and_declined_are_counted(
    fake_stripe, us_customer, django_capture_on_commit_callbacks
):
    client = authenticate(APIClient(), us_customer)
    delta = Delta()
    with django_capture_on_commit_callbacks(execute=True):
        order, payment, _ = placed(client, us_customer)
        declined = fake_stripe.confirm(payment.provider_ref, "declined")
        deliver(client, fake_stripe, "payment_intent.payment_failed", declined)
        authorize(client, fake_stripe, payment)
    order.refresh_from_db()
    assert order.payment_status == "authorized"

    payments = "marque_payments_total"
    assert delta(payments, market="US", provider="stripe", result="failed") == 1
    assert delta(payments, market="US", provider="stripe", result="authorized") == 1
    assert delta("marque_orders_placed_total", market="US", payment_method="card") == 1


# Transactional, as the OTP tests are: the code is sent when its transaction commits.
@pytest.mark.django_db(transaction=True)
def test_otp_requests_are_counted_by_market_and_result():
    client = APIClient()
    delta = Delta()
    url = "/api/v1/auth/otp/request/"
    assert client.post(url, {"phone": "+996700123456"}).status_code == 202
    assert client.post(url, {"phone": "+996700123456"}).status_code == 429  # cooldown
    assert client.post(url, {"phone": "12"}).status_code == 400
    assert client.post(url, {"phone": "(202) 555-0188"}, HTTP_X_MARKET="US").status_code == 202

    otp = "marque_otp_requests_total"
    assert delta(otp, market="KG", purpose="login", result="sent") == 1
    assert delta(otp, market="KG", purpose="login", result="throttled") == 1
    assert delta(otp, market="KG", purpose="login", result="refused") == 1
    assert delta(otp, market="US", purpose="login", result="sent") == 1


@pytest.mark.django_db(transaction=True)
def test_an_sms_that_cannot_be_sent_is_counted(settings):
    settings.SMS_BACKEND = "main.tests.test_metrics.BrokenSMS"
    delta = Delta()
    response = APIClient().post("/api/v1/auth/otp/request/", {"phone": "+996700123456"})
    assert response.status_code == 503
    otp = "marque_otp_requests_total"
    assert delta(otp, market="KG", purpose="login", result="sms_unavailable") == 1
    assert delta(otp, market="KG", purpose="login", result="sent") == 0


class BrokenSMS:
    def send(self, *args, **kwargs):
        raise ConnectionError("the provider is down")


@pytest.mark.django_db(transaction=True)
def test_open_websockets_are_a_gauge_by_role():
    user = UserFactory(phone="+996700555111")
    name = "marque_websocket_connections"

    seen = []

    async def scenario():
        seen.append(await sync_to_async(scrape)())
        socket = await open_socket(await sync_to_async(ticket_for)(user))
        await settled(socket)
        refused = await open_socket("not-a-ticket")  # never admitted: not counted
        assert await close_code(refused) == 4401
        seen.append(await sync_to_async(scrape)())
        await socket.disconnect()
        seen.append(await sync_to_async(scrape)())

    run(scenario)
    before, during, after = (value(found, name, role="customer") for found in seen)
    assert during - before == 1
    assert after == before


# --- Several processes ------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings.test")
    from main import metrics
    market, orders = sys.argv[1], int(sys.argv[2])
    for _ in range(orders):
        metrics.ORDERS_PLACED.labels(market, "cash_on_delivery").inc()
    metrics.HTTP_LATENCY.labels("GET", "healthz").observe(0.01)
    socket = metrics.websocket_admitted(manager=False)
    print(os.getpid(), flush=True)
    sys.stdin.readline()  # stays alive (its socket open) until told to exit
    """
)


ORDERS = "marque_orders_placed_total"
CASH_KG = {"market": "KG", "payment_method": "cash_on_delivery"}


def _collect(path) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


@pytest.mark.slow
def test_several_processes_add_up_in_one_scrape(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    writers = []
    for orders in (2, 3):
        writers.append(
            subprocess.Popen(
                [sys.executable, "-c", WRITER, "KG", str(orders)],
                cwd=django_settings.BASE_DIR,
                env=env,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        )
    try:
        pids = [int(writer.stdout.readline()) for writer in writers]
        found = _collect(tmp_path)
        assert value(found, ORDERS, **CASH_KG) == 5
        latency = "marque_http_request_duration_seconds_count"
        assert value(found, latency, method="GET", route="healthz") == 2
        assert value(found, "marque_websocket_connections", role="customer") == 2

        # One process ends: its count of open sockets leaves, its totals stay.
        writers[0].communicate("\n", timeout=30)
        assert not (tmp_path / f"gauge_livesum_{pids[0]}.db").exists()
        found = _collect(tmp_path)
        assert value(found, "marque_websocket_connections", role="customer") == 1
        assert value(found, ORDERS, **CASH_KG) == 5
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.communicate("\n", timeout=30)


def test_gunicorns_child_exit_hook_removes_a_dead_workers_live_gauges(tmp_path, monkeypatch):
    import gunicorn_config

    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "counter_4242.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    gunicorn_config.child_exit(server=None, worker=type("Worker", (), {"pid": 4242}))

    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str, headers: str = "") -> tuple[int, bytes]:
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request.encode())
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.slow
def test_gunicorn_with_two_workers_serves_the_sum_of_both(tmp_path):
    """Real gunicorn, two sync workers, one request served by each: every scrape sees both."""
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "main.settings.test",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_TOKEN": TOKEN,
    }
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn_config.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=django_settings.BASE_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if _get(port, "/metrics", f"Authorization: Bearer {TOKEN}\r\n")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

        # A sync worker serves one connection at a time: while one worker waits for the
        # rest of the first request, the second request can only go to the other worker.
        held = socket.create_connection(("127.0.0.1", port), timeout=10)
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        assert _get(port, "/healthz")[0] == 200
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.recv(65536).startswith(b"HTTP/1.1 200")
        held.close()

        counters = {path.name for path in metrics_dir.glob("counter_*.db")}
        assert len(counters) >= 2, counters  # both workers wrote
        for _ in range(4):  # whichever worker answers the scrape
            status, body = _get(port, "/metrics", f"Authorization: Bearer {TOKEN}\r\n")
            assert status == 200
            found = samples(body.decode())
            requests = "marque_http_requests_total"
            assert value(found, requests, method="GET", route="healthz", status="200") == 2
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_metric_names_are_prefixed_and_documented():
    doc = (django_settings.BASE_DIR / "docs" / "OBSERVABILITY.md").read_text()
    names = [
        collector._name + ("_total" if isinstance(collector, Counter) else "")
        for collector in vars(metrics).values()
        if isinstance(collector, Counter | Gauge | Histogram)
    ]
    assert len(names) >= 10
    for name in names:
        assert name.startswith("marque_"), name
        assert f"`{name}`" in doc, f"{name}: add it to docs/OBSERVABILITY.md's metric table"
