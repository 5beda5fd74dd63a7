import pytest

from main.exceptions import ApplicationError
from main.markets import parse_phone
from users.models import Address, Notification, PaymentMethod, User
from users.services import accounts
from users.services.accounts import (
    CardDataForbidden,
    address_create,
    address_delete,
    address_update,
    card_data_check,
    deleted_user_phone,
    notification_mark_all_read,
    notification_mark_read,
    notify_user,
    payment_method_create,
    payment_method_delete,
    user_delete,
    user_update,
)
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _address(user, **kwargs):
    fields = {
        "recipient_name": "Aida",
        "phone": "+996700123456",
        "city": "Bishkek",
        "street": "Chui",
        "building": "1",
    }
    return address_create(user=user, **(fields | kwargs))


@pytest.mark.parametrize("user_id", [1, 42, 10**12 - 1])
def test_deleted_phone_placeholder_fits_and_is_never_a_real_number(user_id):
    phone = deleted_user_phone(user_id)
    assert phone.startswith("+000")
    assert len(phone) <= User._meta.get_field("phone").max_length
    assert phone[1:].isdigit()
    # No real number can ever be stored with it: sign-up refuses it as a phone.
    with pytest.raises(ApplicationError):
        parse_phone(phone)


def test_user_update_leaves_unsent_fields_alone():
    user = UserFactory(first_name="Aida", last_name="Bekova")
    user_update(user=user, last_name="Asanova")
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Aida", "Asanova")


def test_user_update_refuses_a_language_of_another_market(us_customer):
    with pytest.raises(ApplicationError) as excinfo:
        user_update(user=us_customer, language="ky")
    assert excinfo.value.errors and "language" in excinfo.value.errors
    us_customer.refresh_from_db()
    assert us_customer.language == "en"


def test_user_delete_twice_is_harmless():
    user = UserFactory()
    user_delete(user=user)
    user_delete(user=user)
    user.refresh_from_db()
    assert not user.is_active and user.phone == deleted_user_phone(user.pk)


def test_first_address_is_default_and_new_default_moves():
    user = UserFactory()
    first = _address(user)
    second = _address(user, is_default=True)
    first.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    address_update(address=first, is_default=True)
    assert list(Address.objects.filter(user=user, is_default=True)) == [first]


def test_address_delete_promotes_newest_and_other_users_are_untouched():
    user, other = UserFactory(), UserFactory()
    theirs = _address(other)
    default, newest = _address(user), _address(user)
    address_delete(address=default)
    newest.refresh_from_db()
    theirs.refresh_from_db()
    assert newest.is_default and theirs.is_default


def test_address_update_refuses_a_phone_of_another_market():
    user = UserFactory()
    address = _address(user)
    with pytest.raises(ApplicationError) as excinfo:
        address_update(address=address, phone="+12025550143")
    assert excinfo.value.code == "market_mismatch"
    address.refresh_from_db()
    assert address.phone == "+996700123456"


@pytest.mark.parametrize(
    "payload",
    [
        {"provider_token": "4111111111111111"},
        {"provider_token": "4111 1111 1111 1111"},
        {"x": "1234567890123"},  # 13 digits
        {"x": "1234567890123456789"},  # 19 digits
        {"Card-Number": "1"},
        {"card[cvc]": "1"},
        {"CVV": ""},
        {"nested": {"deep": [{"pan": "1"}]}},
    ],
)
def test_card_data_check_refuses(payload):
    with pytest.raises(CardDataForbidden):
        card_data_check(payload=payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"provider_token": "pm_1NvXkLAbCdEfGhIj"},
        {"x": "123456789012"},  # 12 digits: a phone or an order number, not a card
        {"exp_year": 2030, "exp_month": 12, "last4": "4242"},
        {"is_default": True},
        {"order_number": "KG-7H3K9PXA", "phone_number": "+996700123456"},
    ],
)
def test_card_data_check_accepts(payload):
    card_data_check(payload=payload)


def test_payment_method_create_itself_refuses_a_pan_as_token():
    user = UserFactory()
    with pytest.raises(CardDataForbidden):
        payment_method_create(
            user=user,
            provider="stripe",
            provider_token="4242424242424242",
            last4="4242",
            exp_month=12,
            exp_year=2099,
        )
    assert not PaymentMethod.objects.exists()


def test_payment_method_delete_promotes_newest():
    user = UserFactory()
    cards = [
        payment_method_create(
            user=user,
            provider="stripe",
            provider_token=f"pm_{i}",
            last4="4242",
            exp_month=1,
            exp_year=2099,
        )
        for i in range(3)
    ]
    assert cards[0].is_default
    payment_method_delete(payment_method=cards[0])
    assert list(PaymentMethod.objects.filter(user=user, is_default=True)) == [cards[2]]


def test_notify_user_and_mark_read():
    user = UserFactory()
    notification = notify_user(
        user=user, title="Order shipped", type=Notification.Type.ORDER_STATUS, data={"o": 1}
    )
    assert not notification.is_read
    notify_user(user=user, title="Welcome")
    notification_mark_read(notification=notification)
    notification_mark_read(notification=notification)
    assert Notification.objects.filter(user=user, is_read=False).count() == 1
    assert notification_mark_all_read(user=user) == 1
    assert notification_mark_all_read(user=user) == 0


def test_notify_user_refuses_an_unknown_type():
    with pytest.raises(Exception, match="type"):
        notify_user(user=UserFactory(), title="x", type="spam")
    assert not Notification.objects.exists()


def test_same_token_saved_by_another_user_in_a_race_is_400_not_500(monkeypatch):
    """The other user's row commits between our duplicate check and our insert."""
    rival = UserFactory()
    card = {"provider": "stripe", "provider_token": "pm_race", "last4": "4242"}
    original_save = accounts._save_as_default

    def rival_commits_first(obj):
        PaymentMethod.objects.create(user=rival, exp_month=1, exp_year=2099, **card)
        return original_save(obj)

    monkeypatch.setattr(accounts, "_save_as_default", rival_commits_first)
    user = UserFactory()
    with pytest.raises(ApplicationError) as excinfo:
        payment_method_create(user=user, exp_month=12, exp_year=2099, **card)
    assert excinfo.value.code == "invalid"
    assert "provider_token" in excinfo.value.errors
    assert not PaymentMethod.objects.filter(user=user).exists()
