"""PostgreSQL only: trigram GIN indexes for the manager's free-text order search.

`store_manager.selectors` matches words with `icontains` (UPPER(col::text) LIKE
UPPER('%word%')) on the order number and recipient, and `contains` on the
shipping phone; these expression indexes serve exactly those predicates. On any
other database this migration does nothing.
"""

from django.db import migrations

INDEXES = (
    ("order_number_trgm_idx", "(upper((order_number)::text)) gin_trgm_ops"),
    ("order_recipient_trgm_idx", "(upper((shipping_recipient)::text)) gin_trgm_ops"),
    ("order_shipping_phone_trgm_idx", "shipping_phone gin_trgm_ops"),
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON orders_order USING gin ({expression})"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _expression in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_idempotency_key"),
        ("products", "0003_catalogue_search_trgm"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
