"""Staff sign in to /admin/ with phone + password; customers cannot; brute force is locked out."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client

from users.models import User

LOGIN = "/admin/login/"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def staff(db):
    return User.objects.create_user("+996700900900", PASSWORD, is_staff=True)


def admin_login(client: Client, phone: str, password: str):
    return client.post(LOGIN, {"username": phone, "password": password, "next": "/admin/"})


def signed_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_staff_signs_in_with_phone_and_password(staff):
    client = Client()
    response = admin_login(client, "+996 700 900 900", PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


def test_staff_signs_in_with_a_url_encoded_form_as_a_browser_sends_it(staff):
    """Browsers post the login form url-encoded: Django reads (and closes) the capped body."""
    client = Client()
    body = urlencode({"username": "+996700900900", "password": PASSWORD, "next": "/admin/"})
    response = client.post(LOGIN, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 302
    assert signed_in(client)


def test_a_wrong_password_is_refused(staff):
    client = Client()
    response = admin_login(client, staff.phone, "wrong")

    assert response.status_code == 200  # the form again, with an error
    assert not signed_in(client)


def test_a_customer_cannot_sign_in_to_the_admin(customer):
    client = Client()
    # A customer has no usable password: nothing they type can match it.
    for password in ("", "!", "password"):
        admin_login(client, customer.phone, password)
    assert not signed_in(client)


def test_a_customer_with_a_password_is_still_not_staff(customer):
    customer.set_password(PASSWORD)
    customer.save()
    client = Client()
    admin_login(client, customer.phone, PASSWORD)

    assert not signed_in(client)


def test_five_failures_lock_out_even_the_right_password(staff, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    for _ in range(5):
        admin_login(client, staff.phone, "wrong")

    response = admin_login(client, staff.phone, PASSWORD)

    assert response.status_code == 429
    assert not signed_in(client)


def test_four_failures_do_not_lock_out(staff):
    client = Client()
    for _ in range(4):
        admin_login(client, staff.phone, "wrong")

    assert admin_login(client, staff.phone, PASSWORD).status_code == 302
    assert signed_in(client)
