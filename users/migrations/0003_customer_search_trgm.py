"""PostgreSQL only: trigram GIN indexes for finding customers by part of a name or phone.

The manager's order search (`store_manager.selectors.orders`) matches customers with
`icontains` on first and last name and `contains` on the phone; these expression
indexes serve exactly those predicates. On any other database this does nothing.
"""

from django.db import migrations

from main.migration_operations import trigram_indexes

INDEXES = (
    ("user_first_name_trgm_idx", "(upper((first_name)::text)) gin_trgm_ops"),
    ("user_last_name_trgm_idx", "(upper((last_name)::text)) gin_trgm_ops"),
    ("user_phone_trgm_idx", "phone gin_trgm_ops"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_verification_code_phone_change_purpose"),
        ("products", "0003_catalogue_search_trgm"),
    ]

    operations = [
        trigram_indexes("users_user", INDEXES),
    ]
