"""Moving an account to a new phone number (users/me/phone/ and …/confirm/)."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from conftest import authenticate
from users import sms
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHANGE = "/api/v1/users/me/phone/"
CONFIRM = "/api/v1/users/me/phone/confirm/"
NEW_PHONE = "+996700555666"


def sent_code(phone=NEW_PHONE) -> str:
    bodies = [message.body for message in sms.outbox if message.to == phone]
    assert bodies, f"no SMS was sent to {phone}"
    return re.search(r"\b(\d{6})\b", bodies[-1]).group(1)


def test_the_account_moves_to_the_new_number(customer_client, customer):
    response = customer_client.post(CHANGE, {"phone": "+996 700 555 666"})
    assert response.status_code == 202

    response = customer_client.post(CONFIRM, {"phone": NEW_PHONE, "code": sent_code()})
    assert response.status_code == 200
    assert response.json()["phone"] == NEW_PHONE
    customer.refresh_from_db()
    assert customer.phone == NEW_PHONE
    assert customer.market == "KG"


def test_sign_in_then_change_phone_with_the_access_token(api_client):
    api_client.post("/api/v1/auth/otp/request/", {"phone": "+996700123456"})
    body = api_client.post(
        "/api/v1/auth/otp/verify/", {"phone": "+996700123456", "code": sent_code("+996700123456")}
    ).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")

    assert api_client.post(CHANGE, {"phone": NEW_PHONE}).status_code == 202
    api_client.post(CONFIRM, {"phone": NEW_PHONE, "code": sent_code()})
    assert User.objects.get(pk=body["user"]["id"]).phone == NEW_PHONE


def test_another_markets_number_is_refused(customer_client, customer):
    response = customer_client.post(CHANGE, {"phone": "+12025550143"})

    assert response.status_code == 400
    assert response.json()["code"] == "market_mismatch"
    assert sms.outbox == []


def test_confirm_also_refuses_another_market(customer_client):
    response = customer_client.post(CONFIRM, {"phone": "+12025550143", "code": "123456"})
    assert response.json()["code"] == "market_mismatch"


def test_unsupported_country_is_refused(customer_client):
    response = customer_client.post(CHANGE, {"phone": "+79123456789"})
    assert response.json()["code"] == "unsupported_market"


def test_a_taken_number_is_refused_without_saying_whose(customer_client, customer):
    owner = UserFactory(phone=NEW_PHONE, first_name="Aida", last_name="Owner")
    free = customer_client.post(CHANGE, {"phone": "+996700555667"})
    taken = customer_client.post(CHANGE, {"phone": NEW_PHONE})
    # Asking reveals nothing: the answer is the one a free number gets.
    assert taken.status_code == free.status_code == 202
    assert taken.json() == free.json()

    response = customer_client.post(CONFIRM, {"phone": NEW_PHONE, "code": sent_code()})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "phone_unavailable"
    assert str(owner.id) not in str(body) and "Aida" not in str(body)
    customer.refresh_from_db()
    owner.refresh_from_db()
    assert customer.phone == "+996700111222" and owner.phone == NEW_PHONE


def test_a_phone_change_code_cannot_sign_in(customer_client, api_client):
    customer_client.post(CHANGE, {"phone": NEW_PHONE})
    response = api_client.post(
        "/api/v1/auth/otp/verify/", {"phone": NEW_PHONE, "code": sent_code()}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"
    assert not User.objects.filter(phone=NEW_PHONE).exists()


def test_a_wrong_code_keeps_the_old_number(customer_client, customer):
    customer_client.post(CHANGE, {"phone": NEW_PHONE})
    code = sent_code()
    response = customer_client.post(
        CONFIRM, {"phone": NEW_PHONE, "code": f"{(int(code) + 1) % 10**6:06d}"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"
    customer.refresh_from_db()
    assert customer.phone == "+996700111222"


def test_a_code_requested_by_someone_else_cannot_move_my_account(customer_client, customer):
    other = authenticate(APIClient(), UserFactory(phone="+996700777888"))
    other.post(CHANGE, {"phone": NEW_PHONE})

    response = customer_client.post(CONFIRM, {"phone": NEW_PHONE, "code": sent_code()})

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"
    customer.refresh_from_db()
    assert customer.phone == "+996700111222"


def test_the_current_number_is_refused(customer_client, customer):
    response = customer_client.post(CHANGE, {"phone": customer.phone})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert sms.outbox == []


def test_phone_change_needs_a_signed_in_user(api_client):
    response = api_client.post(CHANGE, {"phone": NEW_PHONE})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_deactivated_users_access_token_is_refused(customer_client, customer):
    customer.is_active = False
    customer.save()

    response = customer_client.post(CHANGE, {"phone": NEW_PHONE})
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
