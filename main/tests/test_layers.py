"""Imports flow one way (`.importlinter`), and no import hides inside a function.

lint-imports sees every import, in a function or not, so a wrong-way import
fails `make lint` wherever it is written. This test keeps the other half of the
rule: imports of project modules sit at the top of the module, where a reader
sees what a module depends on. The one exception is `AppConfig.ready()`, where
Django wants imports that need the app registry (subscribing to events,
connecting signals).
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# The project's own apps, from the settings: a new app is checked without editing this.
APPS = ("main", *(app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()))


def _function_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name == "ready":
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom):
                names = [inner.module or ""]
            elif isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}:{inner.lineno} in {node.name}(): {name}"
                for name in names
                if name.split(".")[0] in APPS
            ]
    return found


def test_project_imports_are_at_module_level():
    sources = [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts
    ]
    assert len(sources) > 50
    hidden = [line for path in sources for line in _function_imports(path)]
    assert hidden == []


def test_the_contract_names_every_app():
    config = (ROOT / ".importlinter").read_text()
    assert all(f"    {app}\n" in config for app in APPS)
