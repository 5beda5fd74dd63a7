"""PostgreSQL only: trigram GIN indexes for the manager's free-text order search.

`store_manager.selectors.orders` matches words with `icontains` (UPPER(col::text) LIKE
UPPER('%word%')) on the order number and recipient, and `contains` on the
shipping phone; these expression indexes serve exactly those predicates. On any
other database this migration does nothing.
"""

from django.db import migrations

from main.migration_operations import trigram_indexes

INDEXES = (
    ("order_number_trgm_idx", "(upper((order_number)::text)) gin_trgm_ops"),
    ("order_recipient_trgm_idx", "(upper((shipping_recipient)::text)) gin_trgm_ops"),
    ("order_shipping_phone_trgm_idx", "shipping_phone gin_trgm_ops"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_idempotency_key"),
        ("products", "0003_catalogue_search_trgm"),
    ]

    operations = [
        trigram_indexes("orders_order", INDEXES),
    ]
