"""Markets: the one module that knows what KG and US mean (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import phonenumbers
from django.db import models
from django.utils.translation import gettext_lazy as _

from main.exceptions import ApplicationError


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
    ),
    Market.US: MarketConfig(
        code=Market.US,
        name="United States",
        country_code=1,
        currency=Currency.USD,
        time_zone=ZoneInfo("America/New_York"),
        languages=("en",),
    ),
}

_MARKET_BY_COUNTRY_CODE = {config.country_code: code for code, config in MARKETS.items()}


def market_config(market: str) -> MarketConfig:
    return MARKETS[Market(market)]


class InvalidPhone(ApplicationError):
    status_code = 400
    code = "invalid"
    default_detail = "Enter a valid phone number in international format, e.g. +996700123456."


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
    default_detail = (
        "This number cannot receive SMS codes. Enter a mobile number, e.g. +996700123456."
    )


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


def parse_phone(raw: str, *, field: str = "phone", for_sms: bool = False) -> ParsedPhone:
    """Normalise a phone number to E.164 and find its market.

    Numbers must be international ("+996…", "00996…" or "996…"); spaces,
    dashes and brackets are ignored; only ASCII digits count. Raises
    `InvalidPhone` for a number that is not a valid phone number and
    `UnsupportedMarket` for a valid number of a country MARQUE does not sell
    in (for +1: anything outside the United States itself). With `for_sms`
    (a number an SMS code will be sent to) it then raises `PhoneNotMobile`
    unless `phone_can_receive_sms()` accepts the number.
    """
    text = "".join(ch for ch in str(raw or "") if ch in "0123456789+")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text and not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhone(errors={field: [InvalidPhone.default_detail]})
    market = _MARKET_BY_COUNTRY_CODE.get(number.country_code)
    # +1 is shared by about 20 countries (Canada, the Caribbean): only the US
    # itself is a market, which also keeps SMS away from toll-fraud destinations.
    if market == Market.US and phonenumbers.region_code_for_number(number) != "US":
        market = None
    if market is None:
        raise UnsupportedMarket(errors={field: [UnsupportedMarket.default_detail]})
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    parsed = ParsedPhone(e164=e164, market=market, number_type=phonenumbers.number_type(number))
    if for_sms and not phone_can_receive_sms(parsed):
        raise PhoneNotMobile(errors={field: [PhoneNotMobile.default_detail]})
    return parsed


def parse_market(raw: str | None) -> str:
    """A market code from user input ("kg", " US "); `InvalidMarket` otherwise."""
    value = (raw or "").strip().upper()
    if value not in Market.values:
        raise InvalidMarket()
    return value
