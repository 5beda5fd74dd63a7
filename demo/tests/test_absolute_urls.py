"""Every image URL in every response is absolute: a crawl of a seeded store.

Each GET operation of the OpenAPI schema is called as a customer and as a
store manager; path parameters are filled with values seen in earlier
responses (slugs, order numbers, ids, report dates). Every string that points
into MEDIA_URL must be an absolute URL: a Next.js `<img>` on another origin
cannot use `/media/…`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from conftest import authenticate
from demo.managers import DEMO_MANAGER_PHONES
from store_manager.models import StoreManager
from users.models import User

pytestmark = pytest.mark.django_db

PARAM = re.compile(r"{(\w+)}")


def _gets() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(path for path, item in schema["paths"].items() if "get" in item)


def _collect(value, seen: dict[str, set], media: list[str], key: str = "") -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _collect(inner, seen, media, name)
    elif isinstance(value, list):
        for inner in value:
            _collect(inner, seen, media, key)
    elif isinstance(value, str | int) and not isinstance(value, bool):
        if key in {"slug", "order_number", "id", "report_date", "date"}:
            seen[key].add(str(value))
        if isinstance(value, str) and settings.MEDIA_URL.strip("/") + "/" in value:
            media.append(value)


def _crawl(client: APIClient, paths: list[str]) -> tuple[int, list[str]]:
    seen: dict[str, set] = defaultdict(set)
    media: list[str] = []
    called = 0
    for _ in range(2):  # the second pass fills parameters seen in the first
        for path in paths:
            params = PARAM.findall(path)
            values = [sorted(seen.get(_source(p), ()))[:2] for p in params]
            if any(not options for options in values):
                continue
            url = path
            for param, options in zip(params, values, strict=True):
                url = url.replace("{" + param + "}", options[0])
            response = client.get(url, HTTP_X_MARKET="KG")
            if response.status_code == 200 and response["Content-Type"].startswith(
                "application/json"
            ):
                called += 1
                _collect(response.json(), seen, media)
    return called, media


def _source(param: str) -> str:
    return {"report_date": "report_date", "order_number": "order_number", "slug": "slug"}.get(
        param, "id"
    )


def test_every_image_url_in_every_response_is_absolute():
    call_command("seed_demo", "--small", stdout=StringIO())
    paths = _gets()
    customer = User.objects.filter(market="KG", orders__isnull=False).first()
    manager = StoreManager.objects.get(user__phone=DEMO_MANAGER_PHONES["admin"])

    called, media = 0, []
    for who in (customer, manager.user):
        count, found = _crawl(authenticate(APIClient(), who), paths)
        called += count
        media += found

    assert called > 30  # the crawl reached the catalogue, orders and manager pages
    assert len(media) > 20  # …and found pictures in them
    relative = sorted({url for url in media if not url.startswith("http://testserver/")})
    assert relative == []
