"""`manage.py listing_rebuild`: the catalogue's read model again from the source tables."""

from django.core.management.base import BaseCommand
from django.db import transaction

from main.http_cache import catalogue_cache_invalidate_on_commit
from products.services.listing import listing_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the catalogue's read model (Listing, ListingFacet) from products, prices, SKUs "
        "and images, in one transaction, and invalidate the catalogue cache. Needed only after "
        "rows were written around the models (loaddata, raw SQL); every model save keeps it."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            rows = listing_rebuild()
            catalogue_cache_invalidate_on_commit()
        self.stdout.write(f"Rebuilt {rows} listing rows.")
