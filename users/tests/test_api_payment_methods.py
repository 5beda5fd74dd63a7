import datetime as dt

import pytest
from django.utils import timezone

from users.models import PaymentMethod
from users.services.accounts import payment_method_create
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/me/payment-methods/"

CARD = {
    "provider": "stripe",
    "provider_token": "pm_1NvXkLAbCdEfGhIj",
    "brand": "visa",
    "last4": "4242",
    "exp_month": 12,
    "exp_year": 2099,
    "holder_name": "AIDA BEKOVA",
}

_tokens = iter(range(10**6))


def _card(user, **kwargs):
    fields = {
        "provider": "stripe",
        "provider_token": f"pm_test_{next(_tokens)}",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2099,
    }
    return payment_method_create(user=user, **(fields | kwargs))


def _defaults(user):
    return list(
        PaymentMethod.objects.filter(user=user, is_default=True).values_list("pk", flat=True)
    )


def test_payment_methods_need_a_token(api_client):
    response = api_client.post(URL, CARD)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not PaymentMethod.objects.exists()


def test_create_stores_the_token_and_never_shows_it(customer_client, customer):
    response = customer_client.post(URL, CARD)
    assert response.status_code == 201
    body = response.json()
    assert "provider_token" not in body
    assert body["last4"] == "4242" and body["brand"] == "visa"
    assert body["is_default"] is True  # the first card
    stored = PaymentMethod.objects.get(pk=body["id"])
    assert (stored.user, stored.provider_token) == (customer, CARD["provider_token"])
    for response in (customer_client.get(URL), customer_client.get(f"{URL}{stored.pk}/")):
        assert CARD["provider_token"] not in response.content.decode()


@pytest.mark.parametrize(
    "extra",
    [
        {"provider_token": "4242 4242 4242 4242"},
        {"provider_token": "tok_4242424242424242"},
        {"provider_token": "4242-4242-4242-4242"},
        {"holder_name": "AIDA 5555555555554444"},
        {"brand": "378282246310005"},  # 15-digit Amex
        {"card_number": "4242424242424242"},
        {"cardNumber": "x"},
        {"number": "4242"},
        {"pan": "4000056655665556"},
        {"cvv": "123"},
        {"cvc": "123"},
        {"cvv2": "123"},
        {"card": {"number": "4242424242424242", "cvc": "123"}},
        {"metadata": ["note", "6011111111111117"]},
        {"extra": 4242424242424242},
    ],
)
def test_card_numbers_and_cvv_are_refused_and_nothing_is_stored(customer_client, extra):
    response = customer_client.post(URL, CARD | extra)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "card_data_forbidden"
    # The refusal never echoes the card data back.
    assert "4242424242424242" not in response.content.decode().replace(" ", "").replace("-", "")
    assert not PaymentMethod.objects.exists()


@pytest.mark.parametrize("body_format", ["multipart", "form"])
def test_a_card_sent_as_a_form_is_refused_unread(customer_client, body_format):
    """JSON only: a form body (where a card number could hide in a repeated field) is 415."""
    body = {**CARD, "provider_token": ["4242424242424242", "pm_harmless"]}
    if body_format == "multipart":
        response = customer_client.post(URL, body, format="multipart")
    else:
        response = customer_client.post(
            URL, "provider_token=4242424242424242", content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not PaymentMethod.objects.exists()


def test_card_data_in_a_patch_is_refused(customer_client, customer):
    method = _card(customer, holder_name="Aida")
    response = customer_client.patch(f"{URL}{method.pk}/", {"holder_name": "4242424242424242"})
    assert response.status_code == 400
    assert response.json()["code"] == "card_data_forbidden"
    method.refresh_from_db()
    assert method.holder_name == "Aida"


def test_short_digit_runs_are_fine(customer_client):
    response = customer_client.post(URL, CARD | {"provider_token": "pm_123456789012"})
    assert response.status_code == 201


def test_expired_card_is_refused(customer_client):
    now = timezone.now()
    last_month = (now.replace(day=1) - dt.timedelta(days=1)).date()
    response = customer_client.post(
        URL, CARD | {"exp_month": last_month.month, "exp_year": last_month.year}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "exp_year" in body["errors"]
    assert not PaymentMethod.objects.exists()


def test_card_expiring_this_month_is_still_valid(customer_client):
    now = timezone.now()
    response = customer_client.post(URL, CARD | {"exp_month": now.month, "exp_year": now.year})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("last4", "42"),
        ("last4", "abcd"),
        ("exp_month", 13),
        ("exp_month", 0),
        ("provider", "paypal"),
        ("provider_token", ""),
    ],
)
def test_impossible_card_facts_are_refused(customer_client, field, value):
    response = customer_client.post(URL, CARD | {field: value})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert not PaymentMethod.objects.exists()


def test_the_same_token_cannot_be_saved_twice(customer_client):
    assert customer_client.post(URL, CARD).status_code == 201
    response = customer_client.post(URL, CARD)
    assert response.status_code == 400
    assert "provider_token" in response.json()["errors"]
    assert PaymentMethod.objects.count() == 1


def test_default_handling(customer_client, customer):
    first = customer_client.post(URL, CARD).json()
    second = customer_client.post(URL, CARD | {"provider_token": "pm_second"}).json()
    assert (first["is_default"], second["is_default"]) == (True, False)
    third = customer_client.post(
        URL, CARD | {"provider_token": "pm_third", "is_default": True}
    ).json()
    assert _defaults(customer) == [third["id"]]
    assert customer_client.patch(f"{URL}{second['id']}/", {"is_default": True}).status_code == 200
    assert _defaults(customer) == [second["id"]]
    assert customer_client.delete(f"{URL}{second['id']}/").status_code == 204
    assert _defaults(customer) == [third["id"]]  # the newest remaining one


def test_unsetting_the_default_is_refused(customer_client, customer):
    method = _card(customer)
    response = customer_client.patch(f"{URL}{method.pk}/", {"is_default": False})
    assert response.status_code == 400
    assert _defaults(customer) == [method.pk]


def test_patch_changes_the_holder_name(customer_client, customer):
    method = _card(customer)
    response = customer_client.patch(f"{URL}{method.pk}/", {"holder_name": "Aida B."})
    assert response.status_code == 200
    assert response.json()["holder_name"] == "Aida B."


@pytest.mark.parametrize(
    ("field", "value"), [("last4", "1111"), ("exp_year", 2098), ("provider_token", "pm_other")]
)
def test_patch_refuses_other_fields(customer_client, customer, field, value):
    method = _card(customer)
    response = customer_client.patch(f"{URL}{method.pk}/", {field: value})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    method.refresh_from_db()
    assert (method.last4, method.exp_year) == ("4242", 2099)
    assert method.provider_token.startswith("pm_test_")


def test_another_users_card_is_404_and_unchanged(customer_client):
    theirs = _card(UserFactory(), holder_name="Them")
    for response in (
        customer_client.get(f"{URL}{theirs.pk}/"),
        customer_client.patch(f"{URL}{theirs.pk}/", {"holder_name": "Me"}),
        customer_client.delete(f"{URL}{theirs.pk}/"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.holder_name == "Them" and theirs.is_default
    assert customer_client.get(URL).json()["count"] == 0


@pytest.mark.parametrize("page_size", [1, 50])
def test_list_runs_a_constant_number_of_queries(
    customer_client, customer, django_assert_max_num_queries, page_size
):
    PaymentMethod.objects.bulk_create(
        PaymentMethod(
            user=customer,
            provider="stripe",
            provider_token=f"pm_bulk_{i}",
            last4="4242",
            exp_month=1,
            exp_year=2099,
            is_default=i == 0,
        )
        for i in range(60)
    )
    with django_assert_max_num_queries(3):
        response = customer_client.get(URL, {"page_size": page_size})
    body = response.json()
    assert len(body["results"]) == page_size
    assert all("provider_token" not in row for row in body["results"])
