"""The project's JSON renderer: orjson, with the bytes DRF's own JSONRenderer wrote.

orjson (through drf-orjson-renderer) serialises a page of products several
times faster than the standard library's encoder. The output stays what DRF's
`JSONRenderer` produced with `UNICODE_JSON` and `COMPACT_JSON` on, so clients
and HTTP caches see the same bytes:

- compact separators, UTF-8 characters written as they are;
- aware UTC datetimes end in `Z` (`orjson.OPT_UTC_Z`, set in the settings);
- U+2028 and U+2029 are escaped, as DRF does, so the body is also valid JavaScript.

- what orjson cannot encode itself (`Decimal`, lazy translations, `timedelta`,
  querysets…) goes through DRF's own encoder, so a stray value is written as
  before (money normally arrives as a string: `COERCE_DECIMAL_TO_STRING`).
"""

from __future__ import annotations

from drf_orjson_renderer.renderers import ORJSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_LINE_SEPARATOR = "\u2028".encode()
_PARAGRAPH_SEPARATOR = "\u2029".encode()


def escape_js_separators(body: bytes) -> bytes:
    """U+2028/U+2029 as `\\u2028`/`\\u2029` (legal JSON, and safe inside a <script>)."""
    if _LINE_SEPARATOR in body or _PARAGRAPH_SEPARATOR in body:
        body = body.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
    return body


class JSONRenderer(ORJSONRenderer):
    default = staticmethod(JSONEncoder().default)

    def render(self, data, media_type=None, renderer_context=None) -> bytes:
        return escape_js_separators(super().render(data, media_type, renderer_context))
