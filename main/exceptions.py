"""One error path for the whole API (SPEC §5).

Every error response has the shape ``{"code": ..., "detail": ...}``; validation
errors add ``"errors": {field: [messages]}``. Services raise `ApplicationError`
subclasses; everything else (DRF, Django, simplejwt, unexpected exceptions) is
translated here, in one place.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
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


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"
    default_detail = "The request conflicts with the current state of the resource."


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


def _from_django(exc: Exception) -> Exception:
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


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found as django_page_not_found

    return django_page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(server_error_body(), status=500)
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)
