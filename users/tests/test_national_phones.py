"""A customer may type a phone in the national format of the market they are in."""

from __future__ import annotations

import pytest

from conftest import authenticate
from main.markets import parse_phone
from users import sms
from users.models import Address, User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESSES = "/api/v1/users/me/addresses/"
REQUEST = "/api/v1/auth/otp/request/"
VERIFY = "/api/v1/auth/otp/verify/"


def _address(phone: str, city: str) -> dict:
    return {"recipient_name": "R", "phone": phone, "city": city, "street": "S", "building": "1"}


@pytest.mark.parametrize(
    ("market", "typed", "e164"),
    [
        ("US", "(212) 555-0101", "+12125550101"),
        ("US", "212.555.0101", "+12125550101"),
        ("US", "1 212 555 0101", "+12125550101"),
        ("KG", "0700 123 456", "+996700123456"),
        ("KG", "0555-12-34-56", "+996555123456"),
        ("KG", "+996 700 123 456", "+996700123456"),  # international always works
        ("US", "+996 700 123 456", "+996700123456"),  # …whatever market the customer is in
    ],
)
def test_national_formats_of_the_market_parse(market, typed, e164):
    assert parse_phone(typed, market=market).e164 == e164


def test_a_us_customer_saves_an_address_typed_the_american_way(api_client):
    user = UserFactory(phone="+12025550143")
    response = authenticate(api_client, user).post(
        ADDRESSES, _address("(212) 555-0101", "New York"), format="json"
    )
    assert response.status_code == 201, response.json()
    assert Address.objects.get(user=user).phone == "+12125550101"


def test_a_bad_number_is_explained_with_an_example_of_the_customers_market(api_client):
    user = UserFactory(phone="+12025550143")
    response = authenticate(api_client, user).post(
        ADDRESSES, _address("(212) 555", "New York"), format="json"
    )
    assert response.status_code == 400
    message = response.json()["errors"]["phone"][0]
    assert "+1 212 555 0101" in message
    assert "+996" not in message


def test_sign_in_accepts_the_national_format_of_the_requested_market(api_client):
    response = api_client.post(REQUEST, {"phone": "(212) 555-0143"}, HTTP_X_MARKET="US")
    assert response.status_code == 202, response.json()
    assert [message.to for message in sms.outbox] == ["+12125550143"]
    code = sms.outbox[-1].body.split("code is ")[1][:6]
    verify = api_client.post(VERIFY, {"phone": "212-555-0143", "code": code}, HTTP_X_MARKET="US")
    assert verify.status_code == 200, verify.json()
    assert User.objects.get(phone="+12125550143").market == "US"


def test_kg_sign_in_with_a_national_number(api_client):
    response = api_client.post(REQUEST, {"phone": "0700 111 222"}, HTTP_X_MARKET="KG")
    assert response.status_code == 202, response.json()
    assert sms.outbox[-1].to == "+996700111222"
