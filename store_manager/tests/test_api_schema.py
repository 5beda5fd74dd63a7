"""The manager API documents itself: every route in the OpenAPI schema, with no warning."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from store_manager.api.urls import urlpatterns

pytestmark = pytest.mark.django_db


def test_manager_schema_generates_without_warnings(capsys):
    GENERATOR_STATS.reset()
    capsys.readouterr()
    generator = SchemaGenerator(
        patterns=[path("api/v1/manager/", include("store_manager.api.urls"))]
    )
    schema = generator.get_schema(request=None, public=True)
    output = capsys.readouterr()
    assert not GENERATOR_STATS, output.err
    assert "Warning" not in output.err and "Error" not in output.err, output.err
    assert len(schema["paths"]) == len(urlpatterns)
    export = schema["paths"]["/api/v1/manager/orders/export/"]["get"]
    assert "text/csv" in export["responses"]["200"]["content"]
    orders = schema["paths"]["/api/v1/manager/orders/"]["get"]
    names = {parameter["name"] for parameter in orders["parameters"]}
    assert {"status", "date_from", "date_to", "today", "search", "page", "page_size"} <= names
