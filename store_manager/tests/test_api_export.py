"""manager/orders/export/: streamed CSV, BOM, one row per item, Cyrillic, filters, audit row."""

from __future__ import annotations

import csv
import io
import types

import pytest
from django.http import StreamingHttpResponse

from orders.models import OrderStatus
from orders.tests.factories import OrderItemFactory
from store_manager.models import ManagerActivityLog
from store_manager.selectors import export as export_selectors
from store_manager.selectors.orders import OrderFilters
from store_manager.services import export as export_services
from store_manager.tests.manager_api_support import (
    ALL_FLAGS,
    BASE,
    client_of,
    make_manager,
    order_in,
)

pytestmark = pytest.mark.django_db

URL = BASE + "orders/export/"


@pytest.fixture
def manager():
    return make_manager("manager", **ALL_FLAGS)


@pytest.fixture
def client(manager):
    return client_of(manager)


def _rows(response) -> list[list[str]]:
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM first"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_is_streamed_with_a_bom_header_and_one_row_per_item(client):
    order = order_in("KG", items=3, total="3000.00")
    single = order_in("KG")
    order_in("US", items=2)  # another market: never exported
    response = client.get(URL)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="orders-KG-')
    rows = _rows(response)
    header, data = rows[0], rows[1:]
    assert header == list(export_services.EXPORT_HEADER)
    assert header[:4] == ["order_number", "created_at", "created_at_local", "status"]
    assert len(data) == 4
    numbers = [row[0] for row in data]
    assert sorted(numbers) == sorted([order.order_number] * 3 + [single.order_number])
    column = dict(zip(header, data[-1], strict=True))
    assert column["currency"] == "KGS"
    assert column["created_at"].endswith("Z")
    assert column["created_at_local"].endswith("+06:00")
    # No payment rows in this test: the order's paid and refunded amounts are 0.
    assert (column["order_paid_amount"], column["order_refunded_amount"]) == ("0.00", "0.00")


def test_cyrillic_round_trips(client):
    order = order_in("KG", product_name="Льняная рубашка", shipping_recipient="Айгерим Асанова")
    OrderItemFactory(order=order, product_name="Шарф из шерсти яка", quantity=1)
    rows = _rows(client.get(URL))
    header = rows[0]
    names = [dict(zip(header, row, strict=True))["product_name"] for row in rows[1:]]
    assert sorted(names) == sorted(["Льняная рубашка", "Шарф из шерсти яка"])
    assert {dict(zip(header, row, strict=True))["customer_name"] for row in rows[1:]} == {
        "Айгерим Асанова"
    }


def test_filters_apply_to_the_export(client):
    order_in("KG")
    shipped = order_in("KG", status=OrderStatus.SHIPPED)
    rows = _rows(client.get(URL, {"status": "shipped"}))
    assert [row[0] for row in rows[1:]] == [shipped.order_number]
    assert client.get(URL, {"status": "lost"}).status_code == 400


def test_export_writes_one_activity_row_with_ip_and_user_agent(client, manager):
    order_in("KG")
    response = client.get(
        URL, {"status": "pending"}, REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Dashboard/2.1"
    )
    b"".join(response.streaming_content)
    log = ManagerActivityLog.objects.get()
    assert (log.manager, log.action, log.market) == (manager, "orders_exported", "KG")
    assert (log.ip_address, log.user_agent) == ("203.0.113.7", "Dashboard/2.1")
    assert log.metadata["filters"] == {"status": "pending", "ordering": "-created_at"}


def test_rows_come_from_a_database_iterator_in_chunks(client, monkeypatch):
    """Nothing builds the whole file: rows are a lazy iterator and the body many chunks."""
    rows = export_selectors.manager_export_rows(market="KG", filters=OrderFilters())
    assert isinstance(rows, types.GeneratorType)
    for _ in range(3):
        order_in("KG", items=5)
    monkeypatch.setattr(export_selectors, "EXPORT_CHUNK_SIZE", 2)
    original = export_services._csv_chunks
    monkeypatch.setattr(
        export_services, "_csv_chunks", lambda rows, **kw: original(rows, **kw, batch=4)
    )
    chunks = list(client.get(URL).streaming_content)
    assert len(chunks) == 1 + 4  # header, then 15 rows in batches of 4
    assert b"".join(chunks).count(b"\n") == 16


def test_export_of_another_market_needs_a_switch():
    admin = make_manager("admin")
    client = client_of(admin)
    us = order_in("US")
    assert [row[0] for row in _rows(client.get(URL))[1:]] == []
    client.patch(BASE + "me/", {"active_market": "US"})
    assert [row[0] for row in _rows(client.get(URL))[1:]] == [us.order_number]


def test_customer_text_cannot_become_a_spreadsheet_formula(client):
    order_in(
        "KG", shipping_recipient='=HYPERLINK("http://evil.example","x")', shipping_city="@SUM(1)"
    )
    rows = _rows(client.get(URL))
    column = dict(zip(rows[0], rows[1], strict=True))
    assert column["customer_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert column["city"] == "'@SUM(1)"
    assert column["shipping_phone"].startswith("+996")  # numbers are left alone
