"""Helpers for tests of any app."""

from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction


@contextmanager
def violates_constraint(name: str):
    """The block must be refused by the database with constraint `name`.

    Runs in a savepoint so the test can go on. PostgreSQL names every
    constraint in its message; SQLite names CHECK constraints but reports
    unique violations by column, so there only the refusal itself is checked.
    """
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    message = str(excinfo.value)
    if connection.vendor == "postgresql" or message.startswith("CHECK"):
        assert name in message, message
