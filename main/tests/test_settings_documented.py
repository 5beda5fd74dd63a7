"""Every setting read from the environment is in the README table and in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READS = re.compile(
    r"""(?:env_(?:str|int|bool|list|decimal|required)\(\s*|environ\.get\(\s*|getenv\(\s*)"""
    r"""["']([A-Z][A-Z0-9_]+)["']"""
)
# The test settings read only the runner's own variables (PYTEST_XDIST_WORKER).
SOURCES = [
    *sorted(p for p in (ROOT / "main" / "settings").glob("*.py") if p.name != "test.py"),
    ROOT / "gunicorn_config.py",
]


# …and the Procfile's commands read `${NAME:-default}` from the environment.
PROCFILE_READS = re.compile(r"\$\{([A-Z][A-Z0-9_]+)")


def _variables() -> set[str]:
    found: set[str] = set()
    for source in SOURCES:
        if source.exists():
            found |= set(READS.findall(source.read_text()))
    found |= set(PROCFILE_READS.findall((ROOT / "Procfile").read_text()))
    return found


def test_the_scan_finds_the_settings():
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "OUTBOX_RELAY_GRACE_SECONDS"} <= _variables()
    assert {"ASGI_PORT", "CELERY_BEAT_SCHEDULE_FILE"} <= _variables()  # from the Procfile


@pytest.mark.parametrize("name", sorted(_variables()))
def test_setting_is_documented(name):
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    assert f"`{name}`" in readme, f"{name}: add it to the README configuration table"
    assert re.search(rf"^#?\s*{name}=", example, re.M), f"{name}: add it to .env.example"


def test_no_gunicorn_conf_py_that_other_gunicorns_would_load():
    """gunicorn loads ./gunicorn.conf.py by itself: the peer benchmark's would load ours."""
    assert not (ROOT / "gunicorn.conf.py").exists()
    assert (ROOT / "gunicorn_config.py").exists()
