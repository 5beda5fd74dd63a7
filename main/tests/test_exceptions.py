"""Every kind of error leaves the API in the one SPEC §5 shape."""

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import serializers
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from main.exceptions import ApplicationError, Conflict

factory = APIRequestFactory()


class _Input(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1)
    phone = serializers.CharField()


def _view(raise_exc=None, *, validate=False, permission=AllowAny):
    class View(APIView):
        permission_classes = (permission,)
        authentication_classes = (JWTAuthentication,)

        def post(self, request):
            if validate:
                _Input(data=request.data).is_valid(raise_exception=True)
            raise raise_exc

    return View.as_view()


def _call(view, data=None, **headers):
    response = view(factory.post("/api/v1/x/", data or {}, format="json", **headers))
    response.render()
    return response


def test_serializer_errors_are_invalid_with_field_errors():
    response = _call(_view(validate=True), {"quantity": 0})
    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert set(response.data["errors"]) == {"quantity", "phone"}
    assert all(isinstance(m, str) for m in response.data["errors"]["quantity"])
    assert response.data["detail"].startswith("quantity:")


def test_application_error_keeps_its_code_status_and_extra_fields():
    exc = Conflict("Out of stock.", code="out_of_stock", extra={"skus": [3]})
    response = _call(_view(exc))
    assert response.status_code == 409
    assert response.data == {"code": "out_of_stock", "detail": "Out of stock.", "skus": [3]}


def test_django_validation_error_becomes_400_invalid():
    response = _call(_view(DjangoValidationError({"stock": ["Must be positive."]})))
    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert response.data["errors"] == {"stock": ["Must be positive."]}

    response = _call(_view(DjangoValidationError("Broken rule.")))
    assert response.data["errors"] == {"non_field_errors": ["Broken rule."]}
    assert response.data["detail"] == "Broken rule."


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (Http404(), 404, "not_found"),
        (NotFound(), 404, "not_found"),
        (DjangoPermissionDenied(), 403, "permission_denied"),
        (ApplicationError(), 400, "error"),
    ],
)
def test_django_and_drf_errors_map_to_stable_codes(exc, status, code):
    response = _call(_view(exc))
    assert response.status_code == status
    assert response.data["code"] == code
    assert isinstance(response.data["detail"], str) and response.data["detail"]


def test_throttling_is_429_with_retry_after():
    response = _call(_view(Throttled(wait=42)))
    assert response.status_code == 429
    assert response.data["code"] == "throttled"
    assert response["Retry-After"] == "42"


def test_missing_credentials_are_401_not_authenticated():
    response = _call(_view(permission=IsAuthenticated))
    assert response.status_code == 401
    assert response.data["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_malformed_token_is_401_token_invalid():
    response = _call(_view(permission=IsAuthenticated), HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert response.status_code == 401
    assert response.data == {"code": "token_invalid", "detail": response.data["detail"]}
    assert "messages" not in response.data


def test_unexpected_exception_is_500_server_error_without_a_trace(caplog):
    response = _call(_view(RuntimeError("secret internals: password=hunter2")))
    assert response.status_code == 500
    assert response.data["code"] == "server_error"
    body = response.content.decode()
    assert "hunter2" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert "hunter2" in caplog.text  # logged for us, not shown to the client


@pytest.mark.django_db
def test_unknown_api_url_is_json_404(api_client):
    response = api_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.django_db
def test_method_not_allowed_has_a_code(api_client):
    response = api_client.delete("/api/v1/markets/")
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


def test_malformed_json_is_400_parse_error():
    request = factory.generic("POST", "/api/v1/x/", "{not json", content_type="application/json")
    response = _view(validate=True)(request)
    assert response.status_code == 400
    assert response.data["code"] == "parse_error"
