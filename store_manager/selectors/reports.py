"""Daily reports of a market (manager/reports/)."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from main.exceptions import NotFound
from store_manager.models import DailyReport


def manager_report_list(
    *, market: str, date_from: date | None = None, date_to: date | None = None
) -> QuerySet[DailyReport]:
    queryset = DailyReport.objects.filter(market=market)
    if date_from:
        queryset = queryset.filter(report_date__gte=date_from)
    if date_to:
        queryset = queryset.filter(report_date__lte=date_to)
    return queryset.order_by("-report_date")


def manager_report_get(*, market: str, report_date: date) -> DailyReport:
    report = DailyReport.objects.filter(market=market, report_date=report_date).first()
    if report is None:
        raise NotFound("No report for that date in your active market.")
    return report
