"""Structured logs with a request id (docs/OBSERVABILITY.md).

Every response carries `X-Request-ID` (the client's when sane, else a new one),
errors answered by other middleware included; every request writes one access
line; a line written while serving a request names its request id, user and
market; a task the request queued logs with the same id, in a real worker too.
Lines are read through the production (JSON) formatter and parsed one by one.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from conftest import authenticate
from main.celery import app
from main.logs import json_formatter
from main.request_market import MarketContextMixin
from main.testing import PrivateRedis, celery_on_broker, needs_redis_server
from main.urls import urlpatterns as project_urlpatterns
from outbox.models import OutboxMessage
from outbox.services import outbox_publish
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
NEW_ID = re.compile(r"[0-9a-f]{32}")
# A real project task that logs through a stdlib `marque.*` logger (and needs no data).
TASK = "users.tasks.delete_expired_verification_codes"
TASK_LINE = "Deleted 0 expired verification codes"
HERE = "main.tests.test_logging"


# --- A view that logs and queues a task through the outbox, as services do -----------


class QueueingView(MarketContextMixin, APIView):
    def post(self, request):
        logging.getLogger("marque.test").info("queueing for the signed-in customer")
        with transaction.atomic():
            outbox_publish(TASK)
        return Response(status=202)


def explode(request):
    raise RuntimeError("boom")


class ExplodingAPIView(APIView):
    permission_classes = (AllowAny,)

    def get(self, request):
        raise RuntimeError("boom")


urlpatterns = [
    path("test/queue/", QueueingView.as_view()),
    path("test/explode/", explode),
    path("test/explode-api/", ExplodingAPIView.as_view()),
    *project_urlpatterns,
]


@pytest.fixture
def json_log():
    """The lines the production formatter writes meanwhile (INFO and up), each parsed."""
    # The first task a web process queues imports every tasks module, and Celery's Django
    # fixup then runs django.setup() again, which configures logging anew: done first.
    app.loader.import_default_modules()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["event"] == "request_finished"]


# --- X-Request-ID -----------------------------------------------------------------------


def test_a_request_without_an_id_gets_a_new_one_in_the_response(api_client):
    first = api_client.get("/healthz")["X-Request-ID"]
    second = api_client.get("/healthz")["X-Request-ID"]

    assert NEW_ID.fullmatch(first)
    assert NEW_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("sent", ["abc-123", "1-67a.b_c:d", "7" * 128])
def test_a_sane_incoming_id_is_kept_and_echoed(api_client, sent):
    assert api_client.get("/healthz", HTTP_X_REQUEST_ID=sent)["X-Request-ID"] == sent


@pytest.mark.parametrize(
    "sent", ["", "7" * 129, "has space", 'quote"d', "<script>", "идентификатор", "a,b"]
)
def test_an_unsafe_incoming_id_is_replaced(api_client, json_log, sent):
    response = api_client.get("/api/v1/markets/", HTTP_X_REQUEST_ID=sent)

    echoed = response["X-Request-ID"]
    assert NEW_ID.fullmatch(echoed)
    (line,) = access_lines(json_log())
    assert line["request_id"] == echoed


def test_the_browser_app_may_read_and_send_the_header():
    assert "x-request-id" in settings.CORS_EXPOSE_HEADERS
    assert "x-request-id" in settings.CORS_ALLOW_HEADERS


# --- The access line ----------------------------------------------------------------------


def test_an_authenticated_api_request_writes_one_json_access_line(
    customer, customer_client, json_log
):
    response = customer_client.get("/api/v1/users/me/", HTTP_X_REQUEST_ID="trace-42")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "trace-42"
    (line,) = access_lines(json_log())
    assert line["request_id"] == "trace-42"
    assert line["user_id"] == customer.pk
    assert line["market"] == "KG"
    assert line["method"] == "GET"
    assert line["route"] == "api/v1/users/me/"  # the pattern, not the path with its ids
    assert line["path"] == "/api/v1/users/me/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["level"] == "info"
    assert line["logger"] == "marque.request"
    assert line["timestamp"].endswith("Z")


def test_the_market_is_the_one_the_request_was_served_in(us_customer, json_log):
    authenticate(APIClient(), us_customer).get("/api/v1/users/me/")
    APIClient().get("/api/v1/markets/", HTTP_X_MARKET="US")
    APIClient().get("/api/v1/markets/")  # anonymous, nothing named: the default market

    first, second, third = access_lines(json_log())
    assert (first["user_id"], first["market"]) == (us_customer.pk, "US")
    assert (second["user_id"], second["market"]) == (None, "US")
    assert (third["user_id"], third["market"]) == (None, settings.DEFAULT_MARKET)


def test_the_route_names_the_pattern_of_a_detail_url(customer_client, json_log):
    customer_client.get("/api/v1/users/me/addresses/123456/")

    (line,) = access_lines(json_log())
    assert line["status"] == 404
    assert "123456" not in line["route"]
    assert line["path"] == "/api/v1/users/me/addresses/123456/"


def test_health_probes_log_at_debug_only(client, json_log):
    client.get("/healthz")
    client.get("/readyz")
    assert access_lines(json_log()) == []

    logging.getLogger().setLevel(logging.DEBUG)
    client.get("/healthz")
    (line,) = access_lines(json_log())
    assert (line["level"], line["route"], line["status"]) == ("debug", "healthz", 200)


@pytest.mark.urls(HERE)
def test_lines_written_inside_the_view_carry_the_request_context(customer, json_log):
    client = authenticate(APIClient(), customer)

    response = client.post("/test/queue/", HTTP_X_REQUEST_ID="inside-1")

    assert response.status_code == 202
    (line,) = [line for line in json_log() if line["logger"] == "marque.test"]
    assert line["event"] == "queueing for the signed-in customer"
    assert (line["request_id"], line["user_id"], line["market"]) == ("inside-1", customer.pk, "KG")


# --- Errors keep the header -------------------------------------------------------------


def test_a_413_from_the_body_limit_middleware_carries_the_id(api_client, json_log):
    response = api_client.post(
        "/api/v1/auth/otp/verify/",
        "{}",
        content_type="application/json",
        CONTENT_LENGTH=str(200 * 1024 * 1024),
        HTTP_X_REQUEST_ID="too-big-1",
    )

    assert response.status_code == 413
    assert response["X-Request-ID"] == "too-big-1"
    (line,) = access_lines(json_log())
    assert (line["request_id"], line["status"], line["method"]) == ("too-big-1", 413, "POST")


def test_a_503_from_the_database_middleware_carries_the_id(client, monkeypatch, json_log):
    client.force_login(User.objects.create_superuser("+996700000092", "pw-123456"))

    def refuse(self):
        raise OperationalError("connection to server failed: Connection refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)
    response = client.get("/admin/", HTTP_X_REQUEST_ID="db-down-1")

    assert response.status_code == 503
    assert response["X-Request-ID"] == "db-down-1"
    lines = json_log()
    (line,) = access_lines(lines)
    assert (line["status"], line["level"]) == (503, "warning")
    # What went wrong is logged too, under the same id.
    assert any(
        other["request_id"] == "db-down-1" and other["level"] in ("warning", "error")
        for other in lines
        if other is not line
    )


@pytest.mark.urls(HERE)
@pytest.mark.parametrize("url", ["/test/explode/", "/test/explode-api/"])
def test_an_unhandled_error_is_a_500_with_the_id_and_its_traceback_in_one_line(url, json_log):
    response = Client(raise_request_exception=False).get(url, HTTP_X_REQUEST_ID="crash-1")

    assert response.status_code == 500
    assert response["X-Request-ID"] == "crash-1"
    lines = json_log()
    (line,) = access_lines(lines)
    assert line["status"] == 500
    (traceback,) = [line for line in lines if "exception" in line]
    assert traceback["request_id"] == "crash-1"
    assert "RuntimeError: boom" in traceback["exception"]


# --- Celery ----------------------------------------------------------------------------------


@pytest.mark.urls(HERE)
def test_a_task_run_inline_logs_with_the_request_id(
    customer, json_log, django_capture_on_commit_callbacks
):
    """Without a broker (make run, the tests) a task runs inside the request, in its context."""
    client = authenticate(APIClient(), customer)

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/test/queue/", HTTP_X_REQUEST_ID="eager-1")

    (line,) = [line for line in json_log() if line["event"] == TASK_LINE]
    assert (line["request_id"], line["user_id"], line["market"]) == ("eager-1", customer.pk, "KG")


@pytest.mark.urls(HERE)
def test_a_task_queued_through_the_outbox_carries_the_request_in_its_message(
    customer, json_log, django_capture_on_commit_callbacks
):
    """The message a worker receives: django-structlog's header, beside the outbox's."""
    client = authenticate(APIClient(), customer)
    queue = app.amqp.router.route({}, TASK)["queue"].name

    with celery_on_broker("memory://localhost/"):
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/test/queue/", HTTP_X_REQUEST_ID="queued-1")
        with app.connection_for_read() as conn:
            inbox = conn.SimpleQueue(queue)
            message = inbox.get(timeout=5)
            message.ack()
            inbox.close()

    assert message.headers["task"] == TASK
    assert message.headers["outbox_id"] == OutboxMessage.objects.get(task=TASK).pk
    assert message.headers["__django_structlog__"] == {
        "request_id": "queued-1",
        "user_id": customer.pk,
        "market": "KG",
    }
    (enqueued,) = [line for line in json_log() if line["event"] == "task_enqueued"]
    assert (enqueued["request_id"], enqueued["child_task_name"]) == ("queued-1", TASK)


# --- Production settings ---------------------------------------------------------------------

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "main.settings.production",
    "SECRET_KEY": "prod-" + "k3y-!x" * 10,
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/marque",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "api.marque.example",
    "SMS_BACKEND": "users.sms.TwilioBackend",
    "PAYMENT_METHODS_US": "cash_on_delivery",
}
# A request and a logged traceback, as a production process writes them (no database needed).
PRODUCTION_SCRIPT = """
import logging
import django
django.setup()
from django.test import Client
response = Client().get(
    "/no-such-page/", HTTP_X_REQUEST_ID="prod-1", HTTP_HOST="api.marque.example", secure=True
)
print(response.status_code, response["X-Request-ID"])
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("marque.errors").exception("Unhandled error in %s", "a script")
"""


def _production(script: str, **env: str) -> subprocess.CompletedProcess:
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "LOG_FORMAT"
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=inherited | PRODUCTION_ENV | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_production_writes_one_json_object_per_line():
    result = _production(PRODUCTION_SCRIPT)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["404", "prod-1"]
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line parses
    (access,) = access_lines(lines)
    assert (access["request_id"], access["status"], access["path"]) == (
        "prod-1",
        404,
        "/no-such-page/",
    )
    (error,) = [line for line in lines if line["logger"] == "marque.errors"]
    assert error["event"] == "Unhandled error in a script"
    assert error["level"] == "error"
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert "ZeroDivisionError" in error["exception"]


@pytest.mark.slow
def test_an_unknown_log_format_stops_start_up():
    result = _production("import django; django.setup()", LOG_FORMAT="xml")

    assert result.returncode != 0
    assert "LOG_FORMAT must be one of json, plain" in result.stderr


# --- A real worker (PostgreSQL: the worker reads the test database) -----------------------


@pytest.fixture
def json_worker(tmp_path):
    """A Celery worker process on a private Redis, logging JSON to a file; yields (broker, log)."""
    redis = PrivateRedis(tmp_path)
    redis.start()
    db = connection.settings_dict
    log = tmp_path / "worker.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DJANGO_SETTINGS_MODULE": "main.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "CONN_MAX_AGE": "0",
        "DEBUG": "false",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    queue = app.amqp.router.route({}, TASK)["queue"].name
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            *("-A", "main", "worker", "--pool=solo", f"--queues={queue}"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # the start-up banner
        stderr=log.open("wb"),
    )
    try:
        yield redis.url, log
    finally:
        worker.terminate()  # only the process this fixture started, by its PID
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        redis.stop()


@pytest.mark.slow
@needs_redis_server
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the worker process shares the test database"
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls(HERE)
def test_a_real_worker_logs_the_task_with_the_request_id_of_the_request_that_queued_it(
    json_worker,
):
    broker, log = json_worker
    customer = UserFactory(phone="+996700111333")
    client = authenticate(APIClient(), customer)

    with celery_on_broker(broker):
        assert client.post("/test/queue/", HTTP_X_REQUEST_ID="worker-1").status_code == 202

    deadline = time.monotonic() + 60
    while True:
        # Every line the worker wrote is one JSON object.
        lines = [json.loads(line) for line in log.read_text().splitlines() if line]
        done = [line for line in lines if line["event"] in ("task_succeeded", "task_failed")]
        if done:
            break
        assert time.monotonic() < deadline, f"the worker ran nothing: {lines}"
        time.sleep(0.2)

    (finished,) = done
    assert finished["event"] == "task_succeeded"
    (line,) = [line for line in lines if line["event"] == TASK_LINE]
    assert line["logger"] == "marque.auth"
    assert line["request_id"] == "worker-1"
    assert (line["user_id"], line["market"]) == (customer.pk, "KG")
    assert line["task_name"] == TASK
    assert line["task_id"] == finished["task_id"]
    assert finished["request_id"] == "worker-1"


def test_task_arguments_and_request_reprs_never_reach_a_log_line(json_log):
    """Celery logs a task's arguments in `extra["data"]` (a sign-in SMS: phone and code);
    Django logs the request with its query string in `extra["request"]`."""
    logging.getLogger("celery.worker.strategy").info(
        "Task users.tasks.send_sms_task[1] received",
        extra={"data": {"args": "('+996700123456', 'your sign-in code is 493817')"}},
    )
    logging.getLogger("django.request").warning(
        "Unauthorized: %s",
        "/api/v1/manager/orders/",
        extra={"status_code": 401, "request": "<WSGIRequest: GET '/?search=%2B996700123456'>"},
    )
    lines = json_log()
    assert [line["event"] for line in lines] == [
        "Task users.tasks.send_sms_task[1] received",
        "Unauthorized: /api/v1/manager/orders/",
    ]
    assert lines[1]["status_code"] == 401  # other extra fields stay
    text = json.dumps(lines)
    assert "493817" not in text and "996700123456" not in text
