"""One catalogue of error codes: every exception and docs/API.md agree with it."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from main.errors import CATALOGUE, markdown_table
from main.exceptions import _DRF_CODES, ApplicationError

ROOT = Path(__file__).resolve().parents[2]
APPS = ("main", "outbox", "users", "products", "banners", "orders", "reviews", "store_manager")


def _import_every_module() -> None:
    for app in APPS:
        package = importlib.import_module(app)
        for module in pkgutil.walk_packages(package.__path__, f"{app}."):
            name = module.name
            if ".tests" in name or ".migrations" in name or name.startswith("main.settings"):
                continue
            importlib.import_module(name)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _project_error_classes() -> list[type[ApplicationError]]:
    _import_every_module()
    return [c for c in _subclasses(ApplicationError) if c.__module__.split(".")[0] in APPS]


def test_the_scan_finds_the_error_classes():
    assert len(_project_error_classes()) > 30


@pytest.mark.parametrize("cls", _project_error_classes(), ids=lambda c: c.__qualname__)
def test_every_error_class_has_a_catalogued_code_and_status(cls):
    assert cls.code in CATALOGUE, f"{cls.__qualname__}: add {cls.code!r} to main/errors.py"
    assert CATALOGUE[cls.code].status == cls.status_code


def test_drf_errors_have_catalogued_codes_and_statuses():
    for exception, code in _DRF_CODES:
        assert CATALOGUE[code].status == exception.status_code, code


def test_inline_codes_are_catalogued():
    """`ApplicationError(..., code="x")` and JSON error bodies written by hand."""
    literals = set()
    for app in (*APPS, "gunicorn_config.py"):
        paths = [ROOT / app] if app.endswith(".py") else (ROOT / app).rglob("*.py")
        for path in paths:
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            if path.name == "fake_stripe.py":  # speaks Stripe's error codes, not ours
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.keyword)
                    and node.arg == "code"
                    and isinstance(node.value, ast.Constant)
                ):
                    literals.add(node.value.value)
                if isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        if (
                            isinstance(key, ast.Constant)
                            and key.value == "code"
                            and isinstance(value, ast.Constant)
                        ):
                            literals.add(value.value)
    assert literals, "the scan found no inline code"
    assert literals - set(CATALOGUE) == set()


def test_docs_api_table_is_the_catalogue():
    text = (ROOT / "docs" / "API.md").read_text()
    found = re.search(
        r"<!-- error-catalogue:start -->\n(.*?)<!-- error-catalogue:end -->", text, re.S
    )
    assert found, "docs/API.md lost its error-catalogue markers"
    assert found.group(1) == markdown_table(), "regenerate it: python -m main.errors"
