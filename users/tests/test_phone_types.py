"""Only mobile numbers get SMS codes (issue 12, point 6).

The rule and its table: docs/MARKETS.md, "Which phone numbers can sign in".

Transactional, like test_auth_otp.py: codes are sent after the commit.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from conftest import authenticate
from users import sms
from users.models import Address, VerificationCode
from users.services.accounts import address_create
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST = "/api/v1/auth/otp/request/"
CHANGE = "/api/v1/users/me/phone/"

PREMIUM_US = "+19005550123"
TOLL_FREE_US = "+18005550199"
LANDLINE_KG = "+996312123456"  # Bishkek landline
TOLL_FREE_KG = "+996800123456"
MOBILE_KG = "+996700123456"
US_NUMBER = "+12025550188"  # NANP: FIXED_LINE_OR_MOBILE

REFUSED = [PREMIUM_US, TOLL_FREE_US, LANDLINE_KG, TOLL_FREE_KG]


def assert_refused_without_side_effects(response, phone):
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "phone_not_mobile"
    assert "mobile" in body["detail"]
    assert body["errors"] == {"phone": [body["detail"]]}
    assert not VerificationCode.objects.filter(phone=phone).exists()
    assert sms.outbox == []
    assert cache.get(f"otp:cooldown:{phone}") is None


@pytest.mark.parametrize("phone", REFUSED)
def test_sign_in_code_is_refused_for_a_number_that_is_not_mobile(api_client, phone):
    response = api_client.post(REQUEST, {"phone": phone})

    assert_refused_without_side_effects(response, phone)


def test_any_spelling_of_a_landline_is_refused(api_client):
    response = api_client.post(REQUEST, {"phone": "00996 (312) 12-34-56"})

    assert_refused_without_side_effects(response, LANDLINE_KG)


@pytest.mark.parametrize(("refused", "mobile"), [(LANDLINE_KG, MOBILE_KG), (PREMIUM_US, US_NUMBER)])
def test_a_mobile_number_of_the_same_market_gets_exactly_one_sms(api_client, refused, mobile):
    assert api_client.post(REQUEST, {"phone": refused}).status_code == 400

    response = api_client.post(REQUEST, {"phone": mobile})

    assert response.status_code == 202
    assert [message.to for message in sms.outbox] == [mobile]
    assert VerificationCode.objects.filter(phone=mobile).count() == 1
    assert not VerificationCode.objects.filter(phone=refused).exists()


def test_phone_change_refuses_a_landline_the_same_way():
    user = UserFactory(phone=MOBILE_KG)
    client = authenticate(APIClient(), user)

    response = client.post(CHANGE, {"phone": LANDLINE_KG})

    assert_refused_without_side_effects(response, LANDLINE_KG)
    assert cache.get(f"otp:phone-change:{user.pk}") is None
    user.refresh_from_db()
    assert user.phone == MOBILE_KG


def test_phone_change_checks_the_number_type_before_the_market(customer_client):
    # A KG account asking for a US toll-free number: the number could never get the code.
    response = customer_client.post(CHANGE, {"phone": TOLL_FREE_US})

    assert_refused_without_side_effects(response, TOLL_FREE_US)


def test_a_delivery_address_may_still_use_a_landline(customer, api_client):
    # Couriers call recipients; only numbers that get an SMS code must be mobile.
    assert api_client.post(REQUEST, {"phone": LANDLINE_KG}).json()["code"] == "phone_not_mobile"

    address = address_create(
        user=customer,
        label="Office",
        recipient_name="Aida",
        phone=LANDLINE_KG,
        city="Bishkek",
        street="Chui",
        building="1",
    )

    assert Address.objects.get(pk=address.pk).phone == LANDLINE_KG
