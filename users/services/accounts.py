"""Writes of the customer account (SPEC §5 `users/me/…`): profile, addresses,
payment methods, notifications. Every rule about them lives here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.base_user import BaseUserManager
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from main.exceptions import ApplicationError, InvalidInput
from main.markets import MarketMismatch, market_config, parse_phone
from users.events import notification_created
from users.models import Address, Notification, PaymentMethod, User

# --- Errors ------------------------------------------------------------------------


class AddressPhoneMarketMismatch(MarketMismatch):
    default_detail = "The recipient's phone must be a number of your market."


class CardDataForbidden(ApplicationError):
    status_code = 400
    code = "card_data_forbidden"
    default_detail = (
        "Full card numbers and security codes must never be sent to MARQUE. "
        "Tokenise the card with the payment provider and send its token."
    )


# --- Profile -----------------------------------------------------------------------

# A real E.164 number never starts with "+0" (no country code begins with 0), so
# "+000" + the zero-padded id is unique, can never be a customer's phone, and still
# fits the 16 characters of User.phone (ids up to 10**12).
_DELETED_PHONE_PREFIX = "+000"


def deleted_user_phone(user_id: int) -> str:
    return f"{_DELETED_PHONE_PREFIX}{user_id:012d}"


@transaction.atomic
def user_update(
    *,
    user: User,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    language: str | None = None,
) -> User:
    """Change the editable profile fields; `None` leaves a field as it is.

    The language must be one of the user's market's languages (SPEC §2).
    """
    if language is not None:
        allowed = market_config(user.market).languages
        if language not in allowed:
            raise InvalidInput.on_field(
                "language",
                f"Choose one of the languages of your market ({user.market}): "
                f"{', '.join(allowed)}.",
            )
        user.language = language
    if first_name is not None:
        user.first_name = first_name.strip()
    if last_name is not None:
        user.last_name = last_name.strip()
    if email is not None:
        user.email = BaseUserManager.normalize_email(email.strip())
    user.full_clean(exclude=("password",))
    user.save(update_fields=("first_name", "last_name", "email", "language"))
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Close the account: the person disappears, the accounting stays.

    Deactivates the user, blanks personal fields, replaces the phone with a
    placeholder (so the real number can sign up again as a new account),
    deletes addresses and payment methods and blacklists every outstanding
    refresh token. Orders are kept (they carry their own shipping snapshot).
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    user.is_active = False
    user.first_name = ""
    user.last_name = ""
    user.email = ""
    user.phone = deleted_user_phone(user.pk)
    user.set_unusable_password()
    user.save(update_fields=("is_active", "first_name", "last_name", "email", "phone", "password"))
    Address.objects.filter(user=user).delete()
    PaymentMethod.objects.filter(user=user).delete()
    tokens = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in tokens], ignore_conflicts=True
    )


# --- Default handling shared by addresses and payment methods ------------------------


def _lock_owner(user: User) -> None:
    """Serialise default changes of one user (two racing "first" rows, two defaults)."""
    User.objects.select_for_update().filter(pk=user.pk).first()


def _save_as_default(obj: Address | PaymentMethod) -> None:
    # Clear the others first so the partial unique constraint never sees two defaults.
    type(obj).objects.filter(user_id=obj.user_id, is_default=True).exclude(pk=obj.pk).update(
        is_default=False, updated_at=timezone.now()
    )
    obj.is_default = True
    obj.save()


def _promote_newest(model: type[models.Model], *, user: User) -> None:
    newest = model.objects.filter(user=user).order_by("-created_at", "-pk").first()
    if newest is not None:
        newest.is_default = True
        newest.save(update_fields=("is_default", "updated_at"))


def _refuse_unsetting_default() -> None:
    raise InvalidInput.on_field(
        "is_default",
        "There is always one default. Make another one the default instead.",
    )


# --- Addresses -----------------------------------------------------------------------

ADDRESS_FIELDS = (
    "label",
    "recipient_name",
    "phone",
    "city",
    "street",
    "building",
    "apartment",
    "postal_code",
    "notes",
)


def address_phone(*, user: User, raw: str) -> str:
    """A delivery phone in E.164; it must be of the user's market (addresses and checkout)."""
    parsed = parse_phone(raw, market=user.market)
    if parsed.market != user.market:
        prefix = market_config(user.market).phone_prefix
        message = f"Enter a {prefix} number: deliveries go to your market ({user.market})."
        raise AddressPhoneMarketMismatch(message, errors={"phone": [message]})
    return parsed.e164


@transaction.atomic
def address_create(*, user: User, is_default: bool = False, **fields: Any) -> Address:
    """Add an address. The first one, or one sent with `is_default`, becomes the default."""
    unknown = set(fields) - set(ADDRESS_FIELDS)
    if unknown:
        raise TypeError(f"Unknown address fields: {sorted(unknown)}")
    _lock_owner(user)
    fields["phone"] = address_phone(user=user, raw=fields.get("phone", ""))
    address = Address(user=user, **fields)
    address.full_clean(exclude=("user", "is_default"))
    if is_default or not Address.objects.filter(user=user).exists():
        _save_as_default(address)
    else:
        address.save()
    return address


@transaction.atomic
def address_update(*, address: Address, is_default: bool | None = None, **fields: Any) -> Address:
    """Change an address; `is_default=True` moves the default here."""
    unknown = set(fields) - set(ADDRESS_FIELDS)
    if unknown:
        raise TypeError(f"Unknown address fields: {sorted(unknown)}")
    _lock_owner(address.user)
    address.refresh_from_db()
    if is_default is False and address.is_default:
        _refuse_unsetting_default()
    if "phone" in fields:
        fields["phone"] = address_phone(user=address.user, raw=fields["phone"])
    for name, value in fields.items():
        setattr(address, name, value)
    address.full_clean(exclude=("user", "is_default"))
    if is_default and not address.is_default:
        _save_as_default(address)
    else:
        address.save()
    return address


def _delete_keeping_a_default(obj: Address | PaymentMethod) -> None:
    """Delete `obj`; if it was the default, the owner's newest remaining one takes over."""
    user = obj.user
    _lock_owner(user)
    model = type(obj)
    was_default = model.objects.filter(pk=obj.pk, is_default=True).exists()
    obj.delete()
    if was_default:
        _promote_newest(model, user=user)


@transaction.atomic
def address_delete(*, address: Address) -> None:
    """Delete an address; if it was the default, the newest remaining one takes over."""
    _delete_keeping_a_default(address)


# --- Payment methods -------------------------------------------------------------------

# Field names that only ever carry a PAN or a security code (compared lower-case,
# without separators, so "cardNumber", "card-number" and "card[number]" all match;
# "order_number" does not).
_FORBIDDEN_CARD_KEYS = frozenset(
    {"cardnumber", "number", "pan", "cvv", "cvc", "cvv2", "cvc2", "securitycode"}
)
# 13 to 19 digits, optionally grouped by single spaces or dashes ("4242 4242 4242 4242").
_CARD_NUMBER_RE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d")


def _is_card_key(key: str) -> bool:
    # Form-style nesting ("card[cvc]", "card.number") names each part separately.
    parts = [key, *re.split(r"[\[\].]+", key)]
    return any(re.sub(r"[^a-z0-9]", "", part.lower()) in _FORBIDDEN_CARD_KEYS for part in parts)


def _looks_like_card_data(value: Any) -> str | None:
    """The path of the first key or value that looks like a PAN or a CVV, else None."""
    if isinstance(value, Mapping):
        # A form body (QueryDict) may repeat a key: look at every value, not the last.
        items = (
            ((key, values) for key, values in value.lists())
            if hasattr(value, "lists")
            else value.items()
        )
        for key, item in items:
            if _is_card_key(str(key)):
                return str(key)
            if (found := _looks_like_card_data(item)) is not None:
                return f"{key}.{found}" if found else str(key)
        return None
    if isinstance(value, list | tuple):
        for item in value:
            if (found := _looks_like_card_data(item)) is not None:
                return found
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return "" if _CARD_NUMBER_RE.search(str(value)) else None
    return None


def card_data_check(*, payload: Any) -> None:
    """Refuse a payload carrying anything that looks like a card number or CVV.

    Runs on the raw request body before anything else looks at it, so a PAN is
    neither stored nor echoed back in a validation message.
    """
    found = _looks_like_card_data(payload)
    if found is not None:
        field = found.split(".")[0] or "non_field_errors"
        raise CardDataForbidden(errors={field: [CardDataForbidden.default_detail]})


def _check_not_expired(*, exp_month: int, exp_year: int) -> None:
    """A card is valid through the last day of its expiry month (UTC)."""
    today = timezone.now()
    if (exp_year, exp_month) < (today.year, today.month):
        raise InvalidInput.on_field("exp_year", "This card has expired.")


@transaction.atomic
def payment_method_create(
    *,
    user: User,
    provider: str,
    provider_token: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    brand: str = "",
    holder_name: str = "",
    is_default: bool = False,
) -> PaymentMethod:
    """Save a card the provider tokenised. Only the token and display facts are kept."""
    card_data_check(
        payload={"provider_token": provider_token, "brand": brand, "holder_name": holder_name}
    )
    _check_not_expired(exp_month=exp_month, exp_year=exp_year)
    _lock_owner(user)
    if PaymentMethod.objects.filter(provider=provider, provider_token=provider_token).exists():
        raise InvalidInput.on_field("provider_token", "This card is already saved.")
    method = PaymentMethod(
        user=user,
        provider=provider,
        provider_token=provider_token,
        brand=brand.lower(),
        last4=last4,
        exp_month=exp_month,
        exp_year=exp_year,
        holder_name=holder_name.strip(),
    )
    method.full_clean(exclude=("user", "is_default"), validate_unique=False)
    try:
        # A savepoint: another user saving the same token at this instant loses
        # the race on the unique constraint and gets the same 400 as above.
        with transaction.atomic():
            if is_default or not PaymentMethod.objects.filter(user=user).exists():
                _save_as_default(method)
            else:
                method.save()
    except IntegrityError as exc:
        raise InvalidInput.on_field("provider_token", "This card is already saved.") from exc
    return method


@transaction.atomic
def payment_method_update(
    *,
    payment_method: PaymentMethod,
    is_default: bool | None = None,
    holder_name: str | None = None,
) -> PaymentMethod:
    """Only the holder name and the default flag change; a new card is a new token."""
    _lock_owner(payment_method.user)
    payment_method.refresh_from_db()
    if is_default is False and payment_method.is_default:
        _refuse_unsetting_default()
    if holder_name is not None:
        card_data_check(payload={"holder_name": holder_name})
        payment_method.holder_name = holder_name.strip()
    if is_default and not payment_method.is_default:
        _save_as_default(payment_method)
    else:
        payment_method.save()
    return payment_method


@transaction.atomic
def payment_method_delete(*, payment_method: PaymentMethod) -> None:
    """Delete a card; if it was the default, the newest remaining one takes over."""
    _delete_keeping_a_default(payment_method)


# --- Notifications -----------------------------------------------------------------------


def notify_user(
    *,
    user: User,
    title: str,
    body: str = "",
    type: str = Notification.Type.SYSTEM,
    data: dict[str, Any] | None = None,
) -> Notification:
    """Leave an in-app message for a customer (order events, promotions, system notes)."""
    notification = Notification(user=user, type=type, title=title, body=body, data=data or {})
    notification.full_clean(exclude=("user",))
    notification.save()
    notification_created(notification)
    return notification


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one notification read; marking it again changes nothing."""
    if not notification.is_read:
        Notification.objects.filter(pk=notification.pk).update(is_read=True)
        notification.is_read = True
    return notification


def notification_mark_all_read(*, user: User) -> int:
    """Mark every unread notification of `user` read; returns how many changed."""
    return Notification.objects.filter(user=user, is_read=False).update(is_read=True)
