"""PostgreSQL only: pg_trgm and trigram GIN indexes for catalogue search.

On any other database (SQLite in development and tests) this migration does
nothing, so `migrate` works everywhere. The indexes serve both the ILIKE
containment filters and the `trigram_word_similar` lookups of products/filters.py.
"""

from django.db import migrations

from main.migration_operations import trigram_indexes

INDEXES = (
    ("product_name_trgm_idx", "name gin_trgm_ops"),
    ("product_brand_trgm_idx", "brand gin_trgm_ops"),
    ("product_description_trgm_idx", "description gin_trgm_ops"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0002_initial"),
    ]

    operations = [
        trigram_indexes("products_product", INDEXES),
    ]
