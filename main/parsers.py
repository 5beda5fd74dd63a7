"""The project's request parsers (DEFAULT_PARSER_CLASSES)."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, but JSON nested too deeply is a 400 `parse_error`, not a 500.

    `json` recurses once per nesting level and raises RecursionError past
    Python's recursion limit (about 1,000 levels); a few hundred kilobytes of
    `[[[[…` are enough.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
