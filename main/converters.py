"""URL path converters shared by the API routes."""


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
