"""The OpenAPI schema documents every answer (main/schema.py, docs/API.md "The schema").

Read from the generated schema itself, as a client generator reads it: every
operation has a summary and its error statuses (codes from main/errors.py),
every property a type, currencies and markets are enums, money has real
examples, and the headers and path parameters are the ones the views read.
"""

from __future__ import annotations

import re

import pytest
import uritemplate
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator

from main.errors import CATALOGUE, codes_for
from main.http_cache import HttpCacheMixin
from main.request_market import MarketContextMixin

METHODS = ("get", "post", "put", "patch", "delete")
# Properties that are a change in percent besides `*change_percent`: the only signed decimals.
CHANGES = {
    "ManagerChangeOutput": ("revenue", "orders_count", "average_order_value", "items_sold"),
}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def enum_values(schema: dict, node: dict) -> set | None:
    """The values of an enum property ($ref, allOf or a oneOf of enums), else None."""
    node = resolve(schema, node)
    if "enum" in node:
        return set(node["enum"])
    parts = node.get("allOf") or node.get("oneOf") or node.get("anyOf")
    if parts:
        values = [enum_values(schema, part) for part in parts]
        if all(v is not None for v in values):
            return set().union(*values)
    return None


def _shape(path: str) -> str:
    return re.sub(r"\{\w+\}", "{}", path)  # the schema says {id} where the route says {pk}


def view_classes() -> dict[tuple[str, str], type]:
    """(path shape, method) → the view class that answers it."""
    return {
        (_shape(path), method.lower()): callback.cls
        for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints()
    }


def statuses(operation: dict) -> set[int]:
    return {int(code) for code in operation["responses"]}


def test_every_operation_has_a_summary(schema):
    missing = [
        operation["operationId"]
        for _path, _method, operation in operations(schema)
        if not operation.get("summary")
    ]
    assert not missing


def test_every_operation_documents_503_with_retry_after(schema):
    for _path, _method, operation in operations(schema):
        response = operation["responses"].get("503")
        assert response, operation["operationId"]
        assert "Retry-After" in response.get("headers", {}), operation["operationId"]


def test_error_statuses_follow_what_the_operation_takes(schema):
    """400 with a body or a filter, 401 with a token, 404 with a path parameter or a page."""
    wrong = []
    for path, _method, operation in operations(schema):
        documented = statuses(operation)
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"}
        expected = set()
        if "requestBody" in operation:
            expected |= {400, 413, 415}
        if query - {"page", "page_size"}:
            expected.add(400)
        if any("jwtAuth" in requirement for requirement in operation.get("security", [])):
            expected.add(401)
        if uritemplate.variables(path) or "page" in query:
            expected.add(404)
        if path.startswith("/api/v1/manager/"):  # the manager base view's own checks
            expected |= {401, 403}
        if expected - documented:
            wrong.append((operation["operationId"], sorted(expected - documented)))
    assert not wrong


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/api/v1/orders/", "post", {409, 422}),
        ("/api/v1/orders/{order_number}/cancel/", "post", {409}),
        ("/api/v1/cart/items/", "post", {409}),
        ("/api/v1/reviews/", "post", {403, 409}),
        ("/api/v1/auth/token/refresh/", "post", {401}),
        ("/api/v1/auth/otp/request/", "post", {429}),
        ("/api/v1/banners/{id}/click/", "post", {429}),
        ("/api/v1/manager/orders/bulk-status/", "post", {404, 409}),
    ],
)
def test_business_statuses_are_documented(schema, path, method, expected):
    operation = schema["paths"][path][method]
    assert expected <= statuses(operation)
    if 429 in expected:
        assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_error_codes_are_the_catalogue_of_their_status(schema):
    checked = 0
    for _path, _method, operation in operations(schema):
        for code, response in operation["responses"].items():
            if int(code) < 400:
                continue
            body = response["content"]["application/json"]["schema"]
            properties = resolve(schema, body)["properties"]
            assert enum_values(schema, properties["code"]) == set(codes_for(int(code)))
            checked += 1
    assert checked
    shared = schema["components"]["schemas"]["Error"]["properties"]["code"]
    assert enum_values(schema, shared) == set(CATALOGUE)


def _untyped(schema: dict, node, where: str, found: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _untyped(schema, item, where, found)
        return
    if not isinstance(node, dict):
        return
    for name, prop in node.get("properties", {}).items():
        if not any(key in prop for key in ("type", "$ref", "allOf", "oneOf", "anyOf", "enum")):
            found.append(f"{where}.{name}")
    if node.get("additionalProperties") in ({}, True):
        found.append(f"{where} (additionalProperties)")
    if node.get("type") == "array" and not node.get("items"):
        found.append(f"{where} (items)")
    for key, value in node.items():
        _untyped(schema, value, f"{where}.{key}" if key != "properties" else where, found)


def test_no_property_without_a_type(schema):
    found: list[str] = []
    _untyped(schema, schema["components"]["schemas"], "components", found)
    _untyped(schema, schema["paths"], "paths", found)
    assert not found


def test_currency_and_market_are_enums(schema):
    plain = []
    for name, component in schema["components"]["schemas"].items():
        for prop_name, prop in component.get("properties", {}).items():
            if prop_name in ("currency", "market") and enum_values(schema, prop) is None:
                plain.append(f"{name}.{prop_name}")
    assert not plain
    currency = schema["components"]["schemas"]["CurrencyEnum"]["enum"]
    assert set(currency) == {"KGS", "USD"}


def test_money_has_a_real_pattern_and_example(schema):
    """Decimal strings: "1290.00", never "-" or a negative amount unless the value is a change."""
    for name, component in schema["components"]["schemas"].items():
        for prop_name, prop in component.get("properties", {}).items():
            if prop.get("format") != "decimal":
                continue
            where = f"{name}.{prop_name}"
            example, pattern = prop.get("example"), prop.get("pattern")
            assert example and pattern, where
            assert re.fullmatch(r"\d+\.\d{2}", example), where
            assert re.search(pattern, example), where
            assert not re.search(pattern, "-"), where
            signed = re.search(pattern, "-" + example) is not None
            assert signed == prop_name.endswith(("change_percent", *CHANGES.get(name, ()))), where


def test_market_aware_operations_document_x_market(schema):
    views = view_classes()
    missing = []
    for path, method, operation in operations(schema):
        if not issubclass(views[_shape(path), method], MarketContextMixin):
            continue
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        market = next((p for p in headers if p["name"] == "X-Market"), None)
        if market is None or set(market["schema"].get("enum", ())) != {"KG", "US"}:
            missing.append(operation["operationId"])
    assert not missing
    checkout = schema["paths"]["/api/v1/orders/"]["post"]
    names = {p["name"] for p in checkout["parameters"] if p["in"] == "header"}
    assert {"X-Market", "Idempotency-Key", "Accept-Language"} <= names


def test_cached_catalogue_reads_document_if_none_match_and_304(schema):
    views = view_classes()
    cached = [
        (path, operation)
        for path, method, operation in operations(schema)
        if method == "get" and issubclass(views[_shape(path), method], HttpCacheMixin)
    ]
    assert cached
    for _path, operation in cached:
        names = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert "If-None-Match" in names, operation["operationId"]
        assert "304" in operation["responses"], operation["operationId"]
        assert "ETag" in operation["responses"]["200"]["headers"], operation["operationId"]


def test_path_parameters_are_exactly_the_paths_own(schema):
    wrong = []
    for path, _method, operation in operations(schema):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        if sorted(names) != sorted(uritemplate.variables(path)):
            wrong.append((operation["operationId"], names))
    assert not wrong


def test_catalogue_filters_are_typed(schema):
    from products.filters import ORDERINGS

    parameters = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/products/"]["get"]["parameters"]
    }
    assert parameters["in_stock"]["type"] == "boolean"
    assert parameters["is_featured"]["type"] == "boolean"
    assert set(parameters["ordering"]["enum"]) == set(ORDERINGS)
    assert parameters["min_price"]["pattern"] and parameters["max_price"]["pattern"]
