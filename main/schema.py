"""The OpenAPI schema documents every answer (issue 13): `AutoSchema` is DEFAULT_SCHEMA_CLASS.

drf-spectacular documents what a view *returns*; this class adds, to every
operation and in one place, what a view *may answer* and *reads*, derived from
the view itself rather than written per endpoint:

- Error responses, each with the per-status component `Error<status>` whose
  `code` enum is `main.errors.codes_for(status)` (the one catalogue), and the
  shared `Error` component (every code):

  - 400 with a body, query parameters other than `page`/`page_size`, or an
    anonymous view that reads `X-Market`; 413 and 415 with a body;
  - 401 when the view has authenticators (an invalid token is refused even
    where anonymous access is allowed);
  - 403 with a permission other than `AllowAny`/`IsAuthenticated` (the manager
    base view's, for example);
  - 404 with a path parameter, or pagination (`?page=` past the end);
  - 429 when the view has throttles, with `Retry-After`;
  - 503 on every operation (the database can be down anywhere), with `Retry-After`.

  What only a service knows (409 `out_of_stock`, 422 `idempotency_conflict`,
  a 403 or 404 without a path parameter, …) the view declares in one explicit
  attribute, `error_statuses`: a set of statuses for all of its operations, or a
  dict from HTTP method (APIView) or action (ViewSet) to a set.
- Request headers: `Accept-Language` everywhere (messages such as `detail` are
  translated); `X-Market` on views that resolve the market
  (`MarketContextMixin`, or `reads_market_header = True`); `If-None-Match` and
  the `304` answer (with `ETag` on the `200`) on GETs of `HttpCacheMixin` views.
- Decimal strings (money, `COERCE_DECIMAL_TO_STRING`) with a real pattern and
  example (`"1290.00"`), unsigned unless the field says `signed = True`
  (`main.serializers.PercentField`); a field may set its own `schema_example`.
- Descriptions only from `extend_schema(description=...)` or the handler's own
  docstring, never the view class's (written for maintainers, and inherited).
  Every operation has an `extend_schema(summary=...)` (main/tests/test_schema.py).

Plumbing only: nothing here imports an app (`lint-imports`).
"""

from __future__ import annotations

from copy import deepcopy

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, get_doc
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated

from main.errors import CATALOGUE, codes_for
from main.http_cache import HttpCacheMixin
from main.markets import Market
from main.request_market import MARKET_HEADER, MarketContextMixin

# What each error status means to a client (the response's description).
ERROR_STATUSES: dict[int, str] = {
    400: "The request is wrong (`invalid` names the fields in `errors`); nothing was changed.",
    401: "No token, or an expired, malformed or revoked one: refresh it or sign in again.",
    403: "Signed in, but not allowed to do this.",
    404: "No such object for you (other markets' and users' objects included), or no such page.",
    409: "The current state says no (see `code`); nothing was changed.",
    413: "The body is above its limit, or has too many fields or files.",
    415: "A body type this endpoint does not take (send JSON).",
    422: "The `Idempotency-Key` was used before with a different body.",
    429: "Too many requests: wait `Retry-After` seconds.",
    503: "A service the request needs is down; retry after `Retry-After`. Nothing changed.",
}
# Statuses that send Retry-After.
RETRY_AFTER_STATUSES = frozenset({429, 503})
# Extra fields a few codes add to the error body (docs/API.md#errors).
CONTEXT_FIELDS: dict[int, dict[str, dict]] = {
    404: {
        "order_numbers": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Manager bulk status change: the order numbers not in the market.",
        },
    },
    409: {
        "skus": {
            "type": "array",
            "items": {"type": "string"},
            "description": "`out_of_stock`: the SKU codes that ran out.",
        },
        "status": {
            "type": "string",
            "description": "`invalid_transition`: the order's current status.",
        },
        **{
            name: {
                "type": "string",
                "format": "decimal",
                "pattern": r"^\d+\.\d{2}$",
                "example": "1290.00",
                "description": f"`price_changed`: the current {name.replace('_', ' ')}.",
            }
            for name in ("subtotal", "shipping_cost", "discount", "total")
        },
    },
}
PAGINATION_PARAMETERS = frozenset({"page", "page_size"})
LANGUAGES = ("en", "ru", "ky")

RETRY_AFTER_HEADER = {
    "schema": {"type": "integer", "minimum": 1},
    "description": "Seconds to wait before trying again.",
}
ETAG_HEADER = {
    "schema": {"type": "string"},
    "description": "Send it back as `If-None-Match` to get a `304` while the body is unchanged.",
}


def error_component_schema(status: int | None = None) -> dict:
    """`Error` (every code) or `Error<status>`: `code` is an enum from the catalogue."""
    codes = list(CATALOGUE) if status is None else codes_for(status)
    # A description starting with "*" becomes the enum component's (drf-spectacular's style).
    choices = "\n".join(f"* `{code}` - {CATALOGUE[code].meaning}" for code in codes)
    properties: dict[str, dict] = {
        "code": {"type": "string", "enum": codes, "description": choices},
        "detail": {
            "type": "string",
            "description": "For people, in the request's language; never switch on it.",
        },
    }
    if status in (None, 400):
        properties["errors"] = {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "400 `invalid`: the messages of each field that is wrong.",
        }
    properties.update(CONTEXT_FIELDS.get(status, {}))
    if status is None:
        description = "Every error, on every route: switch on `code` (docs/API.md#errors)."
    else:
        description = f"An error answered with status {status}: `code` is one of these."
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": ["code", "detail"],
    }


def declared_error_statuses(view, method: str) -> set[int]:
    """The statuses a view declares in `error_statuses` for this operation."""
    declared = getattr(view, "error_statuses", ())
    if isinstance(declared, dict):
        declared = declared.get(getattr(view, "action", None) or method.lower(), ())
    statuses = set(declared)
    unknown = statuses - set(ERROR_STATUSES)
    if unknown:
        name = type(view).__name__
        raise ImproperlyConfigured(f"{name}.error_statuses: no such error status {sorted(unknown)}")
    return statuses


def reads_market_header(view) -> bool:
    return isinstance(view, MarketContextMixin) or getattr(view, "reads_market_header", False)


def allows_anonymous(view) -> bool:
    return all(isinstance(permission, AllowAny) for permission in view.get_permissions())


def error_statuses(view, method: str, operation: dict) -> set[int]:
    """Every error status `operation` of `view` can answer (see the module docstring)."""
    parameters = operation.get("parameters", [])
    query = {p["name"] for p in parameters if p["in"] == "query"}
    has_body = "requestBody" in operation
    statuses = {503} | declared_error_statuses(view, method)
    if (
        has_body
        or query - PAGINATION_PARAMETERS
        or (reads_market_header(view) and allows_anonymous(view))
    ):
        statuses.add(400)
    if has_body:
        statuses |= {413, 415}
    if view.get_authenticators():
        statuses.add(401)
    plain = (AllowAny, IsAuthenticated)
    if any(type(permission) not in plain for permission in view.get_permissions()):
        statuses.add(403)
    if any(p["in"] == "path" for p in parameters) or "page" in query:
        statuses.add(404)
    if view.get_throttles():
        statuses.add(429)
    return statuses


def _header(name: str, schema: dict, description: str) -> dict:
    return {
        "in": "header",
        "name": name,
        "required": False,
        "schema": schema,
        "description": description,
    }


MARKET_PARAMETER = _header(
    MARKET_HEADER,
    {"type": "string", "enum": list(Market.values)},
    "The market of an anonymous request (else `?market=`, else the default, KG). "
    "A signed-in customer is always served in their own market and this header is "
    "ignored. Any other value is 400 `invalid_market`.",
)
LANGUAGE_PARAMETER = _header(
    "Accept-Language",
    {"type": "string", "enum": list(LANGUAGES)},
    "The language of messages such as `detail` (KG offers ru, ky, en; US en).",
)
IF_NONE_MATCH_PARAMETER = _header(
    "If-None-Match",
    {"type": "string"},
    "The `ETag` of the body you have: `304` with no body while it is unchanged.",
)


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        cached = self.method == "GET" and isinstance(self.view, HttpCacheMixin)
        headers = [LANGUAGE_PARAMETER]
        if reads_market_header(self.view):
            headers.append(MARKET_PARAMETER)
        if cached:
            headers.append(IF_NONE_MATCH_PARAMETER)
        parameters = operation.setdefault("parameters", [])
        known = {(p["name"], p["in"]) for p in parameters}
        parameters += [deepcopy(h) for h in headers if (h["name"], "header") not in known]

        responses = operation["responses"]
        if cached:
            responses.get("200", {}).setdefault("headers", {})["ETag"] = deepcopy(ETAG_HEADER)
            responses["304"] = {
                "description": "Not modified: the `If-None-Match` ETag still matches; no body.",
                "headers": {"ETag": deepcopy(ETAG_HEADER)},
            }
        for status in sorted(error_statuses(self.view, self.method, operation)):
            responses.setdefault(str(status), self._error_response(status))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_component(self, status: int | None) -> ResolvedComponent:
        name = "Error" if status is None else f"Error{status}"
        component = ResolvedComponent(
            name=name,
            type=ResolvedComponent.SCHEMA,
            object=name,
            schema=error_component_schema(status),
        )
        self.registry.register_on_missing(component)
        return component

    def _error_response(self, status: int) -> dict:
        self._error_component(None)  # the shared shape, for clients that want one type
        response = {
            "description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": self._error_component(status).ref}},
        }
        if status in RETRY_AFTER_STATUSES:
            response["headers"] = {"Retry-After": deepcopy(RETRY_AFTER_HEADER)}
        return response

    def get_description(self) -> str:
        # Not the view class's docstring: it is written for maintainers (and inherited).
        action = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        return get_doc(action)

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # A decimal rendered as a string (COERCE_DECIMAL_TO_STRING): money, mostly.
        if (
            isinstance(field, serializers.DecimalField)
            and schema is not None
            and schema.get("type") == "string"
            and schema.get("format") == "decimal"
        ):
            schema.update(decimal_string_schema(field, direction))
        return schema


def decimal_string_schema(field: serializers.DecimalField, direction: str) -> dict:
    """Pattern and example of a decimal string: `"1290.00"` out; `"1290"`, `"1290.5"` in too."""
    places = field.decimal_places
    sign = "-?" if getattr(field, "signed", False) else ""
    if direction == "response":
        pattern = rf"^{sign}\d+\.\d{{{places}}}$"
    else:
        pattern = rf"^{sign}\d+(?:\.\d{{1,{places}}})?$"
    example = getattr(field, "schema_example", None) or "1290." + "0" * places
    return {"pattern": pattern, "example": example}
