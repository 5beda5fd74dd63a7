import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from conftest import authenticate
from orders.models import Order
from orders.tests.factories import OrderFactory
from users.models import Address, PaymentMethod, User
from users.services.accounts import address_create, payment_method_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/me/"


def test_profile_shows_the_signed_in_customer(customer_client, customer):
    response = customer_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": customer.pk,
        "phone": "+996700111222",
        "market": "KG",
        "currency": "KGS",
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": "",
        "language": "ru",
        "date_joined": body["date_joined"],
    }
    assert body["date_joined"].endswith("Z")


def test_us_customer_sees_usd_and_english(api_client, us_customer):
    body = authenticate(api_client, us_customer).get(URL).json()
    assert (body["market"], body["currency"], body["language"]) == ("US", "USD", "en")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_profile_needs_a_token(api_client, method):
    response = getattr(api_client, method)(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_patch_changes_names_email_and_language(customer_client, customer):
    response = customer_client.patch(
        URL,
        {
            "first_name": " Aida ",
            "last_name": "Bekova",
            "email": "Aida@Example.COM",
            "language": "ky",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["first_name"], body["last_name"], body["language"]) == ("Aida", "Bekova", "ky")
    assert body["email"] == "Aida@example.com"
    customer.refresh_from_db()
    assert (customer.first_name, customer.language) == ("Aida", "ky")


def test_patch_can_blank_the_email(customer_client, customer):
    customer.email = "old@example.com"
    customer.save()
    assert customer_client.patch(URL, {"email": ""}).json()["email"] == ""


@pytest.mark.parametrize(
    ("market_phone", "language", "accepted"),
    [
        ("+996700999888", "ru", True),
        ("+996700999888", "ky", True),
        ("+996700999888", "en", True),
        ("+12025550199", "en", True),
        ("+12025550199", "ru", False),
        ("+12025550199", "ky", False),
    ],
)
def test_language_must_be_one_of_the_markets_languages(
    api_client, market_phone, language, accepted
):
    user = User.objects.create_user(market_phone)
    response = authenticate(api_client, user).patch(URL, {"language": language})
    user.refresh_from_db()
    if accepted:
        assert response.status_code == 200
        assert user.language == language
    else:
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid"
        assert "language" in body["errors"]
        assert user.language == "en"


def test_unknown_language_is_refused(customer_client, customer):
    response = customer_client.patch(URL, {"language": "de"})
    assert response.status_code == 400
    assert "language" in response.json()["errors"]


def test_invalid_email_is_refused(customer_client):
    response = customer_client.patch(URL, {"email": "not-an-email"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "email" in response.json()["errors"]


@pytest.mark.parametrize(
    ("field", "value"), [("phone", "+996700000001"), ("market", "US"), ("phone", "+12025550143")]
)
def test_phone_and_market_cannot_be_changed_here(customer_client, customer, field, value):
    response = customer_client.patch(URL, {field: value, "first_name": "Changed"})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    customer.refresh_from_db()
    assert (customer.phone, customer.market) == ("+996700111222", "KG")
    assert customer.first_name != "Changed"


def test_echoing_the_current_phone_and_market_is_accepted(customer_client, customer):
    response = customer_client.patch(
        URL, {"phone": "+996 700 111-222", "market": "kg", "first_name": "Aida"}
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "Aida"


def test_read_only_fields_are_ignored(customer_client, customer):
    joined = customer.date_joined
    response = customer_client.patch(
        URL, {"id": 999, "currency": "USD", "date_joined": "2000-01-01"}
    )
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.date_joined == joined
    assert response.json()["id"] == customer.pk


def _address(user):
    return address_create(
        user=user,
        recipient_name="Aida",
        phone="+996700111222",
        city="Bishkek",
        street="Chui",
        building="1",
    )


def _card(user):
    return payment_method_create(
        user=user,
        provider="stripe",
        provider_token="pm_1",
        last4="4242",
        exp_month=12,
        exp_year=2099,
    )


def test_delete_closes_the_account_and_keeps_orders(api_client, customer):
    customer.email = "aida@example.com"
    customer.save()
    _address(customer)
    _card(customer)
    order = OrderFactory(user=customer)
    refresh = RefreshToken.for_user(customer)
    client = authenticate(api_client, customer)

    response = client.delete(URL)

    assert response.status_code == 204
    customer.refresh_from_db()
    assert customer.is_active is False
    assert (customer.first_name, customer.last_name, customer.email) == ("", "", "")
    assert customer.phone == f"+000{customer.pk:012d}"
    assert not customer.has_usable_password()
    assert not Address.objects.filter(user=customer).exists()
    assert not PaymentMethod.objects.filter(user=customer).exists()
    assert Order.objects.filter(pk=order.pk, user=customer).exists()
    outstanding = OutstandingToken.objects.get(jti=refresh["jti"])
    assert BlacklistedToken.objects.filter(token=outstanding).exists()
    # The access token still in the client's hands no longer works.
    after = client.get(URL)
    assert after.status_code == 401
    assert after.json()["code"] == "token_invalid"


def test_delete_blacklists_every_outstanding_refresh_token(api_client, customer):
    tokens = [RefreshToken.for_user(customer) for _ in range(3)]
    other = User.objects.create_user("+996700999777")
    other_token = RefreshToken.for_user(other)
    assert authenticate(api_client, customer).delete(URL).status_code == 204
    for token in tokens:
        assert BlacklistedToken.objects.filter(token__jti=token["jti"]).exists()
    assert not BlacklistedToken.objects.filter(token__jti=other_token["jti"]).exists()


def test_deleted_phone_can_sign_up_again_as_a_new_account(api_client, customer):
    assert authenticate(api_client, customer).delete(URL).status_code == 204
    newcomer = User.objects.create_user("+996700111222")
    assert newcomer.pk != customer.pk
    assert newcomer.is_active


def test_delete_placeholder_phones_never_collide(api_client):
    users = [User.objects.create_user(f"+99670012340{i}") for i in range(3)]
    for user in users:
        assert authenticate(APIClient(), user).delete(URL).status_code == 204
    phones = set(User.objects.filter(pk__in=[u.pk for u in users]).values_list("phone", flat=True))
    assert len(phones) == 3
    assert all(p.startswith("+000") and len(p) <= 16 for p in phones)
