"""PostgreSQL only: pg_trgm and trigram GIN indexes for catalogue search.

On any other database (SQLite in development and tests) this migration does
nothing, so `migrate` works everywhere. The indexes serve both the ILIKE
containment filters and the `trigram_word_similar` lookups of products/filters.py.
"""

from django.db import migrations

INDEXES = (
    ("product_name_trgm_idx", "name"),
    ("product_brand_trgm_idx", "brand"),
    ("product_description_trgm_idx", "description"),
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON products_product "
            f"USING gin ({column} gin_trgm_ops)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    # The extension stays: other objects may depend on it.


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0002_initial"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
