"""Local development lets the Next.js dev server (http://localhost:3000) call the API."""

import importlib

import pytest
from django.test import override_settings

FRONTEND_HEADERS = "accept-language,authorization,content-type,idempotency-key,x-market"


def _local_cors_origins() -> list[str]:
    """CORS_ALLOWED_ORIGINS as main.settings.local computes it from the current environment."""
    return importlib.reload(importlib.import_module("main.settings.local")).CORS_ALLOWED_ORIGINS


def _preflight(client, origin: str):
    return client.options(
        "/api/v1/orders/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=FRONTEND_HEADERS,
    )


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:3000"])
def test_local_settings_allow_the_next_dev_server_by_default(client, monkeypatch, origin):
    monkeypatch.delenv("CORS_ALLOWED_ORIGINS", raising=False)

    with override_settings(CORS_ALLOWED_ORIGINS=_local_cors_origins()):
        response = _preflight(client, origin)

    assert response.status_code == 200
    assert response["access-control-allow-origin"] == origin
    allowed = response["access-control-allow-headers"]
    assert all(header in allowed for header in FRONTEND_HEADERS.split(","))


def test_the_environment_still_replaces_the_local_origins(client, monkeypatch):
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://shop.example")

    origins = _local_cors_origins()
    with override_settings(CORS_ALLOWED_ORIGINS=origins):
        response = _preflight(client, "http://localhost:3000")

    assert origins == ["https://shop.example"]
    assert "access-control-allow-origin" not in response


def test_an_empty_variable_allows_no_origin(monkeypatch):
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "")

    assert _local_cors_origins() == []
