"""The error catalogue: every `code` a client can receive, with its HTTP status and meaning.

Every error response is `{"code", "detail"}` (+ `"errors"` for validation,
+ context fields for a few domain errors). Clients switch on `code`. This
module is the one list of those codes: the exception classes name their code
from here, the OpenAPI schema documents it as an enum, and the table in
docs/API.md is generated from it (`python -m main.errors`) and checked by
`main/tests/test_error_catalogue.py`, as is every `ApplicationError` subclass.

Plain data on purpose: no Django import, so anything can read it.
"""

from __future__ import annotations

from typing import NamedTuple


class ErrorCode(NamedTuple):
    status: int
    meaning: str


CATALOGUE: dict[str, ErrorCode] = {
    # 400: the request is wrong; nothing was changed.
    "invalid": ErrorCode(400, "a field is missing or wrong; `errors` says which and why"),
    "parse_error": ErrorCode(400, "the body is not valid JSON (or is nested too deeply)"),
    "bad_request": ErrorCode(
        400, "the request itself is malformed (a `Host` we do not serve, unparsable HTTP)"
    ),
    "invalid_market": ErrorCode(400, "`X-Market` / `?market=` is not KG or US"),
    "unsupported_market": ErrorCode(
        400, "a phone number outside Kyrgyzstan (+996) and the US (+1)"
    ),
    "market_mismatch": ErrorCode(
        400, "something of another market: a product not sold there, a phone of another market"
    ),
    "phone_not_mobile": ErrorCode(
        400, "the number cannot receive SMS (landline, premium rate, toll free, …)"
    ),
    "phone_unavailable": ErrorCode(400, "the new phone number cannot be used for this account"),
    "otp_invalid": ErrorCode(400, "the SMS code is wrong (or none was requested)"),
    "otp_expired": ErrorCode(400, "the SMS code has expired: request a new one"),
    "otp_locked": ErrorCode(400, "too many wrong tries: this code no longer works"),
    "card_data_forbidden": ErrorCode(400, "card numbers or CVCs are never accepted by this API"),
    "cart_empty": ErrorCode(400, "checkout with an empty cart"),
    "payment_method_unavailable": ErrorCode(
        400, "the payment method is not offered in this market"
    ),
    "refund_exceeds_paid": ErrorCode(
        400,
        "the refund is more than what was paid and not yet refunded; `refundable` says how much",
    ),
    "signature_invalid": ErrorCode(
        400, "a webhook whose provider signature is missing, forged or older than 300 s"
    ),
    "event_invalid": ErrorCode(
        400, "a webhook correctly signed whose body is not an event we can read; nothing changed"
    ),
    "return_quantity_exceeded": ErrorCode(
        400, "a return names more units than were bought and not yet returned; `returnable`"
    ),
    "exchange_invalid": ErrorCode(
        400, "an exchange SKU that is not another size or colour of the product sold here"
    ),
    "image_too_large": ErrorCode(
        400, "an image is above the pixel ceiling (or a decompression bomb)"
    ),
    # 401 / 403: who is asking.
    "not_authenticated": ErrorCode(401, "no credentials: sign in"),
    "token_invalid": ErrorCode(
        401, "expired, malformed or revoked token: refresh it or sign in again"
    ),
    "permission_denied": ErrorCode(403, "signed in, but not allowed to do this"),
    "csrf_failed": ErrorCode(403, "admin forms only: the CSRF token is missing or wrong"),
    "not_a_buyer": ErrorCode(403, "only customers who received the product may review it"),
    # 404 / 405 / 406: what is asked for.
    "not_found": ErrorCode(404, "no such object for you (other markets' and users' objects too)"),
    "method_not_allowed": ErrorCode(405, "this HTTP method is not allowed here"),
    "not_acceptable": ErrorCode(406, "no representation matches `Accept` (the API speaks JSON)"),
    # 409 / 422: the state of things says no.
    "conflict": ErrorCode(409, "the request conflicts with the current state"),
    "out_of_stock": ErrorCode(409, "not enough units of some items; `skus` names them"),
    "stock_below_zero": ErrorCode(409, "a stock adjustment would take stock below zero"),
    "price_changed": ErrorCode(
        409, "`expected_total` differs from the current total; the new totals are included"
    ),
    "invalid_transition": ErrorCode(
        409, "the order (or return) cannot move to that status from its status"
    ),
    "return_window_closed": ErrorCode(
        409, "the order was delivered longer ago than the market's return window"
    ),
    "review_exists": ErrorCode(409, "you already reviewed this product"),
    "payment_required": ErrorCode(
        409, "a card order stays pending (not confirmed, processed or shipped) until authorised"
    ),
    "not_refundable": ErrorCode(409, "nothing was paid on the order, or it was refunded in full"),
    "payment_refused": ErrorCode(
        409, "the payment provider refused the operation (e.g. an expired authorisation)"
    ),
    "idempotency_conflict": ErrorCode(
        422, "the `Idempotency-Key` was used before with a different body"
    ),
    # 413 / 414 / 415 / 429 / 431: size and rate.
    "payload_too_large": ErrorCode(
        413, "the body is above its limit, or has too many fields or files"
    ),
    "uri_too_long": ErrorCode(414, "the request line is above 8,190 bytes"),
    "unsupported_media_type": ErrorCode(415, "a body type this endpoint does not take"),
    "throttled": ErrorCode(429, "too many requests: wait `Retry-After` seconds"),
    "headers_too_large": ErrorCode(431, "more than 100 header fields, or one above 8,190 bytes"),
    # 5xx: our side.
    "server_error": ErrorCode(500, "a bug on our side; it is logged, no details are shown"),
    "service_unavailable": ErrorCode(
        503, "a service the request needs is down; retry after `Retry-After`. Nothing changed"
    ),
    "sms_unavailable": ErrorCode(
        503, "the SMS could not be sent; retry after `Retry-After`. No code was issued"
    ),
    "payment_provider_unavailable": ErrorCode(
        503, "the payment provider cannot be reached; retry after `Retry-After`. Nothing changed"
    ),
    "not_ready": ErrorCode(503, "`/readyz` only: a dependency is down"),
}


def status_of(code: str) -> int:
    return CATALOGUE[code].status


def codes_for(status: int) -> list[str]:
    """Every code answered with `status` (the schema's enum for that status)."""
    return [code for code, entry in CATALOGUE.items() if entry.status == status]


def markdown_table() -> str:
    """The table of docs/API.md, sorted by status then code."""
    rows = sorted(CATALOGUE.items(), key=lambda item: (item[1].status, item[0]))
    lines = ["| code | status | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{code}` | {entry.status} | {entry.meaning} |" for code, entry in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
