"""gunicorn's sync worker, answering the requests it refuses in the one JSON error shape.

gunicorn rejects some requests before Django sees them (an over-long request
line, too many or too large header fields, a malformed request) and writes a
small HTML page for them. This worker writes `{"code", "detail"}` instead:

- request line over `limit_request_line` → 414 `uri_too_long`
- more than `limit_request_fields` headers, or one over `limit_request_field_size`
  → 431 `headers_too_large`
- any other request gunicorn cannot parse → 400 `bad_request`
- an exception outside Django's own handling → 500 `server_error`

Mirrors `gunicorn.workers.base.Worker.handle_error` (gunicorn 23): same logging
and access log, only the response differs. The detail never echoes client input.
"""

from __future__ import annotations

import json
from datetime import datetime
from ssl import SSLError

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.sync import SyncWorker

REQUEST_ERRORS = (
    errors.ParseException,  # every request-line / header / proxy-line parse failure
    SSLError,  # the sync worker's handle() passes TLS handshake failures here
)

REASONS = {
    400: "Bad Request",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


def error_for(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, detail) for an exception the worker met while serving a request."""
    if isinstance(exc, errors.LimitRequestLine):
        return 414, "uri_too_long", "The request line is too long."
    if isinstance(exc, errors.LimitRequestHeaders):
        return 431, "headers_too_large", "Too many header fields, or a header field is too large."
    if isinstance(exc, errors.ConfigurationProblem):
        return 500, "server_error", "Internal server error. It has been logged."
    if isinstance(exc, REQUEST_ERRORS):
        return 400, "bad_request", "The request could not be understood."
    return 500, "server_error", "Internal server error. It has been logged."


def error_bytes(status: int, code: str, detail: str) -> bytes:
    body = json.dumps({"code": code, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorSyncWorker(SyncWorker):
    def handle_error(self, req, client, addr, exc):
        request_start = datetime.now()
        addr = addr or ("", -1)  # unix socket case
        status, code, detail = error_for(exc)
        if isinstance(exc, REQUEST_ERRORS) and status != 500:
            self.log.warning("Invalid request from ip=%s: %s", addr[0], exc)
            if req is None and isinstance(exc, errors.InvalidHeader | errors.InvalidHeaderName):
                req = getattr(exc, "req", None)  # for the access log (elsewhere .req is a str)
        elif hasattr(req, "uri"):
            self.log.exception("Error handling request %s", req.uri)
        else:
            self.log.exception("Error handling request (no URI read)")

        payload = error_bytes(status, code, detail)
        if req is not None:
            try:
                environ = default_environ(req, client, self.cfg)
                environ["REMOTE_ADDR"] = addr[0]
                environ["REMOTE_PORT"] = str(addr[1])
                resp = Response(req, client, self.cfg)
                resp.status = f"{status} {REASONS[status]}"
                resp.response_length = len(payload)
                self.log.access(resp, req, environ, datetime.now() - request_start)
            except Exception:  # an access-log line is not worth the worker
                self.log.debug("Failed to write the access log for an error response.")

        try:
            util.write_nonblock(client, payload)
        except Exception:
            self.log.debug("Failed to send error message.")
