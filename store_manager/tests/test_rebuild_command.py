"""`manage.py rebuild_snapshots`: the arguments it refuses."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from store_manager.models import RevenueSnapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("date_from", "date_to", "wrong"),
    [
        ("0001-01-01", "2026-01-01", "0001-01-01"),
        ("2026-01-01", "9999-12-31", "9999-12-31"),
        ("1999-12-31", "2000-01-01", "1999-12-31"),
        ("2100-12-31", "2101-01-01", "2101-01-01"),
    ],
)
def test_dates_outside_2000_to_2100_are_refused(date_from, date_to, wrong):
    with pytest.raises(CommandError, match=f"{wrong} is outside 2000-01-01..2100-12-31"):
        call_command("rebuild_snapshots", "--from", date_from, "--to", date_to)
    assert not RevenueSnapshot.objects.exists()


def test_the_edges_of_the_range_are_accepted():
    call_command(
        "rebuild_snapshots",
        "--from",
        "2100-12-31",
        "--to",
        "2100-12-31",
        "--period",
        "daily",
        "--market",
        "KG",
    )
    call_command(
        "rebuild_snapshots", "--from", "2000-01-01", "--to", "2000-01-01", "--period", "monthly"
    )
    assert RevenueSnapshot.objects.filter(period="monthly").count() == 2


def test_a_malformed_date_is_refused():
    with pytest.raises(CommandError, match="not a date"):
        call_command("rebuild_snapshots", "--from", "2026-13-01", "--to", "2026-12-31")
