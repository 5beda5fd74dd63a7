"""One error path for the whole API (SPEC §5).

Every error response has the shape ``{"code": ..., "detail": ...}``; validation
errors add ``"errors": {field: [messages]}``. Services raise `ApplicationError`
subclasses; everything else (DRF, Django, simplejwt, unexpected exceptions) is
translated here, in one place.

Django's own error pages are replaced too (handler400/403/404/500, the CSRF
failure view): every URL, `/admin/` included, answers errors in this JSON shape,
never an HTML page. A database that cannot be reached is a 503
`service_unavailable` with `Retry-After`, whichever layer met it: a DRF view
(`exception_handler`), a plain Django view (`DatabaseUnavailableMiddleware`) or
a middleware (`server_error`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import psycopg2
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

logger = logging.getLogger("marque.errors")


class ApplicationError(Exception):
    """A business rule said no. Subclasses set `code`, `status_code` and `default_detail`."""

    status_code: int = 400
    code: str = "error"
    default_detail: str = "The request could not be completed."
    # Seconds a client should wait before trying again (sent as Retry-After).
    retry_after: int | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
        code: str | None = None,
        status_code: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.errors = errors
        self.extra = extra or {}
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "detail": str(self.detail)}
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class ServiceUnavailable(ApplicationError):
    """A service the request needs (database, cache, broker, provider) is down: retry later."""

    status_code = 503
    code = "service_unavailable"
    default_detail = "The service is temporarily unavailable. Please try again shortly."
    retry_after = 30


class PayloadTooLarge(ApplicationError):
    """The request body (or its number of fields/files) is above what we accept."""

    status_code = 413
    code = "payload_too_large"
    default_detail = "The request body is too large."


class BadRequest(ApplicationError):
    """A request Django refuses before any view (bad Host header, malformed body…)."""

    status_code = 400
    code = "bad_request"
    default_detail = "The request could not be understood."


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"
    default_detail = "The request conflicts with the current state of the resource."


class NotFound(ApplicationError):
    """No such object for this caller (another market's or user's objects included: no leak).

    Raise it with a message (`NotFound("No such cart item.")`); subclass it only
    to give an error its own default message.
    """

    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class InvalidInput(ApplicationError):
    """A business rule on the input failed; shaped like a validation error (`errors`).

    Raise it with a message and the fields it is about
    (`InvalidInput(message, errors={"quantity": [message]})`, or
    `InvalidInput.on_field("quantity", message)`); subclass it only to give an
    error its own default message.
    """

    status_code = 400
    code = "invalid"
    default_detail = "Invalid input."

    @classmethod
    def on_field(cls, field: str, message: str) -> InvalidInput:
        """One field's error, worded as DRF words it: detail `"field: message"`."""
        return cls(f"{field}: {message}", errors={field: [message]})


# Stable codes for DRF's own exceptions (checked in order: subclasses first).
_DRF_CODES: tuple[tuple[type[drf.APIException], str], ...] = (
    (drf.ValidationError, "invalid"),
    (drf.NotAuthenticated, "not_authenticated"),
    # simplejwt's InvalidToken subclasses AuthenticationFailed: expired,
    # malformed, revoked tokens and tokens of deactivated users all land here.
    (drf.AuthenticationFailed, "token_invalid"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.Throttled, "throttled"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.ParseError, "parse_error"),
)


def _plain(detail: Any) -> Any:
    """ErrorDetail trees → plain lists/dicts of strings."""
    if isinstance(detail, dict):
        return {str(key): _plain(value) for key, value in detail.items()}
    if isinstance(detail, list | tuple):
        return [_plain(item) for item in detail]
    return str(detail)


def _field_errors(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {
            key: value if isinstance(value, list | dict) else [value]
            for key, value in _plain(detail).items()
        }
    items = detail if isinstance(detail, list | tuple) else [detail]
    return {api_settings.NON_FIELD_ERRORS_KEY: _plain(list(items))}


def _first_message(errors: dict[str, Any]) -> str:
    for field, messages in errors.items():
        message = messages
        while isinstance(message, list | dict):
            if not message:
                break
            message = message[0] if isinstance(message, list) else next(iter(message.values()))
        if isinstance(message, str):
            return message if field == api_settings.NON_FIELD_ERRORS_KEY else f"{field}: {message}"
    return "Invalid input."


# Django wraps driver errors, but a few (raised outside its wrappers) arrive unwrapped.
_DATABASE_UNAVAILABLE = (
    OperationalError,
    InterfaceError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
)


def database_unavailable(exc: BaseException | None) -> ServiceUnavailable | None:
    """The 503 to answer when `exc` means the database cannot be reached, else None.

    Django's (and psycopg2's) OperationalError and InterfaceError: connection
    refused or lost, server shutting down, too many connections, and the other
    transient server-side failures PostgreSQL reports as operational (statement
    timeout, deadlock, serialization failure): retrying later is the right advice
    for all of them. IntegrityError, ProgrammingError and DataError are bugs or
    bad data and stay 500s.
    """
    if not isinstance(exc, _DATABASE_UNAVAILABLE):
        return None
    if _is_connection_error(exc):
        logger.warning("Database unavailable: %s: %s", type(exc).__name__, exc)
    else:
        # Worth a retry, but also a sign of a bug (a deadlock from a lock-order
        # regression, a statement timeout from a slow query): logged with its trace.
        logger.error("Database error answered 503: %s", exc, exc_info=exc)
    return ServiceUnavailable()


# PostgreSQL SQLSTATEs of a database that cannot be reached or is going away:
# class 08 (connection exception), admin/crash shutdown, cannot connect now, too many
# connections. No pgcode at all means the driver never reached the server.
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def _is_connection_error(exc: BaseException) -> bool:
    cause = getattr(exc, "__cause__", None) or exc
    pgcode = getattr(cause, "pgcode", None)
    if pgcode is not None:
        return pgcode.startswith(_CONNECTION_STATES)
    if isinstance(exc, InterfaceError):
        return True
    # A driver error with no SQLSTATE: the server was never reached.
    return type(cause).__module__.startswith("psycopg")


def suspicious_operation(exc: BaseException) -> ApplicationError | None:
    """What Django's SuspiciousOperation family (raised before or inside a view) answers."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return PayloadTooLarge("The request has too many fields or files.")
    if isinstance(exc, SuspiciousOperation):  # DisallowedHost and friends
        return BadRequest()
    return None


def _from_django(exc: Exception) -> Exception:
    if error := database_unavailable(exc) or suspicious_operation(exc):
        return error
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return drf.ValidationError(detail=detail)
    if isinstance(exc, Http404):
        return drf.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return drf.PermissionDenied()
    return exc


def _drf_response(exc: drf.APIException) -> Response:
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), None)
    code = code or str(getattr(exc, "default_code", "error"))
    headers: dict[str, str] = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))

    if isinstance(exc, drf.ValidationError):
        errors = _field_errors(exc.detail)
        body = {"code": code, "detail": _first_message(errors), "errors": errors}
    else:
        detail = exc.detail
        if isinstance(detail, dict | list):  # e.g. simplejwt's {"detail", "code", "messages"}
            detail = (
                detail.get("detail") if isinstance(detail, dict) else None
            ) or exc.default_detail
        body = {"code": code, "detail": str(detail)}
    return Response(body, status=exc.status_code, headers=headers)


def server_error_body() -> dict[str, str]:
    return {"code": "server_error", "detail": "Internal server error. It has been logged."}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception becomes one response shape."""
    exc = _from_django(exc)
    if isinstance(exc, ApplicationError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        response = Response(exc.as_dict(), status=exc.status_code, headers=headers)
    elif isinstance(exc, drf.APIException):
        response = _drf_response(exc)
    else:
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "API view")
        response = Response(server_error_body(), status=500)
    set_rollback()
    return response


# --- Django-level handlers (URLs outside any DRF view) -------------------------
# JSON everywhere, /admin/ included: the admin is an operator's tool, a JSON
# error reads fine in a browser, and monitoring sees one shape. The admin's own
# pages (forms, lists) stay HTML; only Django's error pages are replaced.


def error_response(error: ApplicationError) -> JsonResponse:
    """An `ApplicationError` as a plain Django response (no DRF request needed)."""
    response = JsonResponse(error.as_dict(), status=error.status_code)
    if error.retry_after:
        response["Retry-After"] = str(error.retry_after)
    return response


def bad_request(request, exception=None):
    """handler400: bad Host header, body too large, too many fields, unparsable multipart."""
    return error_response(suspicious_operation(exception) or BadRequest())


def permission_denied(request, exception=None):
    """handler403."""
    return JsonResponse(
        {"code": "permission_denied", "detail": str(drf.PermissionDenied.default_detail)},
        status=403,
    )


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the reason goes to the log, not to the client."""
    logger.warning("CSRF failure on %s: %s", request.path, reason)
    return JsonResponse(
        {"code": "csrf_failed", "detail": "CSRF verification failed. Reload the page and retry."},
        status=403,
    )


def page_not_found(request, exception=None):
    """handler404."""
    return error_response(NotFound())


def server_error(request):
    """handler500: also reached by exceptions raised in middleware, hence the 503 check."""
    if error := database_unavailable(sys.exc_info()[1]):
        return error_response(error)
    return JsonResponse(server_error_body(), status=500)


class DatabaseUnavailableMiddleware:
    """A plain Django view (admin, health) that cannot reach the database answers 503.

    DRF views never get here (their exception handler answers first); anything
    else falls through to handler500.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if error := database_unavailable(exception):
            return error_response(error)
        return None
