"""Daily reports: build `DailyReport` rows and deliver them to the market's managers.

Who receives a market's report (e-mail and a `report_ready` notification):
an active `StoreManager` of an active user who *manages* the market (role
admin, or the matching `can_manage_kg` / `can_manage_us` flag), may see money
(role admin or `can_view_revenue`: the report is revenue) and whose
`ManagerSettings.email_reports` is on. The e-mail goes to `report_email`, else
the user's e-mail; a recipient with neither still gets the notification.
A manager without a settings row gets nothing (nobody asked).

A report is delivered at most once: `emailed_at` is claimed with a
conditional UPDATE before anything is sent, so two workers (or a re-run) can
never both send it. Rebuilding a report's figures never re-sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation

from main.markets import Market, market_config
from orders.models import Order
from store_manager.analytics import (
    Figures,
    change_percent,
    date_range_bounds,
    local_date,
    period_figures,
    top_products,
)
from store_manager.models import DailyReport, ManagerNotification, StoreManager

logger = logging.getLogger("marque.analytics")

TOP_PRODUCTS = 10
FIGURE_FIELDS = (
    "revenue",
    "orders_count",
    "items_sold",
    "average_order_value",
    "cancelled_count",
    "new_customers",
)


def _day_figures(market: str, day: date) -> Figures:
    return period_figures(market=market, **date_range_bounds(market, day, day)._asdict())


def _comparison(current: Figures, other: Figures, day: date) -> dict[str, object]:
    return {
        "date": day.isoformat(),
        **other.as_dict(),
        "revenue_change_percent": _pct(change_percent(current.revenue, other.revenue)),
        "orders_change_percent": _pct(
            change_percent(Decimal(current.orders_count), Decimal(other.orders_count))
        ),
    }


def _pct(value) -> str | None:
    return None if value is None else f"{value:.2f}"


@transaction.atomic
def daily_report_build(*, market: str, report_date: date) -> DailyReport:
    """Compute and upsert the report of ``market`` for its local calendar date ``report_date``.

    Figures as in the snapshots (store_manager.analytics), top 10 products by
    revenue and by units, and the comparison with the previous day and the same
    weekday a week before. The row is written only when something changed, so
    a re-run leaves it (and `generated_at`) as it was; `emailed_at` is never
    touched here.
    """
    market = Market(market).value
    bounds = date_range_bounds(market, report_date, report_date)
    figures = period_figures(market=market, start=bounds.start, end=bounds.end)
    previous_day = report_date - timedelta(days=1)
    week_ago = report_date - timedelta(days=7)
    values = {
        "currency": market_config(market).currency,
        **{f: getattr(figures, f) for f in FIGURE_FIELDS},
        "top_products": top_products(
            market=market, start=bounds.start, end=bounds.end, limit=TOP_PRODUCTS
        ),
        "comparison": {
            "previous_day": _comparison(figures, _day_figures(market, previous_day), previous_day),
            "same_weekday_last_week": _comparison(
                figures, _day_figures(market, week_ago), week_ago
            ),
        },
    }
    report, created = DailyReport.objects.select_for_update().get_or_create(
        market=market, report_date=report_date, defaults=values
    )
    if not created and any(getattr(report, f) != v for f, v in values.items()):
        for field, value in values.items():
            setattr(report, field, value)
        report.save()
    return report


def report_recipients(market: str) -> QuerySet[StoreManager]:
    """Managers who receive ``market``'s daily report (see the module docstring)."""
    manages = Q(role=StoreManager.Role.ADMIN) | Q(
        **{"can_manage_kg" if market == Market.KG else "can_manage_us": True}
    )
    sees_money = Q(role=StoreManager.Role.ADMIN) | Q(can_view_revenue=True)
    return (
        StoreManager.objects.filter(manages, sees_money, is_active=True, user__is_active=True)
        .filter(settings__email_reports=True)
        .select_related("user", "settings")
        .order_by("id")
    )


def _message(report: DailyReport, manager: StoreManager, address: str) -> EmailMultiAlternatives:
    context = {
        "report": report,
        "manager": manager,
        "market_name": market_config(report.market).name,
        "previous_day": report.comparison.get("previous_day", {}),
        "last_week": report.comparison.get("same_weekday_last_week", {}),
    }
    with translation.override(manager.settings.language):
        subject = (
            f"MARQUE {report.market} daily report {report.report_date:%Y-%m-%d}: "
            f"{report.revenue:.2f} {report.currency}"
        )
        text = render_to_string("store_manager/email/daily_report.txt", context)
        html = render_to_string("store_manager/email/daily_report.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [address])
    message.attach_alternative(html, "text/html")
    return message


def daily_report_send(*, report: DailyReport, now: datetime | None = None) -> int:
    """E-mail and notify the report's recipients once; returns how many e-mails were sent.

    Claims the report first (``emailed_at`` from NULL to now in one UPDATE):
    whoever loses the claim sends nothing. If every e-mail fails (mail server
    down) the claim is released and the error raised, so a retry can deliver it;
    otherwise every recipient also gets a `report_ready` notification.
    """
    now = now or timezone.now()
    claimed = DailyReport.objects.filter(pk=report.pk, emailed_at__isnull=True).update(
        emailed_at=now
    )
    if not claimed:
        return 0
    recipients = list(report_recipients(report.market))
    sent = failed = 0
    for manager in recipients:
        address = manager.settings.report_email or manager.user.email
        if not address:
            continue
        try:
            _message(report, manager, address).send()
            sent += 1
        except Exception:  # one bad address or a mail server hiccup must not stop the others
            failed += 1
            logger.exception("Daily report %s: e-mail to manager %s failed", report, manager.pk)
    if failed and not sent:
        DailyReport.objects.filter(pk=report.pk).update(emailed_at=None)
        raise RuntimeError(f"Daily report {report}: every e-mail failed; will retry.")
    ManagerNotification.objects.bulk_create(
        ManagerNotification(
            manager=manager,
            type=ManagerNotification.Type.REPORT_READY,
            title=f"Daily report {report.report_date:%Y-%m-%d} ({report.market})",
            message=(
                f"Revenue {report.revenue:.2f} {report.currency}, "
                f"{report.orders_count} orders, {report.cancelled_count} cancelled."
            ),
            data={
                "market": report.market,
                "report_date": report.report_date.isoformat(),
                "report_id": report.pk,
            },
        )
        for manager in recipients
    )
    report.emailed_at = now
    return sent


def daily_report_build_and_send(*, market: str, report_date: date) -> DailyReport:
    """The scheduled job after the daily snapshot: build the report, deliver it once."""
    report = daily_report_build(market=market, report_date=report_date)
    daily_report_send(report=report)
    return report


def daily_report_refresh(*, market: str, report_date: date) -> DailyReport | None:
    """Rebuild an existing report's figures after a late order change; never re-sends it."""
    if not DailyReport.objects.filter(market=market, report_date=report_date).exists():
        return None
    return daily_report_build(market=market, report_date=report_date)


def daily_report_refresh_for_order(*, order_id: int) -> DailyReport | None:
    """`daily_report_refresh` for the local date of an order's creation (late changes)."""
    order = Order.objects.filter(pk=order_id).values("market", "created_at").first()
    if order is None:
        return None
    day = local_date(order["market"], order["created_at"])
    return daily_report_refresh(market=order["market"], report_date=day)


def reports_rebuild(
    *,
    date_from: date,
    date_to: date,
    markets: Iterable[str] | None = None,
    send_email: bool = False,
) -> int:
    """Build the reports of the local dates ``date_from``..``date_to`` (demo seeder, backfill).

    With ``send_email`` each report not yet delivered is delivered; without,
    nothing is sent and ``emailed_at`` stays as it was. Returns the number of reports.
    """
    count = 0
    for market in markets or Market.values:
        day = date_from
        while day <= date_to:
            report = daily_report_build(market=market, report_date=day)
            if send_email:
                daily_report_send(report=report)
            count += 1
            day += timedelta(days=1)
    return count
