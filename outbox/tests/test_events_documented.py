"""docs/EVENTS.md lists exactly the events and subscribers the running code has."""

from __future__ import annotations

import re
from pathlib import Path

from outbox.events import registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md"
ROW = re.compile(r"^\| `([a-z_.]+)` \| `[^`]+` \| [^|]+ \| `([a-z_.]+)` \|", re.M)


def test_the_events_table_is_the_registry():
    documented = set(ROW.findall(DOC.read_text()))
    running = {(event.name, task) for event in registry().values() for task in event.subscribers}
    assert running, "no subscriber registered: the apps' ready() did not run"
    assert documented == running


def test_every_declared_event_has_a_subscriber():
    assert all(event.subscribers for event in registry().values())
