import pytest
from django.contrib.auth import authenticate
from django.db import IntegrityError
from django.test import RequestFactory

from main.exceptions import ApplicationError
from users.models import User

pytestmark = pytest.mark.django_db


def test_create_user_normalises_phone_and_sets_market_and_language():
    kg = User.objects.create_user("+996 700 12 34 56")
    us = User.objects.create_user("+1 202 555 0143")
    assert (kg.phone, kg.market, kg.language, kg.currency) == ("+996700123456", "KG", "ru", "KGS")
    assert (us.phone, us.market, us.language, us.currency) == ("+12025550143", "US", "en", "USD")


def test_customers_have_no_usable_password():
    user = User.objects.create_user("+996700123456")
    assert not user.has_usable_password()
    assert not user.is_staff and not user.is_superuser


def test_market_follows_the_phone_even_if_a_caller_says_otherwise():
    user = User.objects.create_user("+12025550143", market="KG")
    assert user.market == "US"


def test_create_user_refuses_other_countries():
    with pytest.raises(ApplicationError) as excinfo:
        User.objects.create_user("+79161234567")
    assert excinfo.value.code == "unsupported_market"
    assert not User.objects.exists()


def test_phone_is_unique_whatever_its_spelling():
    User.objects.create_user("+996700123456")
    with pytest.raises(IntegrityError):
        User.objects.create_user("+996 700 123 456")


def test_create_superuser_can_sign_in_with_any_phone_spelling():
    admin = User.objects.create_superuser("+996700000009", "s3cret-pass")
    assert admin.is_staff and admin.is_superuser and admin.market == "KG"
    request = RequestFactory().post("/admin/login/")
    assert authenticate(request, phone="+996 700 000 009", password="s3cret-pass") == admin
    assert authenticate(request, phone="+996700000009", password="wrong") is None


def test_create_superuser_needs_a_password_and_staff_flags():
    with pytest.raises(ValueError, match="password"):
        User.objects.create_superuser("+996700000009", None)
    with pytest.raises(ValueError, match="is_staff"):
        User.objects.create_superuser("+996700000009", "pw-123456", is_staff=False)


def test_database_refuses_a_market_outside_kg_and_us():
    user = User.objects.create_user("+996700123456")
    with pytest.raises(IntegrityError):
        User.objects.filter(pk=user.pk).update(market="RU")
