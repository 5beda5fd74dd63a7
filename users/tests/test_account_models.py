import pytest

from main.testing import violates_constraint
from users.models import Address, PaymentMethod
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _address(user, **kwargs):
    fields = {
        "recipient_name": "Aida",
        "phone": user.phone,
        "city": "Bishkek",
        "street": "Chui Ave",
        "building": "1",
    }
    return Address.objects.create(user=user, **(fields | kwargs))


def _card(user, **kwargs):
    fields = {
        "provider": "stripe",
        "provider_token": f"pm_{PaymentMethod.objects.count()}",
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2030,
    }
    return PaymentMethod.objects.create(user=user, **(fields | kwargs))


def test_at_most_one_default_address_per_user():
    user, other = UserFactory(), UserFactory()
    _address(user, is_default=True)
    _address(user, is_default=False)
    _address(other, is_default=True)  # another user's default: fine
    with violates_constraint("address_one_default_per_user"):
        _address(user, is_default=True)
    assert user.addresses.filter(is_default=True).count() == 1


def test_at_most_one_default_payment_method_per_user():
    user = UserFactory()
    _card(user, is_default=True)
    _card(user)
    with violates_constraint("payment_method_one_default_per_user"):
        _card(user, is_default=True)


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"exp_month": 13}, "payment_method_exp_month_valid"),
        ({"exp_month": 0}, "payment_method_exp_month_valid"),
        ({"last4": "42a2"}, "payment_method_last4_digits"),
        ({"last4": "42"}, "payment_method_last4_digits"),
    ],
)
def test_payment_method_refuses_impossible_card_facts(fields, constraint):
    with violates_constraint(constraint):
        _card(UserFactory(), **fields)


def test_deleting_a_user_deletes_their_addresses_and_cards():
    user = UserFactory()
    _address(user)
    _card(user)
    user.delete()
    assert not Address.objects.exists()
    assert not PaymentMethod.objects.exists()
