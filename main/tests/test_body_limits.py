"""Request bodies above the limits are refused with 413 before anything reads them.

JSON and forms: API_MAX_BODY_BYTES (1 MiB); multipart: API_MAX_UPLOAD_BYTES
(30 MiB). The anonymous `auth/otp/verify/` endpoint is the one an operator's
drill filled with 200 MB. Deeply nested JSON is a 400 `parse_error`.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from django.conf import settings
from django.test import RequestFactory

from main.body_limits import BodyLimitMiddleware
from users import sms
from users.api.auth_views import OTPVerifyView
from users.models import User

pytestmark = pytest.mark.django_db

REQUEST = "/api/v1/auth/otp/request/"
VERIFY = "/api/v1/auth/otp/verify/"
REVIEWS = "/api/v1/reviews/"
PHONE = "+996700123456"
MIB = 1024 * 1024


@pytest.fixture
def code(api_client, django_capture_on_commit_callbacks) -> str:
    """A valid sign-in code for PHONE (the SMS is sent after the commit)."""
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(REQUEST, {"phone": PHONE}).status_code == 202
    return re.search(r"\b(\d{6})\b", sms.outbox[-1].body).group(1)


def assert_too_large(response):
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert set(body) == {"code", "detail"}


def test_limits_default_to_1_mib_and_30_mib_and_django_agrees():
    assert settings.API_MAX_BODY_BYTES == MIB
    assert settings.API_MAX_UPLOAD_BYTES == 30 * MIB
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.API_MAX_BODY_BYTES


def test_declared_200_mb_json_is_413_without_reading_the_body(api_client, code):
    # The body itself is a valid sign-in: read, it would sign in and create the user.
    response = api_client.post(
        VERIFY,
        json.dumps({"phone": PHONE, "code": code}),
        content_type="application/json",
        CONTENT_LENGTH=str(200 * MIB),
    )

    assert_too_large(response)
    assert "1048576" in response.json()["detail"]
    assert not User.objects.filter(phone=PHONE).exists()
    # The code was not consumed: the same sign-in with an honest body works.
    assert api_client.post(VERIFY, {"phone": PHONE, "code": code}).status_code == 200


def test_json_body_just_over_the_limit_is_413(api_client, code):
    padding = "x" * (MIB - 40)
    response = api_client.post(
        VERIFY, {"phone": PHONE, "code": code, "padding": padding}, format="json"
    )

    assert_too_large(response)
    assert not User.objects.filter(phone=PHONE).exists()


def test_form_body_over_the_limit_is_413(api_client, code):
    response = api_client.post(
        VERIFY,
        f"phone=%2B996700123456&code={code}&padding={'x' * MIB}",
        content_type="application/x-www-form-urlencoded",
    )

    assert_too_large(response)
    assert not User.objects.filter(phone=PHONE).exists()


def test_uploads_have_their_own_higher_limit_where_uploads_are_taken(customer_client):
    image = io.BytesIO(b"\xff" * (5 * MIB))
    image.name = "photo.jpg"
    # Past the body limit, under the upload limit: the reviews view answers itself.
    under = customer_client.post(REVIEWS, {"images": image}, format="multipart")
    assert under.status_code == 400
    assert under.json()["code"] == "invalid"

    over = customer_client.post(
        REVIEWS, {"product": "x"}, format="multipart", CONTENT_LENGTH=str(31 * MIB)
    )
    assert_too_large(over)


def test_multipart_elsewhere_gets_the_ordinary_limit(api_client):
    """The client's Content-Type alone does not buy a 30 MiB body on a JSON endpoint."""
    image = io.BytesIO(b"\xff" * (2 * MIB))
    image.name = "photo.jpg"
    response = api_client.post(VERIFY, {"phone": PHONE, "images": image}, format="multipart")
    assert_too_large(response)
    small = api_client.post(VERIFY, {"phone": PHONE, "code": "1"}, format="multipart")
    assert small.status_code == 415  # and JSON endpoints take JSON only
    assert small.json()["code"] == "unsupported_media_type"


def test_multipart_text_field_over_the_body_limit_is_413(customer_client):
    response = customer_client.post(
        REVIEWS, {"product": "x", "comment": "x" * (2 * MIB)}, format="multipart"
    )
    assert_too_large(response)


def test_too_many_form_fields_is_413(client):
    """Django's own limit on a form it parses (the admin's sign-in form)."""
    fields = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client.post(
        "/admin/login/",
        f"username=%2B996700123456&password=x&{fields}",
        content_type="application/x-www-form-urlencoded",
    )

    assert_too_large(response)
    assert response.json()["detail"] == "The request has too many fields or files."


def test_a_body_longer_than_its_content_length_is_capped_while_streaming(code):
    """A server that hands Django more than declared (or no length at all) is cut at the limit."""
    body = json.dumps({"phone": PHONE, "code": code, "padding": "x" * (2 * MIB)}).encode()
    request = RequestFactory().post(VERIFY, b"{}", content_type="application/json")
    request._stream = io.BytesIO(body)  # lies: declares 2 bytes, streams 2 MiB

    response = BodyLimitMiddleware(OTPVerifyView.as_view())(request)
    response.render()

    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "payload_too_large"
    assert not User.objects.filter(phone=PHONE).exists()


def test_deeply_nested_json_is_400_parse_error(api_client):
    depth = 100_000
    body = "[" * depth + "]" * depth  # 200 kB: under the size limit

    response = api_client.post(VERIFY, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "parse_error",
        "detail": "JSON parse error - the document is nested too deeply.",
    }
