import pytest

from realtime.tests.support import flush_layer


@pytest.fixture(autouse=True)
def _empty_channel_layer():
    """No group or queued frame of one test reaches the next."""
    flush_layer()
    yield
    flush_layer()
