from __future__ import annotations

import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from main.markets import Market
from store_manager.analytics import PERIODS
from store_manager.services.snapshots import snapshots_rebuild

BAR_WIDTH = 30
# Dates a shop can have orders on; far outside them the period arithmetic
# overflows Python's date range (year 1..9999).
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def _date(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from exc
    if not EARLIEST <= day <= LATEST:
        raise CommandError(f"{value} is outside {EARLIEST}..{LATEST}.")
    return day


class Command(BaseCommand):
    help = (
        "Recompute revenue snapshots for the local dates --from..--to (both included) in each "
        "market's time zone. Idempotent and chunked by month: safe to interrupt (Ctrl-C keeps "
        "finished chunks) and to run again (only changed rows are written)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, type=_date)
        parser.add_argument("--to", dest="date_to", required=True, type=_date)
        parser.add_argument(
            "--market", action="append", choices=Market.values, help="Repeatable; default both."
        )
        parser.add_argument(
            "--period", action="append", choices=PERIODS, help="Repeatable; default all four."
        )

    def handle(self, *args, date_from, date_to, market=None, period=None, **options):
        if date_to < date_from:
            raise CommandError("--from is after --to.")
        tty = self.stdout.isatty()
        started = time.monotonic()

        def progress(done: int, total: int, label: str) -> None:
            if tty:
                filled = BAR_WIDTH * done // total
                bar = "#" * filled + "-" * (BAR_WIDTH - filled)
                self.stdout.write(f"\r[{bar}] {done}/{total} {label:<28}", ending="")
                self.stdout.flush()
            else:
                self.stdout.write(f"{done}/{total} {label}")

        try:
            written = snapshots_rebuild(
                date_from=date_from,
                date_to=date_to,
                markets=market,
                periods=period,
                progress=progress,
            )
        except KeyboardInterrupt:
            self.stdout.write("")
            raise CommandError(
                "Interrupted: finished chunks are saved; run the same command again to finish."
            ) from None
        if tty:
            self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Snapshots {date_from}..{date_to}: {written} rows written "
                f"in {time.monotonic() - started:.1f} s."
            )
        )
