import pytest
from phonenumbers import PhoneNumberType

from main.exceptions import ApplicationError
from main.markets import (
    MARKETS,
    Market,
    ParsedPhone,
    market_config,
    parse_market,
    parse_phone,
    phone_can_receive_sms,
)


@pytest.mark.parametrize(
    ("raw", "e164", "market"),
    [
        ("+996700123456", "+996700123456", Market.KG),
        ("+996 700 12-34-56", "+996700123456", Market.KG),
        ("00996555123456", "+996555123456", Market.KG),
        ("996 (555) 123456", "+996555123456", Market.KG),
        ("+1 (202) 555-0143", "+12025550143", Market.US),
        ("+12125551234", "+12125551234", Market.US),
    ],
)
def test_phone_is_normalised_to_e164_and_gives_the_market(raw, e164, market):
    parsed = parse_phone(raw)
    assert parsed.e164 == e164
    assert parsed.market == market


@pytest.mark.parametrize(
    "raw", ["+79161234567", "+447911123456", "+8613800138000", "+14165550123", "+18762345678"]
)
def test_phone_of_another_country_is_an_unsupported_market(raw):
    with pytest.raises(ApplicationError) as excinfo:
        parse_phone(raw)
    assert excinfo.value.code == "unsupported_market"
    assert excinfo.value.status_code == 400
    assert "phone" in excinfo.value.errors


ARABIC_INDIC_700 = "\u0667\u0660\u0660"  # "700" in non-ASCII digits


@pytest.mark.parametrize(
    "raw", ["", "hello", "+996", "+99670012", "0700123456", None, f"+996{ARABIC_INDIC_700}123456"]
)
def test_malformed_phone_is_invalid(raw):
    with pytest.raises(ApplicationError) as excinfo:
        parse_phone(raw)
    assert excinfo.value.code == "invalid"


@pytest.mark.parametrize(
    "raw", ["+996700123456", "+996555123456", "+996770123456", "+12025550143", "+12125551234"]
)
def test_mobile_numbers_can_receive_an_sms_code(raw):
    parsed = parse_phone(raw, for_sms=True)
    assert phone_can_receive_sms(parsed)


@pytest.mark.parametrize(
    "raw",
    [
        "+19005550123",  # US premium rate
        "+18005550199",  # US toll free
        "+15002345678",  # US personal number
        "+996312123456",  # KG landline (Bishkek)
        "+996800123456",  # KG toll free
    ],
)
def test_numbers_that_are_not_mobile_cannot_receive_an_sms_code(raw):
    with pytest.raises(ApplicationError) as excinfo:
        parse_phone(raw, for_sms=True)
    assert excinfo.value.code == "phone_not_mobile"
    assert excinfo.value.status_code == 400
    assert list(excinfo.value.errors) == ["phone"]
    # Without `for_sms` (delivery addresses, admin, search) the number still parses.
    assert not phone_can_receive_sms(parse_phone(raw))


@pytest.mark.parametrize(
    ("market", "number_type", "accepted"),
    [
        (Market.KG, PhoneNumberType.MOBILE, True),
        (Market.US, PhoneNumberType.MOBILE, True),
        (Market.US, PhoneNumberType.FIXED_LINE_OR_MOBILE, True),
        # Outside NANP the plan tells mobile from fixed: "either" is not good enough.
        (Market.KG, PhoneNumberType.FIXED_LINE_OR_MOBILE, False),
        (Market.KG, PhoneNumberType.FIXED_LINE, False),
        (Market.US, PhoneNumberType.FIXED_LINE, False),
        (Market.US, PhoneNumberType.PREMIUM_RATE, False),
        (Market.US, PhoneNumberType.TOLL_FREE, False),
        (Market.US, PhoneNumberType.SHARED_COST, False),
        (Market.US, PhoneNumberType.VOIP, False),
        (Market.US, PhoneNumberType.PERSONAL_NUMBER, False),
        (Market.US, PhoneNumberType.UAN, False),
        (Market.US, PhoneNumberType.PAGER, False),
        (Market.US, PhoneNumberType.VOICEMAIL, False),
        (Market.KG, PhoneNumberType.UNKNOWN, False),
        (Market.US, PhoneNumberType.UNKNOWN, False),
    ],
)
def test_phone_can_receive_sms_by_number_type(market, number_type, accepted):
    parsed = ParsedPhone(e164="+0", market=market, number_type=number_type)
    assert phone_can_receive_sms(parsed) is accepted


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("+99631", "invalid"),  # too short: still `invalid`, not `phone_not_mobile`
        ("+14165550123", "unsupported_market"),  # Canada
        ("+18762345678", "unsupported_market"),  # Jamaica
        ("+447911123456", "unsupported_market"),  # a UK mobile
    ],
)
def test_invalid_and_unsupported_numbers_keep_their_errors_for_sms(raw, code):
    with pytest.raises(ApplicationError) as excinfo:
        parse_phone(raw, for_sms=True)
    assert excinfo.value.code == code


def test_market_facts_match_the_spec():
    kg, us = market_config("KG"), market_config("US")
    assert (kg.currency, kg.time_zone.key, kg.languages, kg.phone_prefix) == (
        "KGS",
        "Asia/Bishkek",
        ("ru", "ky", "en"),
        "+996",
    )
    assert (us.currency, us.time_zone.key, us.languages, us.phone_prefix) == (
        "USD",
        "America/New_York",
        ("en",),
        "+1",
    )
    assert set(MARKETS) == {"KG", "US"}


@pytest.mark.parametrize(("raw", "expected"), [("kg", "KG"), (" US ", "US")])
def test_parse_market_accepts_any_case(raw, expected):
    assert parse_market(raw) == expected


@pytest.mark.parametrize("raw", ["ALL", "RU", "", "k g"])
def test_parse_market_refuses_unknown_values(raw):
    with pytest.raises(ApplicationError) as excinfo:
        parse_market(raw)
    assert excinfo.value.code == "invalid_market"
