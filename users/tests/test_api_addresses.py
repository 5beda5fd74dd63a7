import pytest

from conftest import authenticate
from users.models import Address
from users.services.accounts import address_create
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/me/addresses/"

PAYLOAD = {
    "label": "Home",
    "recipient_name": "Aida Bekova",
    "phone": "+996 700 123-456",
    "city": "Bishkek",
    "street": "Chui Ave",
    "building": "120",
    "apartment": "5",
    "postal_code": "720001",
    "notes": "Ring twice",
}


def _address(user, **kwargs):
    fields = {
        "recipient_name": "Aida",
        "phone": "+996700123456" if user.market == "KG" else "+12025550111",
        "city": "Bishkek",
        "street": "Chui Ave",
        "building": "1",
    }
    return address_create(user=user, **(fields | kwargs))


def _defaults(user):
    return list(Address.objects.filter(user=user, is_default=True).values_list("pk", flat=True))


def test_addresses_need_a_token(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_create_returns_201_with_the_phone_in_e164(customer_client, customer):
    response = customer_client.post(URL, PAYLOAD)
    assert response.status_code == 201
    body = response.json()
    assert body["phone"] == "+996700123456"
    assert body["city"] == "Bishkek" and body["notes"] == "Ring twice"
    assert Address.objects.get(pk=body["id"]).user == customer


def test_first_address_becomes_the_default(customer_client):
    body = customer_client.post(URL, PAYLOAD | {"is_default": False}).json()
    assert body["is_default"] is True


def test_later_addresses_are_not_default_unless_asked(customer_client, customer):
    first = customer_client.post(URL, PAYLOAD).json()
    second = customer_client.post(URL, PAYLOAD | {"label": "Work"}).json()
    assert second["is_default"] is False
    assert _defaults(customer) == [first["id"]]


def test_creating_a_new_default_clears_the_old_one(customer_client, customer):
    first = customer_client.post(URL, PAYLOAD).json()
    second = customer_client.post(URL, PAYLOAD | {"is_default": True}).json()
    assert second["is_default"] is True
    assert _defaults(customer) == [second["id"]]
    assert customer_client.get(f"{URL}{first['id']}/").json()["is_default"] is False


def test_switching_the_default_with_patch(customer_client, customer):
    first, second, third = (_address(customer) for _ in range(3))
    assert _defaults(customer) == [first.pk]
    response = customer_client.patch(f"{URL}{third.pk}/", {"is_default": True})
    assert response.status_code == 200
    assert response.json()["is_default"] is True
    assert _defaults(customer) == [third.pk]
    # The list shows the default first.
    ids = [row["id"] for row in customer_client.get(URL).json()["results"]]
    assert ids[0] == third.pk
    assert set(ids) == {first.pk, second.pk, third.pk}


def test_unsetting_the_only_default_is_refused(customer_client, customer):
    address = _address(customer)
    response = customer_client.patch(f"{URL}{address.pk}/", {"is_default": False})
    assert response.status_code == 400
    assert "is_default" in response.json()["errors"]
    assert _defaults(customer) == [address.pk]


def test_deleting_the_default_promotes_the_newest_remaining(customer_client, customer):
    default, _older, newest = (_address(customer) for _ in range(3))
    response = customer_client.delete(f"{URL}{default.pk}/")
    assert response.status_code == 204
    assert not Address.objects.filter(pk=default.pk).exists()
    assert _defaults(customer) == [newest.pk]


def test_deleting_a_non_default_keeps_the_default(customer_client, customer):
    default, other = _address(customer), _address(customer)
    assert customer_client.delete(f"{URL}{other.pk}/").status_code == 204
    assert _defaults(customer) == [default.pk]


def test_deleting_the_last_address_leaves_none(customer_client, customer):
    only = _address(customer)
    assert customer_client.delete(f"{URL}{only.pk}/").status_code == 204
    assert customer_client.get(URL).json()["count"] == 0


def test_never_two_defaults_after_many_changes(customer_client, customer):
    ids = [customer_client.post(URL, PAYLOAD).json()["id"] for _ in range(4)]
    for pk in [ids[2], ids[1], ids[3], ids[1]]:
        customer_client.patch(f"{URL}{pk}/", {"is_default": True})
        assert _defaults(customer) == [pk]
    customer_client.delete(f"{URL}{ids[1]}/")
    assert len(_defaults(customer)) == 1


def test_patch_changes_fields_and_normalises_the_phone(customer_client, customer):
    address = _address(customer)
    response = customer_client.patch(
        f"{URL}{address.pk}/", {"street": "Manas Ave", "phone": "00996 555 123 456"}
    )
    assert response.status_code == 200
    assert response.json()["street"] == "Manas Ave"
    address.refresh_from_db()
    assert (address.street, address.phone, address.city) == (
        "Manas Ave",
        "+996555123456",
        "Bishkek",
    )


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("12345", "invalid"),
        ("+996 12", "invalid"),
        ("+44 20 7946 0958", "unsupported_market"),
        ("+1 202 555 0143", "market_mismatch"),
    ],
)
def test_address_phone_must_be_valid_and_of_the_market(customer_client, customer, phone, code):
    response = customer_client.post(URL, PAYLOAD | {"phone": phone})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert "phone" in body["errors"]
    assert not Address.objects.filter(user=customer).exists()


def test_us_customer_uses_us_phones(api_client, us_customer):
    client = authenticate(api_client, us_customer)
    assert client.post(URL, PAYLOAD | {"phone": "+996700123456"}).status_code == 400
    response = client.post(URL, PAYLOAD | {"phone": "+1 (202) 555-0143"})
    assert response.status_code == 201
    assert response.json()["phone"] == "+12025550143"


def test_missing_required_fields_are_listed(customer_client):
    response = customer_client.post(URL, {"city": "Bishkek"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"recipient_name", "phone", "street", "building"} <= set(errors)


def test_put_is_not_offered(customer_client, customer):
    address = _address(customer)
    assert customer_client.put(f"{URL}{address.pk}/", PAYLOAD).status_code == 405


def test_another_users_address_is_404_and_unchanged(customer_client):
    stranger = UserFactory()
    theirs = _address(stranger, street="Their street")
    for response in (
        customer_client.get(f"{URL}{theirs.pk}/"),
        customer_client.patch(f"{URL}{theirs.pk}/", {"street": "Mine now"}),
        customer_client.delete(f"{URL}{theirs.pk}/"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.street == "Their street" and theirs.is_default
    assert customer_client.get(URL).json()["count"] == 0


def test_list_is_paginated(customer_client, customer):
    for _ in range(3):
        _address(customer)
    body = customer_client.get(URL, {"page_size": 2}).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", [1, 50])
def test_list_runs_a_constant_number_of_queries(
    customer_client, customer, django_assert_max_num_queries, page_size
):
    Address.objects.bulk_create(
        Address(
            user=customer,
            recipient_name=f"R{i}",
            phone="+996700123456",
            city="Bishkek",
            street="Chui",
            building=str(i),
            is_default=i == 0,
        )
        for i in range(60)
    )
    with django_assert_max_num_queries(3):
        response = customer_client.get(URL, {"page_size": page_size})
    assert len(response.json()["results"]) == page_size
