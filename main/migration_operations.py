"""Operations shared by hand-written migrations."""

from __future__ import annotations

from django.db import migrations


def trigram_indexes(table: str, indexes: tuple[tuple[str, str], ...]) -> migrations.RunPython:
    """Create GIN trigram indexes (name, indexed expression) on `table`, on PostgreSQL only.

    Other databases (SQLite in development and tests) get nothing, so `migrate`
    works everywhere. The pg_trgm extension is created if missing and kept on
    reverse (other objects may depend on it).
    """

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, expression in indexes:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})"
            )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, _expression in indexes:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")

    return migrations.RunPython(forwards, backwards)
