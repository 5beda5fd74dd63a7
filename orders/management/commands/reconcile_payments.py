"""`manage.py reconcile_payments --from 2026-11-01 --to 2026-11-25`: fetch payments, heal them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError

from orders.services.payment_events import payments_reconcile


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from exc


class Command(BaseCommand):
    help = (
        "Fetch from the payment provider every payment created between --from and --to (UTC "
        "dates, both included) that is not cancelled, and apply what the provider says, as if "
        "its webhook had arrived (a lost webhook heals). Without dates: what the beat task does, "
        "the payments whose webhook is overdue. Idempotent: safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", type=_date)
        parser.add_argument("--to", dest="date_to", type=_date)

    def handle(self, *args, date_from=None, date_to=None, **options):
        if (date_from is None) != (date_to is None):
            raise CommandError("Give both --from and --to, or neither.")
        if date_from is not None and date_to < date_from:
            raise CommandError("--from is after --to.")
        start = end = None
        if date_from is not None:
            start = datetime.combine(date_from, time.min, tzinfo=UTC)
            end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)
        counts = payments_reconcile(created_from=start, created_to=end)
        self.stdout.write(
            f"Checked {counts['checked']} payment(s) with the provider; "
            f"{counts['moved']} changed status."
        )
