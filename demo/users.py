"""Demo accounts for `manage.py seed_demo` (documented in README): the staff admin and customers.

Customers sign in with an SMS code (OTP), never a password. A demo account is
found again by its phone; an existing one is left as it is, addresses included.
"""

from __future__ import annotations

from dataclasses import dataclass

from users.models import Address, User

# The one staff account of the demo store; change the password in any shared setup.
DEMO_ADMIN_PHONE = "+996700000001"
DEMO_ADMIN_PASSWORD = "marque-admin"


def seed_admin() -> User:
    user = User.objects.filter(phone=DEMO_ADMIN_PHONE).first()
    if user is None:
        user = User.objects.create_superuser(
            DEMO_ADMIN_PHONE, DEMO_ADMIN_PASSWORD, first_name="Demo", last_name="Admin"
        )
    return user


@dataclass(frozen=True)
class AddressSpec:
    label: str
    city: str
    street: str
    building: str
    apartment: str = ""
    postal_code: str = ""
    notes: str = ""


@dataclass(frozen=True)
class CustomerSpec:
    phone: str  # E.164; the market follows from it
    first_name: str
    last_name: str
    email: str
    language: str
    addresses: tuple[AddressSpec, ...]  # the first is the default
    small: bool = False  # part of the `--small` set


# US numbers are in the 555-01xx range that is reserved for fiction.
DEMO_CUSTOMERS: tuple[CustomerSpec, ...] = (
    CustomerSpec(
        "+996700100001",
        "Aigerim",
        "Sadykova",
        "aigerim.sadykova@example.com",
        "ru",
        (
            AddressSpec("Home", "Bishkek", "Chuy Avenue", "125", "14", "720040", "Entrance 2"),
            AddressSpec("Work", "Bishkek", "Manas Avenue", "40", "", "720017", "Office 305"),
        ),
        small=True,
    ),
    CustomerSpec(
        "+996555100002",
        "Bakyt",
        "Toktogulov",
        "bakyt.t@example.com",
        "ky",
        (AddressSpec("Home", "Bishkek", "Jibek Jolu Avenue", "312", "56", "720011"),),
    ),
    CustomerSpec(
        "+996770100003",
        "Nurlan",
        "Asanov",
        "",
        "ru",
        (
            AddressSpec("Home", "Osh", "Kurmanjan Datka Street", "212", "7", "723500"),
            AddressSpec("Parents", "Karakol", "Toktogul Street", "88", "", "722200"),
        ),
    ),
    CustomerSpec(
        "+12125550101",
        "Emily",
        "Carter",
        "emily.carter@example.com",
        "en",
        (
            AddressSpec("Home", "New York, NY", "W 23rd St", "245", "5B", "10011"),
            AddressSpec("Work", "New York, NY", "Broadway", "1250", "Floor 12", "10001"),
        ),
        small=True,
    ),
    CustomerSpec(
        "+13125550102",
        "Michael",
        "Johnson",
        "mjohnson@example.com",
        "en",
        (AddressSpec("Home", "Chicago, IL", "N Michigan Ave", "875", "2104", "60611"),),
    ),
    CustomerSpec(
        "+16465550103",
        "Sofia",
        "Martinez",
        "sofia.martinez@example.com",
        "en",
        (AddressSpec("Home", "Brooklyn, NY", "Bedford Ave", "118", "3R", "11249", "Ring twice"),),
    ),
)


def seed_customers(*, small: bool = False) -> list[User]:
    """Create the demo customers that are missing, each with addresses (one default)."""
    specs = [spec for spec in DEMO_CUSTOMERS if spec.small or not small]
    existing = User.objects.in_bulk([spec.phone for spec in specs], field_name="phone")
    customers: list[User] = []
    addresses: list[Address] = []
    for spec in specs:
        user = existing.get(spec.phone)
        if user is None:
            user = User.objects.create_user(
                spec.phone,
                first_name=spec.first_name,
                last_name=spec.last_name,
                email=spec.email,
                language=spec.language,
            )
            addresses.extend(
                Address(
                    user=user,
                    label=address.label,
                    recipient_name=user.get_full_name(),
                    phone=user.phone,
                    city=address.city,
                    street=address.street,
                    building=address.building,
                    apartment=address.apartment,
                    postal_code=address.postal_code,
                    notes=address.notes,
                    is_default=index == 0,
                )
                for index, address in enumerate(spec.addresses)
            )
        customers.append(user)
    Address.objects.bulk_create(addresses)
    return customers
