"""Django's own error pages answer in the one JSON shape, for the API and everything else.

handler400 (bad Host, body too large, too many fields), handler403, the CSRF
failure view, handler404 and handler500: JSON on every URL, /admin/ included.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.test import Client

from users.models import User

pytestmark = pytest.mark.django_db

THIS = "main.tests.test_error_pages"


def assert_error(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert b"<html" not in response.content.lower()
    return body


@pytest.mark.parametrize("path", ["/api/v1/markets/", "/admin/login/", "/healthz"])
def test_bad_host_header_is_400_bad_request(client, settings, path):
    settings.ALLOWED_HOSTS = ["api.marque.example"]

    response = client.get(path, HTTP_HOST="evil.example")

    assert_error(response, 400, "bad_request")
    assert "evil.example" not in response.content.decode()


@pytest.mark.parametrize("path", ["/nowhere", "/admin/no-such-page/", "/api/v1/no-such-thing/"])
def test_unknown_urls_are_json_404_everywhere(client, path):
    client.force_login(User.objects.create_superuser("+996700000094", "pw-123456"))

    assert_error(client.get(path, follow=True), 404, "not_found")


def test_admin_without_permission_is_json_403(client):
    staff = User.objects.create_user("+996700000092", "pw-123456", is_staff=True)
    client.force_login(staff)

    assert_error(client.get("/admin/users/user/"), 403, "permission_denied")


def test_csrf_failure_is_json_403_csrf_failed_and_signs_nobody_in():
    User.objects.create_superuser("+996700000093", "pw-123456")
    client = Client(enforce_csrf_checks=True)

    response = client.post("/admin/login/", {"username": "+996700000093", "password": "pw-123456"})

    assert_error(response, 403, "csrf_failed")
    assert "_auth_user_id" not in client.session


def test_form_over_djangos_memory_limit_is_413_in_a_plain_view(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # below API_MAX_BODY_BYTES: Django's own check

    response = client.post("/admin/login/", {"username": "x" * 500, "password": "pw"})

    assert_error(response, 413, "payload_too_large")


def test_too_many_form_fields_is_413_in_a_plain_view(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {f"f{i}": "1" for i in range(10)}

    response = client.post("/admin/login/", {"username": "x", "password": "pw", **fields})

    body = assert_error(response, 413, "payload_too_large")
    assert body["detail"] == "The request has too many fields or files."


class ExplodingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise RuntimeError("secret internals: password=hunter2")


def test_unhandled_error_outside_the_api_is_json_500(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{THIS}.ExplodingMiddleware"]
    client = Client(raise_request_exception=False)

    for path in ("/admin/login/", "/healthz", "/api/v1/markets/"):
        response = client.get(path)
        body = assert_error(response, 500, "server_error")
        assert "hunter2" not in str(body)


def test_the_admin_itself_is_still_html(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


# --- gunicorn: requests refused before Django ---------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _raw(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture(scope="module")
def gunicorn_port(tmp_path_factory):
    """gunicorn with the project's gunicorn_config.py (1 worker) on a free 127.0.0.1 port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "main.settings.test"}
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn_config.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=settings.BASE_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if _raw(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _json_error(response, status, code):
    got_status, headers, body = response
    assert got_status == status
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    data = json.loads(body)
    assert data["code"] == code and set(data) == {"code", "detail"}


HEAD = b"GET / HTTP/1.1\r\nHost: localhost\r\n"
LONG_REQUEST_LINE = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
MANY_HEADERS = HEAD + b"".join(b"X-H%d: 1\r\n" % i for i in range(150)) + b"\r\n"
HUGE_HEADER = HEAD + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (LONG_REQUEST_LINE, 414, "uri_too_long"),
        (MANY_HEADERS, 431, "headers_too_large"),
        (HUGE_HEADER, 431, "headers_too_large"),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "bad_request"),
        (HEAD + b"Bad Header: 1\r\n\r\n", 400, "bad_request"),
    ],
    ids=["request-line", "header-count", "header-size", "garbage", "bad-header-name"],
)
def test_gunicorn_refusals_are_json(gunicorn_port, request_bytes, status, code):
    _json_error(_raw(gunicorn_port, request_bytes), status, code)
    # The worker survived: the next request is served.
    assert _raw(gunicorn_port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")[0] == 200


@pytest.mark.slow
def test_gunicorn_refuses_a_declared_200_mb_body_without_reading_it(gunicorn_port):
    head = (
        b"POST /api/v1/auth/otp/verify/ HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n"
    )
    _json_error(_raw(gunicorn_port, head + b'{"phone": "'), 413, "payload_too_large")


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_url_is_a_json_404_even_with_debug_on(client, settings, debug):
    """`make run` has DEBUG on: a frontend developer's typo still gets the JSON shape."""
    settings.DEBUG = debug
    response = client.get("/api/v1/nope/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    # Any method, with no CSRF check in the way (an id that is not a number, for one).
    strict = Client(enforce_csrf_checks=True)  # as a real server checks CSRF
    for method in ("post", "patch", "delete"):
        other = getattr(strict, method)("/api/v1/users/me/addresses/null,null/")
        assert (other.status_code, other.json()["code"]) == (404, "not_found")
    # A known route without its slash is still redirected to it, not swallowed.
    assert client.get("/api/v1/markets").status_code == 301


def test_the_docs_page_calls_no_validator_host(client):
    page = client.get("/api/docs/").content.decode()
    assert "validator.swagger.io" not in page
    assert '"validatorUrl": null' in page
