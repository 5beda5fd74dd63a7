from django.core.management.base import BaseCommand
from django.db import transaction

from users.demo import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_PHONE, seed_admin


class Command(BaseCommand):
    help = "Build the demo store. Safe to run again: existing demo rows are kept as they are."

    def add_arguments(self, parser):
        parser.add_argument("--small", action="store_true", help="A tiny data set (tests).")

    @transaction.atomic
    def handle(self, *args, **options):
        seed_admin()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo store ready. Admin: {DEMO_ADMIN_PHONE} / {DEMO_ADMIN_PASSWORD}"
            )
        )
