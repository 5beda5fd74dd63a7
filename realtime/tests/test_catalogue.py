"""docs/REALTIME.md and the schema show the frames realtime/catalogue.py lists, no more, no less."""

from __future__ import annotations

import re
from pathlib import Path

from realtime.catalogue import FRAMES

DOC = Path(__file__).resolve().parents[2] / "docs" / "REALTIME.md"


def _documented() -> set[tuple[str, tuple[str, ...]]]:
    text = DOC.read_text()
    table = text.split("## Every event, its payload and who receives it", 1)[1]
    rows = set()
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        data = re.sub(r"\([^)]*\)", "", cells[1])  # "(units left)", "(`cancelled`)"
        rows.add((cells[0].strip("`"), tuple(re.findall(r"`([a-z_]+)`", data))))
    return rows


def test_the_docs_table_lists_every_frame_with_its_fields():
    assert _documented() == {(spec.type, spec.fields) for spec in FRAMES}


def test_the_ticket_endpoint_documents_every_frame_in_the_schema(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    description = schema["paths"]["/api/v1/realtime/ticket/"]["post"]["description"]
    for spec in FRAMES:
        assert f"| `{spec.type}` |" in description
        assert all(f"`{field}`" in description for field in spec.fields)
    assert "docs/REALTIME.md" in description
