"""Error reports (Sentry): off without a DSN; with one, events carry no phone number.

The real `sentry-sdk` sends its envelopes over HTTP to a fake ingest server on
127.0.0.1 (the DSN points there), and the test reads what arrived, as Sentry
would store it.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import threading
import wsgiref.util
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from celery import shared_task
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from main.sentry import PHONE, init_sentry, scrub, scrub_text

try:  # sentry-sdk compresses with brotli when it is installed, else gzip
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

KG_PHONE = "+996700123456"
# However a phone is written, none of these may reach Sentry.
PHONE_FRAGMENTS = ("996700123456", "700123456", "700 123 456", "2125550101", "555-0101")

logger = logging.getLogger("marque.tests.sentry")


# --- The fake ingest server ------------------------------------------------------------------


class FakeSentry:
    """Records every envelope POSTed to it (decompressed), answers 200."""

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":
                    body = brotli.decompress(body)
                fake.envelopes.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server.server_address[1]}/1"

    def events(self, kind: str = "event") -> list[dict]:
        """The items of a type received: each envelope is JSON lines (header, item header, item)."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            for header, item in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == kind:
                    found.append(json.loads(item))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_sentry(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake = FakeSentry()
    init_sentry(dsn=fake.dsn, environment="test")
    yield fake
    # Nothing of this test's client leaks into the next test.
    client = sentry_sdk.get_client()
    client.close(timeout=5)
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_isolation_scope().clear_breadcrumbs()
    fake.close()


# --- A view and a task that fail with a phone number in hand -----------------------------------


@csrf_exempt  # a POST as an API client sends it, body and all
def boom(request, phone):
    logger.warning("Could not deliver to %s", phone)  # a breadcrumb
    customer_phone = request.headers.get("X-Customer-Phone")  # a local variable
    raise RuntimeError(f"Delivery to {request.path} failed for {customer_phone}")


def fine(request, phone=None):
    return HttpResponse("ok")


urlpatterns = [
    path("boom/<str:phone>/", boom),
    path("fine/", fine),
    path("fine/<str:phone>/", fine),
]


@shared_task(name="main.tests.test_sentry.sms_to")
def sms_to(phone):
    raise ConnectionError(f"The provider refused {phone}")


# --- Tests ------------------------------------------------------------------------------------


def test_without_a_dsn_nothing_is_initialised(settings):
    assert settings.SENTRY_DSN == "", "the tests must not report to a real Sentry"
    assert not sentry_sdk.get_client().is_active()


def test_a_traces_rate_outside_0_to_1_is_refused():
    with pytest.raises(ImproperlyConfigured, match="SENTRY_TRACES_SAMPLE_RATE"):
        init_sentry(dsn="http://public@127.0.0.1:9/1", environment="test", traces_sample_rate=5)


def wsgi_request(method: str, path: str, query: str = "", body: bytes = b"", **headers: str):
    """A request through Django's WSGI handler, as gunicorn hands it over: the status."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    wsgiref.util.setup_testing_defaults(environ)
    started = []
    b"".join(WSGIHandler()(environ, lambda status, headers, *exc: started.append(status)))
    return int(started[0].split()[0])


@pytest.mark.django_db  # the middlewares may read the session or the signed-in user
@pytest.mark.urls("main.tests.test_sentry")
def test_a_request_error_reaches_sentry_without_any_phone_number(fake_sentry):
    status = wsgi_request(
        "POST",
        f"/boom/{KG_PHONE}/",
        query="phone=%2B996700123456&other=1",
        body=json.dumps(
            {"phone": "0700 123 456", "note": "call (212) 555-0101", "code": "493817"}
        ).encode(),
        X_CUSTOMER_PHONE="+1 212 555 0101",
        AUTHORIZATION="Bearer secret-access-token",
    )
    assert status == 500
    assert wsgi_request("GET", "/fine/") == 200
    sentry_sdk.flush(timeout=5)

    errors = [event for event in fake_sentry.events() if event.get("exception")]
    assert errors, fake_sentry.envelopes
    event = errors[0]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == f"Delivery to /boom/{PHONE}/ failed for {PHONE}"
    request = event["request"]
    assert request["url"].endswith(f"/boom/{PHONE}/")
    assert request["query_string"] == f"phone={PHONE}&other=1"
    assert request["headers"]["X-Customer-Phone"] == PHONE
    assert request["headers"].get("Authorization") in (None, "[Filtered]")
    assert not request.get("data")  # bodies hold sign-in codes and tokens: never sent
    assert event["environment"] == "test"
    crumbs = [c["message"] for c in event["breadcrumbs"]["values"] if c.get("message")]
    assert f"Could not deliver to {PHONE}" in crumbs
    frame = exception["stacktrace"]["frames"][-1]
    assert "vars" not in frame  # local variables hold codes and tokens: never sent
    assert "user" not in event  # no PII: no signed-in user, no client IP
    # …and nowhere in anything that left the process.
    sent = b"".join(fake_sentry.envelopes).decode()
    for fragment in PHONE_FRAGMENTS:
        assert fragment not in sent, fragment
    assert "secret-access-token" not in sent
    assert "493817" not in sent


@pytest.mark.django_db  # the middlewares may read the session or the signed-in user
@pytest.mark.urls("main.tests.test_sentry")
def test_traced_requests_carry_no_phone_either(fake_sentry):
    init_sentry(dsn=fake_sentry.dsn, environment="test", traces_sample_rate=1.0)
    assert wsgi_request("GET", f"/fine/{KG_PHONE}/", query="to=%2B12125550101") == 200
    sentry_sdk.flush(timeout=5)

    [transaction] = fake_sentry.events("transaction")
    assert transaction["transaction"] == "/fine/{phone}/"  # the route, not the path
    assert transaction["request"]["url"].endswith(f"/fine/{PHONE}/")
    sent = b"".join(fake_sentry.envelopes).decode()
    for fragment in PHONE_FRAGMENTS:
        assert fragment not in sent, fragment


def test_a_task_error_reaches_sentry_without_the_phone(fake_sentry):
    assert sms_to.apply((KG_PHONE,), throw=False).state == "FAILURE"
    sentry_sdk.flush(timeout=5)

    events = [e for e in fake_sentry.events() if e.get("exception")]
    assert events, fake_sentry.envelopes
    exception = events[0]["exception"]["values"][-1]
    assert exception["type"] == "ConnectionError"
    assert exception["value"] == f"The provider refused {PHONE}"
    assert "996700123456" not in b"".join(fake_sentry.envelopes).decode()


def test_a_logged_error_reaches_sentry_without_the_phone(fake_sentry):
    logger.error("SMS to %s failed: provider said %s", KG_PHONE, "+1 (212) 555-0101 unknown")
    sentry_sdk.flush(timeout=5)

    [event] = fake_sentry.events()
    assert event["logentry"]["params"] == [PHONE, f"{PHONE} unknown"]
    assert event["logentry"]["formatted"] == f"SMS to {PHONE} failed: provider said {PHONE} unknown"
    sent = b"".join(fake_sentry.envelopes).decode()
    for fragment in PHONE_FRAGMENTS:
        assert fragment not in sent, fragment


def test_a_closed_client_sends_nothing_more(fake_sentry):
    sentry_sdk.get_client().close(timeout=5)
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.capture_message(f"for {KG_PHONE}")
    sentry_sdk.flush(timeout=1)
    assert fake_sentry.events() == []


# --- What scrubbing keeps and replaces ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("/api/v1/users/+996700123456/", f"/api/v1/users/{PHONE}/"),
        ("phone=%2B996700123456&x=1", f"phone={PHONE}&x=1"),
        ("call 0700 123 456 now", f"call {PHONE} now"),
        ("(212) 555-0101", PHONE),
        ("+1 212 555 0101 or +1-212-555-0102", f"{PHONE} or {PHONE}"),
        ("996+700+123+456", PHONE),
        ("tel:996700123456", f"tel:{PHONE}"),
    ],
)
def test_phone_numbers_are_replaced(text, scrubbed):
    assert scrub_text(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "order KG-ABC23456",
        "total 1290.00 KGS",
        "2025-01-31 12:00:00,123 ERROR x",
        "trace 550e8400e29b41d4a716446655440000",
        "sku 12345678",
        "10.0.0.1",
    ],
)
def test_what_is_no_phone_is_kept(text):
    assert scrub_text(text) == text


def test_scrub_walks_the_whole_event_and_keeps_its_ids():
    event = {
        "event_id": "0123456789abcdef0123456789012345",
        "timestamp": "2025-01-31T12:00:00.123456Z",
        "message": f"SMS to {KG_PHONE} failed",
        "extra": {"phones": [KG_PHONE, ("+12125550101",)], KG_PHONE: 1},
        "user": {"id": 7, "username": KG_PHONE},
        "contexts": {"trace": {"trace_id": "12345678901234567890123456789012"}},
        "breadcrumbs": {"values": [{"message": f"otp for {KG_PHONE}", "data": {"n": 5}}]},
    }
    result = scrub(event, {})
    assert result["event_id"] == event["event_id"]
    assert result["timestamp"] == event["timestamp"]
    assert result["contexts"]["trace"]["trace_id"] == "12345678901234567890123456789012"
    assert result["message"] == f"SMS to {PHONE} failed"
    assert result["extra"] == {"phones": [PHONE, (PHONE,)], PHONE: 1}
    assert result["user"] == {"id": 7, "username": PHONE}
    assert result["breadcrumbs"]["values"][0] == {"message": f"otp for {PHONE}", "data": {"n": 5}}


def test_secret_keys_are_blanked_wherever_they_appear(fake_sentry):
    sentry_sdk.capture_message(
        "verify failed",
        scope=None,
        extras={"payload": {"code": "493817", "refresh": "eyJhbGciOi.x.y", "market": "KG"}},
    )
    sentry_sdk.flush(timeout=5)
    sent = b"".join(fake_sentry.envelopes).decode()
    assert "verify failed" in sent
    assert "493817" not in sent and "eyJhbGciOi" not in sent
    assert '"market": "KG"' in sent or '"market":"KG"' in sent
