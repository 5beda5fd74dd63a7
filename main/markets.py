"""Markets: the one module that knows what KG and US mean (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from main.exceptions import ApplicationError, InvalidInput

CENT = Decimal("0.01")


class Market(models.TextChoices):
    """A market a customer, an order or a manager view belongs to."""

    KG = "KG", _("Kyrgyzstan")
    US = "US", _("United States")


class CatalogMarket(models.TextChoices):
    """Where a catalogue object (category, product, banner) is shown."""

    KG = "KG", _("Kyrgyzstan")
    US = "US", _("United States")
    ALL = "ALL", _("All markets")


class Currency(models.TextChoices):
    KGS = "KGS", _("Kyrgyzstani som")
    USD = "USD", _("US dollar")


@dataclass(frozen=True)
class MarketConfig:
    code: str
    name: str
    country_code: int  # international dialling code
    currency: str
    time_zone: ZoneInfo
    languages: tuple[str, ...]  # the first is the default
    region: str  # ISO 3166 region whose national phone format a customer may type
    phone_example: str

    @property
    def phone_prefix(self) -> str:
        return f"+{self.country_code}"

    @property
    def default_language(self) -> str:
        return self.languages[0]


MARKETS: dict[str, MarketConfig] = {
    Market.KG: MarketConfig(
        code=Market.KG,
        name="Kyrgyzstan",
        country_code=996,
        currency=Currency.KGS,
        time_zone=ZoneInfo("Asia/Bishkek"),
        languages=("ru", "ky", "en"),
        region="KG",
        phone_example="+996 700 123 456",
    ),
    Market.US: MarketConfig(
        code=Market.US,
        name="United States",
        country_code=1,
        currency=Currency.USD,
        time_zone=ZoneInfo("America/New_York"),
        languages=("en",),
        region="US",
        phone_example="+1 212 555 0101",
    ),
}

_MARKET_BY_COUNTRY_CODE = {config.country_code: code for code, config in MARKETS.items()}


def market_config(market: str) -> MarketConfig:
    return MARKETS[Market(market)]


@dataclass(frozen=True)
class ShippingRule:
    """A market's shipping, in its currency: a flat `cost`, nothing from `free_from` on."""

    cost: Decimal
    free_from: Decimal

    def cost_for(self, subtotal: Decimal) -> Decimal:
        """What checkout charges for goods worth `subtotal` (nothing for an empty cart)."""
        if subtotal <= 0 or subtotal >= self.free_from:
            return Decimal("0.00")
        return self.cost.quantize(CENT)

    def left_to_free(self, subtotal: Decimal) -> Decimal:
        """How much more would ship free (0 once it does)."""
        return max(self.free_from - subtotal, Decimal(0)).quantize(CENT)


def shipping_rule(market: str) -> ShippingRule:
    """The market's shipping rule (settings `SHIPPING_COST_*`, `SHIPPING_FREE_FROM_*`)."""
    rule = settings.SHIPPING[Market(market)]
    return ShippingRule(
        cost=Decimal(rule["cost"]).quantize(CENT),
        free_from=Decimal(rule["free_from"]).quantize(CENT),
    )


class InvalidPhone(InvalidInput):
    default_detail = "Enter a valid phone number, e.g. +996 700 123 456 or +1 212 555 0101."


class UnsupportedMarket(ApplicationError):
    status_code = 400
    code = "unsupported_market"
    default_detail = "Only Kyrgyzstan (+996) and United States (+1) phone numbers are supported."


class MarketMismatch(ApplicationError):
    """Something of one market used with another (orders and carts belong to one market)."""

    status_code = 400
    code = "market_mismatch"
    default_detail = "This belongs to another market."


class PhoneNotMobile(ApplicationError):
    """A valid number of a market that cannot take an SMS code (landline, premium, toll-free…)."""

    status_code = 400
    code = "phone_not_mobile"
    default_detail = "This number cannot receive SMS codes. Enter a mobile number."


class InvalidMarket(ApplicationError):
    status_code = 400
    code = "invalid_market"
    default_detail = "Unknown market. Use one of: KG, US."


@dataclass(frozen=True)
class ParsedPhone:
    e164: str
    market: str
    number_type: int  # a `phonenumbers.PhoneNumberType` value


# Number types that can receive a one-time SMS code. In NANP (+1) mobile and
# fixed numbers share the same ranges, so `phonenumbers` can only say
# FIXED_LINE_OR_MOBILE there; elsewhere (KG) it knows mobile from landline.
# Everything else (premium rate, toll free, shared cost, VoIP, personal, UAN,
# pager, voicemail, fixed line, unknown) is refused: SMS pumping targets such
# ranges, and a landline cannot read the code anyway.
_NANP_COUNTRY_CODE = 1


def phone_can_receive_sms(parsed: ParsedPhone) -> bool:
    """Whether an SMS code may be sent to `parsed` (the one rule; see docs/MARKETS.md)."""
    if parsed.number_type == phonenumbers.PhoneNumberType.MOBILE:
        return True
    return (
        parsed.number_type == phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
        and market_config(parsed.market).country_code == _NANP_COUNTRY_CODE
    )


def _phone_message(error: type[ApplicationError], market: str | None) -> str:
    """The error's message, with an example number of the market the customer is in."""
    if market is None or error is UnsupportedMarket:
        return str(error.default_detail)
    example = market_config(market).phone_example
    if error is PhoneNotMobile:
        return f"{PhoneNotMobile.default_detail[:-1]}, e.g. {example}."
    return f"Enter a valid phone number, e.g. {example}."


def _parse_number(text: str, market: str | None) -> phonenumbers.PhoneNumber | None:
    """A valid number from cleaned input: national format of `market` first, then international."""
    international = text.startswith(("+", "00"))
    if market is not None and not international:
        try:
            number = phonenumbers.parse(text, market_config(market).region)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return number
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text and not international:
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def parse_phone(
    raw: str, *, field: str = "phone", for_sms: bool = False, market: str | None = None
) -> ParsedPhone:
    """Normalise a phone number to E.164 and find its market.

    International numbers ("+996…", "00996…" or "996…") always parse. With
    `market` (the market the customer is in), that market's national format
    parses too: "0700 123 456" in KG, "(212) 555-0101" in US. Spaces, dashes,
    dots and brackets are ignored; only ASCII digits count. Raises
    `InvalidPhone` for a number that is not a valid phone number (its message
    shows an example of `market`), and `UnsupportedMarket` for a valid number
    of a country MARQUE does not sell in (for +1: anything outside the United
    States itself). With `for_sms` (a number an SMS code will be sent to) it
    then raises `PhoneNotMobile` unless `phone_can_receive_sms()` accepts it.
    """
    text = "".join(ch for ch in str(raw or "") if ch in "0123456789+")
    number = _parse_number(text, market)
    if number is None:
        message = _phone_message(InvalidPhone, market)
        raise InvalidPhone(message, errors={field: [message]})
    found = _MARKET_BY_COUNTRY_CODE.get(number.country_code)
    # +1 is shared by about 20 countries (Canada, the Caribbean): only the US
    # itself is a market, which also keeps SMS away from toll-fraud destinations.
    if found == Market.US and phonenumbers.region_code_for_number(number) != "US":
        found = None
    if found is None:
        raise UnsupportedMarket(errors={field: [UnsupportedMarket.default_detail]})
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    parsed = ParsedPhone(e164=e164, market=found, number_type=phonenumbers.number_type(number))
    if for_sms and not phone_can_receive_sms(parsed):
        message = _phone_message(PhoneNotMobile, market or found)
        raise PhoneNotMobile(message, errors={field: [message]})
    return parsed


def parse_market(raw: str | None) -> str:
    """A market code from user input ("kg", " US "); `InvalidMarket` otherwise."""
    value = (raw or "").strip().upper()
    if value not in Market.values:
        raise InvalidMarket()
    return value
