"""Invariants of `make faults` (ops/faults.py), read by SQL from the drill's private database.

Each check returns `{"ok": bool, ...details}`. What each one promises comes from
the code it checks: stock moves only through `products.services.stock` (taken at
checkout and on resume, put back on cancellation), every order change writes a
status-history row whose id is the event id the consumers are idempotent by
(docs/EVENTS.md), snapshots are unique per (market, period, period_start) and
equal what `store_manager.analytics.period_figures` computes from the orders.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

SKU_SQL = """
SELECT s.id, s.code, s.stock,
       COALESCE(SUM(i.quantity) FILTER (WHERE o.status <> 'cancelled'), 0) AS sold
FROM products_sku s
LEFT JOIN orders_orderitem i ON i.sku_id = s.id
LEFT JOIN orders_order o ON o.id = i.order_id
GROUP BY s.id, s.code, s.stock
"""

PRODUCT_SQL = """
SELECT p.id, p.sales_count,
       COALESCE(SUM(i.quantity) FILTER (WHERE o.status <> 'cancelled'), 0) AS sold
FROM products_product p
LEFT JOIN orders_orderitem i ON i.product_id = p.id
LEFT JOIN orders_order o ON o.id = i.order_id
GROUP BY p.id, p.sales_count
"""


def rows(connection, sql: str, params: dict | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.fetchall()


def scalar(connection, sql: str, params: dict | None = None):
    return rows(connection, sql, params)[0][0]


def baseline(connection) -> dict:
    """Per SKU: stock + units in non-cancelled orders; per product: sales_count - those units."""
    return {
        "skus": {
            row[0]: {"code": row[1], "total": row[2] + row[3]} for row in rows(connection, SKU_SQL)
        },
        "products": {row[0]: row[1] - row[2] for row in rows(connection, PRODUCT_SQL)},
    }


def check_stock(connection, before: dict) -> dict:
    """stock + units sold (non-cancelled orders) per SKU equals its value before the load."""
    broken = []
    for sku_id, code, stock, sold in rows(connection, SKU_SQL):
        expected = before["skus"].get(sku_id, {}).get("total")
        if expected is not None and stock + sold != expected:
            broken.append(f"{code}: stock {stock} + sold {sold} = {stock + sold}, was {expected}")
    products = [
        f"product {pid}: sales_count - sold = {count - sold}, was {before['products'][pid]}"
        for pid, count, sold in rows(connection, PRODUCT_SQL)
        if pid in before["products"] and count - sold != before["products"][pid]
    ]
    return {
        "ok": not broken and not products,
        "skus_checked": len(before["skus"]),
        "broken": broken[:20],
        "sales_count_broken": products[:20],
    }


def check_orders(connection, since, placed: dict[str, str], key_orders: dict[str, set]) -> dict:
    """No order without items or without its creation event; status = last history row;
    every 201 is in the database; one order per Idempotency-Key."""
    no_items = [
        r[0]
        for r in rows(
            connection,
            "SELECT order_number FROM orders_order o WHERE NOT EXISTS "
            "(SELECT 1 FROM orders_orderitem i WHERE i.order_id = o.id)",
        )
    ]
    no_creation = [
        r[0]
        for r in rows(
            connection,
            "SELECT order_number FROM orders_order o WHERE NOT EXISTS "
            "(SELECT 1 FROM orders_orderstatushistory h "
            " WHERE h.order_id = o.id AND h.from_status IS NULL)",
        )
    ]
    status_mismatch = [
        f"{r[0]}: {r[1]} but last history {r[2]}"
        for r in rows(
            connection,
            """
            SELECT o.order_number, o.status, last.to_status FROM orders_order o
            JOIN LATERAL (SELECT to_status FROM orders_orderstatushistory h
                          WHERE h.order_id = o.id ORDER BY h.id DESC LIMIT 1) last ON true
            WHERE o.created_at >= %(since)s AND o.status <> last.to_status
            """,
            {"since": since},
        )
    ]
    in_db = {
        r[0]
        for r in rows(
            connection,
            "SELECT order_number FROM orders_order WHERE created_at >= %(since)s",
            {"since": since},
        )
    }
    duplicate_keys = rows(
        connection,
        "SELECT user_id, key, count(*) FROM orders_idempotencykey "
        "GROUP BY user_id, key HAVING count(*) > 1",
    )
    answered_twice = {k: sorted(v) for k, v in key_orders.items() if len(v) > 1}
    missing = sorted(set(placed) - in_db)
    unseen = sorted(in_db - set(placed))
    return {
        "ok": not (no_items or no_creation or status_mismatch or missing)
        and not (duplicate_keys or answered_twice),
        "orders_since_start": len(in_db),
        "answered_201": len(placed),
        "without_items": no_items[:20],
        "without_creation_event": no_creation[:20],
        "status_not_last_history": status_mismatch[:20],
        "answered_201_not_in_database": missing[:20],
        "in_database_never_answered_201": unseen[:20],
        "duplicate_idempotency_keys": [list(map(str, r)) for r in duplicate_keys[:20]],
        "keys_answered_with_two_orders": answered_twice,
    }


def check_snapshot_rows(connection) -> dict:
    duplicates = rows(
        connection,
        "SELECT market, period, period_start, count(*) FROM store_manager_revenuesnapshot "
        "GROUP BY market, period, period_start HAVING count(*) > 1",
    )
    reports = rows(
        connection,
        "SELECT market, report_date, count(*) FROM store_manager_dailyreport "
        "GROUP BY market, report_date HAVING count(*) > 1",
    )
    return {
        "ok": not duplicates and not reports,
        "snapshot_rows": scalar(connection, "SELECT count(*) FROM store_manager_revenuesnapshot"),
        "duplicate_snapshots": [list(map(str, r)) for r in duplicates],
        "duplicate_reports": [list(map(str, r)) for r in reports],
    }


def check_daily_revenue(connection, since) -> dict:
    """Daily snapshots of the drill's days against sums over the orders, by SQL alone."""
    found = rows(
        connection,
        """
        WITH days AS (
            SELECT DISTINCT o.market,
                   date_trunc('day', o.created_at AT TIME ZONE z.zone) AS day, z.zone
            FROM orders_order o
            JOIN (VALUES ('KG', 'Asia/Bishkek'), ('US', 'America/New_York')) z(market, zone)
              ON z.market = o.market
            WHERE o.created_at >= %(since)s AND NOT o.is_replacement
        ), figures AS (
            SELECT d.market, d.day,
                   COALESCE(SUM(o.total) FILTER (WHERE o.status <> 'cancelled'), 0) AS revenue,
                   count(o.id) FILTER (WHERE o.status <> 'cancelled') AS orders,
                   count(o.id) FILTER (WHERE o.status = 'cancelled') AS cancelled
            FROM days d
            LEFT JOIN orders_order o ON o.market = d.market
             AND date_trunc('day', o.created_at AT TIME ZONE d.zone) = d.day
             AND NOT o.is_replacement  -- an exchange's shipment is no sale
            GROUP BY d.market, d.day
        )
        SELECT f.market, f.day::date, f.revenue, s.revenue, f.orders, s.orders_count,
               f.cancelled, s.cancelled_count
        FROM figures f
        JOIN days d ON d.market = f.market AND d.day = f.day
        LEFT JOIN store_manager_revenuesnapshot s
          ON s.market = f.market AND s.period = 'daily'
         AND (s.period_start AT TIME ZONE d.zone) = f.day
        """,
        {"since": since},
    )
    stale = [
        f"{r[0]} {r[1]}: revenue {r[3]} vs orders {r[2]}, orders_count {r[5]} vs {r[4]}, "
        f"cancelled {r[7]} vs {r[6]}"
        for r in found
        if (r[3], r[5], r[7]) != (r[2], r[4], r[6])
    ]
    return {"ok": not stale, "days": len(found), "stale": stale}


def check_customer_notifications(connection, since) -> dict:
    """One order_status notification per history row (event) of the drill's orders."""
    found = rows(
        connection,
        """
        SELECT h.id, o.order_number, h.to_status, count(n.id)
        FROM orders_orderstatushistory h
        JOIN orders_order o ON o.id = h.order_id
        LEFT JOIN users_notification n
          ON n.user_id = o.user_id AND n.type = 'order_status'
         AND n.data ->> 'event' = h.id::text
        WHERE h.created_at >= %(since)s
        GROUP BY h.id, o.order_number, h.to_status
        """,
        {"since": since},
    )
    missing = [f"{r[1]} {r[2]} (event {r[0]})" for r in found if r[3] == 0]
    duplicated = [f"{r[1]} {r[2]} (event {r[0]}): {r[3]}" for r in found if r[3] > 1]
    return {
        "ok": not missing and not duplicated,
        "events": len(found),
        "missing": missing[:20],
        "missing_count": len(missing),
        "duplicated": duplicated[:20],
    }


MANAGERS_SQL = """
WITH managers AS (
    SELECT m.id, m.role, m.can_manage_kg, m.can_manage_us,
           COALESCE(st.notify_new_orders, true) AS new_orders,
           COALESCE(st.notify_cancellations, true) AS cancellations
    FROM store_manager_storemanager m
    JOIN users_user u ON u.id = m.user_id
    LEFT JOIN store_manager_managersettings st ON st.manager_id = m.id
    WHERE m.is_active AND u.is_active
), events AS (
    SELECT h.id AS event_id, o.market, 'new_order' AS type
    FROM orders_orderstatushistory h JOIN orders_order o ON o.id = h.order_id
    WHERE h.created_at >= %(since)s AND h.from_status IS NULL
    UNION ALL
    SELECT h.id, o.market, 'order_cancelled'
    FROM orders_orderstatushistory h JOIN orders_order o ON o.id = h.order_id
    WHERE h.created_at >= %(since)s AND h.to_status = 'cancelled'
), expected AS (
    SELECT e.event_id, e.type, m.id AS manager_id
    FROM events e JOIN managers m
      ON (m.role = 'admin' OR (e.market = 'KG' AND m.can_manage_kg)
                           OR (e.market = 'US' AND m.can_manage_us))
     AND ((e.type = 'new_order' AND m.new_orders)
          OR (e.type = 'order_cancelled' AND m.cancellations))
)
SELECT x.type, x.event_id, x.manager_id, count(n.id)
FROM expected x
LEFT JOIN store_manager_managernotification n
  ON n.manager_id = x.manager_id AND n.type = x.type AND n.event_id = x.event_id
GROUP BY x.type, x.event_id, x.manager_id
"""


def check_manager_notifications(connection, since) -> dict:
    """Every opted-in manager of the market: one notification per new order and per cancellation."""
    found = rows(connection, MANAGERS_SQL, {"since": since})
    expected = Counter(r[0] for r in found)
    missing = [f"{r[0]} event {r[1]} manager {r[2]}" for r in found if r[3] == 0]
    duplicated = [f"{r[0]} event {r[1]} manager {r[2]}: {r[3]}" for r in found if r[3] > 1]
    return {
        "ok": not missing and not duplicated,
        "expected": dict(expected),
        "missing": missing[:20],
        "missing_count": len(missing),
        "duplicated": duplicated[:20],
    }


def check_sms(connection, since, sms_file: Path) -> dict:
    """An SMS per shipped/delivered event (docs: SMS for those statuses); duplicates counted."""
    wanted = rows(
        connection,
        """
        SELECT o.order_number, h.to_status, u.phone
        FROM orders_orderstatushistory h
        JOIN orders_order o ON o.id = h.order_id
        JOIN users_user u ON u.id = o.user_id
        WHERE h.created_at >= %(since)s AND h.to_status IN ('shipped', 'delivered')
        """,
        {"since": since},
    )
    sent = Counter()
    if sms_file.exists():
        for line in sms_file.read_text(encoding="utf-8").splitlines():
            message = json.loads(line)
            match = re.search(r"order (\S+) (is on its way|was delivered)", message["body"])
            if match:
                status = "shipped" if match[2] == "is on its way" else "delivered"
                sent[(message["to"], match[1], status)] += 1
    missing = [f"{n} {s}" for n, s, phone in wanted if sent[(phone, n, s)] == 0]
    duplicated = [f"{n} {s}: {sent[(p, n, s)]}" for n, s, p in wanted if sent[(p, n, s)] > 1]
    return {
        "ok": not missing,
        "expected": len(wanted),
        "missing": missing[:20],
        "duplicated": duplicated[:20],
        "duplicated_count": len(duplicated),
    }


def check_outbox(connection, max_deliveries: int) -> dict:
    (total, incomplete, redelivered, relayed, max_seen, exhausted) = rows(
        connection,
        """
        SELECT count(*),
               count(*) FILTER (WHERE completed_at IS NULL),
               count(*) FILTER (WHERE deliveries > 1),
               count(*) FILTER (WHERE attempts > deliveries OR attempts > 1),
               COALESCE(max(deliveries), 0),
               count(*) FILTER (WHERE completed_at IS NULL AND deliveries >= %(max)s)
        FROM outbox_outboxmessage
        """,
        {"max": max_deliveries},
    )[0]
    waiting = rows(
        connection,
        "SELECT task, count(*), max(deliveries), max(last_error) FROM outbox_outboxmessage "
        "WHERE completed_at IS NULL GROUP BY task ORDER BY 2 DESC",
    )
    return {
        "ok": incomplete == 0,
        "messages": total,
        "not_completed": incomplete,
        "sent_more_than_once": redelivered,
        "relayed_after_a_failed_send": relayed,
        "max_deliveries": max_seen,
        "exhausted": exhausted,
        "not_completed_by_task": [
            {"task": r[0], "count": r[1], "deliveries": r[2], "last_error": (r[3] or "")[:200]}
            for r in waiting
        ],
    }
