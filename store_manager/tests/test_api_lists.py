"""Every manager list runs the same number of SQL queries whatever the page size (SPEC §7)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from store_manager.models import DailyReport, ManagerNotification
from store_manager.services.activity import RequestMeta, activity_log_write
from store_manager.tests.manager_api_support import ALL_FLAGS, BASE, client_of, make_manager

pytestmark = pytest.mark.django_db


def _add(kind: str, manager, count: int, offset: int) -> None:
    for i in range(offset, offset + count):
        if kind == "notifications/":
            ManagerNotification.objects.create(manager=manager, title=f"N{i}")
        elif kind == "activity/":
            # Rows of several managers: the list joins each row's manager and user.
            author = make_manager() if i % 2 else manager
            activity_log_write(
                manager=author, action="order_status_changed", market="KG", meta=RequestMeta()
            )
        else:
            DailyReport.objects.create(
                market="KG", report_date=date(2026, 1, 1) + timedelta(days=i), currency="KGS"
            )


def _queries(client, path: str, page_size: int, expected_rows: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(BASE + path, {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected_rows
    return len(queries)


@pytest.mark.parametrize("path", ["notifications/", "activity/", "reports/"])
def test_list_query_count_does_not_depend_on_the_page_size(path):
    manager = make_manager("admin", **ALL_FLAGS)
    client = client_of(manager)
    _add(path, manager, 2, 0)
    small = _queries(client, path, 1, 1)
    _add(path, manager, 30, 2)
    assert _queries(client, path, 100, 32) == small
