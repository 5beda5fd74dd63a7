import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_served(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/markets/" in schema["paths"]


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_nothing_from_the_internet(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(src|href)=[\"']https?://", html), "page loads from an external host"
    assert "googleapis" not in html and "cdn." not in html
    # Every script and stylesheet is a static file the project serves itself.
    assets = re.findall(r"(?:src|href)=[\"']/static/([^\"']+)[\"']", html)
    assert assets
    for asset in assets:
        assert finders.find(asset), f"{asset} is not a served static file"
