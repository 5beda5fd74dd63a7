"""The orjson renderer writes the bytes DRF's JSONRenderer wrote (clients, ETags: no change)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from main.renderers import JSONRenderer

UTC = dt.UTC
BISHKEK = dt.timezone(dt.timedelta(hours=6))

PAYLOADS = [
    {"count": 2, "next": None, "results": [{"id": 1, "price": "1290.00", "in_stock": True}]},
    {
        "name": "\u0424\u0443\u0442\u0431\u043e\u043b\u043a\u0430 «Ala-Too»",
        "emoji": "👗",
        "quote": 'say "hi"\\n',
        "tab": "a\tb",
    },
    {"separators": "line\u2028para\u2029end", "control": "\x00\x1f"},
    {"at": dt.datetime(2026, 11, 25, 22, 49, 3, 123456, tzinfo=UTC)},
    {"at": dt.datetime(2026, 11, 26, 4, 49, tzinfo=BISHKEK), "day": dt.date(2026, 11, 26)},
    {"stray_decimal": Decimal("12.50"), "lazy": gettext_lazy("Not found."), "id": uuid.UUID(int=7)},
    {"took": dt.timedelta(seconds=90), "nested": [[[{"a": []}]]], "big": 2**60, "neg": -1.5},
    [],
    "plain string",
]


@pytest.mark.parametrize("data", PAYLOADS)
def test_same_bytes_as_drf_json_renderer(data):
    assert JSONRenderer().render(data) == DRFJSONRenderer().render(data)


def test_no_body_for_none():
    assert JSONRenderer().render(None) == b""
