"""URL path converters shared by the API routes."""

from datetime import date

from django.urls import register_converter


class OrderNumberConverter:
    """An order number as the shop prints it (`KG-7H3K9PXA`): letters, digits, hyphens.

    Anything else (NUL bytes, slashes, spaces) never reaches a view or the
    database: it is an ordinary JSON 404.
    """

    regex = "[A-Za-z0-9-]{1,20}"

    def to_python(self, value: str) -> str:
        return value.upper()

    def to_url(self, value: str) -> str:
        return value


class ReturnNumberConverter:
    """A return number (`R-7H3K9PXA`); `returns/products/` and the like never match it."""

    regex = "[Rr]-[A-Za-z0-9]{1,12}"

    def to_python(self, value: str) -> str:
        return value.upper()

    def to_url(self, value: str) -> str:
        return value


class IsoDateConverter:
    """A calendar date `YYYY-MM-DD`; an impossible date (2026-02-30) matches no route."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError as error:
            raise ValueError(value) from error

    def to_url(self, value) -> str:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)


# Registered once, on import: every urls module that uses them imports this module.
register_converter(OrderNumberConverter, "order_number")
register_converter(ReturnNumberConverter, "return_number")
register_converter(IsoDateConverter, "isodate")
