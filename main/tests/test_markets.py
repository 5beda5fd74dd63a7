import pytest

from main.exceptions import ApplicationError
from main.markets import MARKETS, Market, market_config, parse_market, parse_phone


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
