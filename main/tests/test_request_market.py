import pytest

from conftest import authenticate

pytestmark = pytest.mark.django_db

URL = "/api/v1/markets/"


def test_anonymous_request_falls_back_to_default_market(api_client, settings):
    assert api_client.get(URL).json()["current"] == "KG"
    settings.DEFAULT_MARKET = "US"
    assert api_client.get(URL).json()["current"] == "US"


def test_anonymous_request_names_its_market_by_header_or_query(api_client):
    assert api_client.get(URL, HTTP_X_MARKET="us").json()["current"] == "US"
    assert api_client.get(URL, {"market": "US"}).json()["current"] == "US"


def test_header_wins_over_query(api_client):
    assert api_client.get(URL, {"market": "KG"}, HTTP_X_MARKET="US").json()["current"] == "US"


@pytest.mark.parametrize(("header", "query"), [("RU", None), ("ALL", None), (None, "mars")])
def test_invalid_market_is_400_not_a_silent_fallback(api_client, header, query):
    extra = {"HTTP_X_MARKET": header} if header else {}
    response = api_client.get(URL, {"market": query} if query else {}, **extra)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_market"


def test_signed_in_customer_market_wins_over_header_and_query(api_client, us_customer):
    authenticate(api_client, us_customer)
    response = api_client.get(URL, {"market": "KG"}, HTTP_X_MARKET="KG")
    assert response.json()["current"] == "US"
    # Even a nonsense header is ignored: the user's market is not in question.
    assert api_client.get(URL, HTTP_X_MARKET="nonsense").json()["current"] == "US"


def test_markets_endpoint_lists_both_markets(api_client):
    markets = {m["code"]: m for m in api_client.get(URL).json()["markets"]}
    assert markets["KG"]["currency"] == "KGS" and markets["US"]["currency"] == "USD"
    assert markets["KG"]["time_zone"] == "Asia/Bishkek"
