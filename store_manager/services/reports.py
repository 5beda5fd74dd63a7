"""Daily reports: build `DailyReport` rows and deliver them to the market's managers.

Who receives a market's report (e-mail and a `report_ready` notification):
an active `StoreManager` of an active user who *manages* the market
(`notifications.managers_of`: role admin, or the matching `can_manage_kg` /
`can_manage_us` flag), may see money (role admin or `can_view_revenue`: the
report is revenue) and has not switched `ManagerSettings.email_reports` off
(no settings row means the defaults, and the default is on). The e-mail goes to
`report_email`, else the user's e-mail; a recipient with neither still gets
the notification.

Delivery is per recipient and at most once: a recipient is *claimed* by
creating their `report_ready` notification (under a lock on the report row)
before their e-mail is sent; a recipient who already has it is skipped. A
failed e-mail deletes the claim again and the send raises
`ReportDeliveryError` once the others are done, so a retry sends only to the
recipients who did not get it. `emailed_at` is set when every recipient is
served. Rebuilding a report's figures never re-sends it.
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
from store_manager.analytics import (
    FIGURE_NAMES,
    Figures,
    change_percent,
    date_range_bounds,
    local_date,
    period_figures,
    top_products,
)
from store_manager.events import manager_notifications_created, report_ready
from store_manager.models import DailyReport, ManagerNotification, ManagerSettings, StoreManager
from store_manager.services.notifications import managers_of
from store_manager.services.snapshots import order_instants

logger = logging.getLogger("marque.analytics")

TOP_PRODUCTS = 10
# The nightly run delivers any report of its market from the last RESEND_DAYS days
# (yesterday included) that was built but never fully delivered.
RESEND_DAYS = 7


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
        **{f: getattr(figures, f) for f in FIGURE_NAMES},
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
    if created:
        report_ready(report)
    elif any(getattr(report, f) != v for f, v in values.items()):
        for field, value in values.items():
            setattr(report, field, value)
        report.save()
    return report


class ReportDeliveryError(RuntimeError):
    """Some e-mails of a report failed; their recipients are left for a retry."""


def report_recipients(market: str) -> QuerySet[StoreManager]:
    """Managers who receive ``market``'s daily report (see the module docstring)."""
    sees_money = Q(role=StoreManager.Role.ADMIN) | Q(can_view_revenue=True)
    wants_it = Q(settings__isnull=True) | Q(settings__email_reports=True)
    return (
        managers_of(market)
        .filter(sees_money, wants_it)
        .select_related("user", "settings")
        .order_by("id")
    )


def _settings(manager: StoreManager) -> ManagerSettings:
    """The manager's settings, or the defaults when the row does not exist."""
    return getattr(manager, "settings", None) or ManagerSettings(manager=manager)


def _message(report: DailyReport, manager: StoreManager, address: str) -> EmailMultiAlternatives:
    context = {
        "report": report,
        "manager": manager,
        "market_name": market_config(report.market).name,
        "previous_day": report.comparison.get("previous_day", {}),
        "last_week": report.comparison.get("same_weekday_last_week", {}),
    }
    with translation.override(_settings(manager).language):
        subject = (
            f"MARQUE {report.market} daily report {report.report_date:%Y-%m-%d}: "
            f"{report.revenue:.2f} {report.currency}"
        )
        text = render_to_string("store_manager/email/daily_report.txt", context)
        html = render_to_string("store_manager/email/daily_report.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [address])
    message.attach_alternative(html, "text/html")
    return message


def _claims(report: DailyReport) -> QuerySet[ManagerNotification]:
    """The per-recipient delivery records of a report: its `report_ready` notifications."""
    return ManagerNotification.objects.filter(
        type=ManagerNotification.Type.REPORT_READY, data__report_id=report.pk
    )


def _lock_undelivered(report: DailyReport) -> bool:
    """Lock the report row until the transaction ends; False when it is fully delivered."""
    return (
        DailyReport.objects.select_for_update()
        .filter(pk=report.pk, emailed_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
        is not None
    )


@transaction.atomic
def _claim(report: DailyReport, manager: StoreManager) -> bool:
    """Claim one recipient (create their notification); False if served or claimed before."""
    if not _lock_undelivered(report) or _claims(report).filter(manager=manager).exists():
        return False
    notification = ManagerNotification.objects.create(
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
    manager_notifications_created([notification.pk])
    return True


@transaction.atomic
def _release(report: DailyReport, manager: StoreManager) -> None:
    """Undo a claim whose e-mail failed, so that a retry sends it."""
    DailyReport.objects.filter(pk=report.pk).update(emailed_at=None)  # locks the row too
    _claims(report).filter(manager=manager).delete()


@transaction.atomic
def _complete(report: DailyReport, recipients: list[StoreManager], now: datetime) -> bool:
    """Set ``emailed_at`` when every recipient has been claimed (and not released)."""
    if not _lock_undelivered(report):
        return False
    claimed = set(_claims(report).values_list("manager_id", flat=True))
    if any(m.pk not in claimed for m in recipients):
        return False
    DailyReport.objects.filter(pk=report.pk).update(emailed_at=now)
    return True


def daily_report_send(*, report: DailyReport, now: datetime | None = None) -> int:
    """E-mail and notify the report's recipients, each at most once; returns e-mails sent.

    Each recipient is claimed (their `report_ready` notification, committed)
    before their e-mail is sent, so no run, retry or concurrent worker sends
    it to them twice. A failed e-mail releases that claim, and after trying
    everyone the send raises `ReportDeliveryError` so that a retry delivers
    to the recipients left. A worker killed between a claim and the mail
    server's answer loses that one e-mail (the notification stays); the
    recipients not yet claimed get it when the task is redelivered. When
    every recipient is served, ``emailed_at`` is set and later calls send
    nothing.
    """
    now = now or timezone.now()
    if DailyReport.objects.filter(pk=report.pk, emailed_at__isnull=False).exists():
        return 0
    recipients = list(report_recipients(report.market))
    sent = 0
    failed: list[int] = []
    for manager in recipients:
        if not _claim(report, manager):
            continue
        address = _settings(manager).report_email or manager.user.email
        if not address:
            continue  # the notification is all they get
        try:
            _message(report, manager, address).send()
            sent += 1
        except Exception:  # one bad address or a mail server hiccup must not stop the others
            _release(report, manager)
            failed.append(manager.pk)
            logger.exception("Daily report %s: e-mail to manager %s failed", report, manager.pk)
    if failed:
        raise ReportDeliveryError(
            f"Daily report {report}: e-mail to managers {failed} failed ({sent} sent); retry."
        )
    if _complete(report, recipients, now):
        report.emailed_at = now
    return sent


def daily_report_refresh_for_order(*, order_id: int) -> list[DailyReport]:
    """Rebuild the figures of every existing report an order's change may alter.

    The order's local day D, D+1 (its previous-day comparison shows D) and D+7
    (same weekday a week before); and, when the customer has a later
    non-cancelled order in the market, that order's day E (whether it is the
    customer's first, i.e. ``new_customers``) with E+1 and E+7, whose
    comparisons show E's figures. Reports that do not exist are not created,
    and none is e-mailed again.
    """
    affected = order_instants(order_id)
    if affected is None:
        return []
    market, instants = affected
    days = {
        local_date(market, instant) + timedelta(days=shift)
        for instant in instants
        for shift in (0, 1, 7)
    }
    existing = (
        DailyReport.objects.filter(market=market, report_date__in=days)
        .order_by("report_date")
        .values_list("report_date", flat=True)
    )
    return [daily_report_build(market=market, report_date=day) for day in existing]


def reports_to_deliver(*, market: str, last_day: date, days: int = RESEND_DAYS) -> list[date]:
    """Dates of ``market``'s reports from ``days`` days up to ``last_day`` not yet delivered."""
    return list(
        DailyReport.objects.filter(
            market=market,
            report_date__gt=last_day - timedelta(days=days),
            report_date__lte=last_day,
            emailed_at__isnull=True,
        )
        .order_by("report_date")
        .values_list("report_date", flat=True)
    )


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
