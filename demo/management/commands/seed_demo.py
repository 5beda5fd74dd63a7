from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from banners.models import Banner
from demo.banners import seed_banners
from demo.catalogue import seed_catalogue
from demo.managers import DEMO_MANAGER_PHONES, seed_managers
from demo.orders import seed_orders
from demo.users import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_PHONE, seed_admin, seed_customers
from main.markets import Market
from orders.models import Order, OrderItem, ReturnRequest
from products.models import (
    SKU,
    Category,
    Product,
    ProductFeature,
    ProductImage,
    ProductPrice,
    Subcategory,
)
from store_manager.analytics import local_date
from store_manager.models import DailyReport, ManagerSettings, RevenueSnapshot, StoreManager
from store_manager.services.reports import reports_rebuild
from store_manager.services.snapshots import snapshots_rebuild
from users.models import Address, User

# What the summary counts, in the order the command fills them.
SUMMARY_MODELS = (
    User,
    Address,
    StoreManager,
    ManagerSettings,
    Category,
    Subcategory,
    Product,
    ProductImage,
    ProductFeature,
    SKU,
    ProductPrice,
    Banner,
    Order,
    OrderItem,
    ReturnRequest,
    RevenueSnapshot,
    DailyReport,
)


def rebuild_figures(*, first_day: date | None, now: datetime) -> None:
    """Snapshots up to today and daily reports up to yesterday, in each market's own dates.

    A first seed builds them from `first_day`; a later run (a day or a week on,
    no beat running) fills what is missing since the market's newest report, so
    the dashboard shows today and the newest report is always yesterday's.
    """
    for market in Market.values:
        today = local_date(market, now)
        start = first_day
        if start is None:
            newest = (
                DailyReport.objects.filter(market=market)
                .order_by("-report_date")
                .values_list("report_date", flat=True)
                .first()
            )
            if newest is None:
                continue  # no history here: nothing to report on
            start = min(newest + timedelta(days=1), today)
        snapshots_rebuild(date_from=start, date_to=today, markets=[market], now=now)
        if start < today:
            reports_rebuild(date_from=start, date_to=today - timedelta(days=1), markets=[market])


class Command(BaseCommand):
    help = (
        "Build the demo store: categories, products, banners, customers, one store manager "
        "per role, and about 90 days of orders in both markets with their revenue snapshots "
        "and daily reports. Safe to run again: only missing demo rows are created, existing "
        "ones are kept as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--small", action="store_true", help="A tiny data set (tests, quick checks)."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even where settings forbid it (production: creates a known superuser).",
        )

    def handle(self, *args, small: bool = False, force: bool = False, **options):
        if not (settings.DEMO_SEED_ALLOWED or force):
            raise CommandError(
                "seed_demo is disabled by these settings (DEMO_SEED_ALLOWED is false): it "
                "creates a superuser with a documented password. Use --force if you mean it."
            )
        started = time.perf_counter()
        before = {model: model.objects.count() for model in SUMMARY_MODELS}
        with transaction.atomic():
            seed_admin()
            categories = seed_catalogue(small=small)
            seed_banners(categories, small=small)
            customers = seed_customers(small=small)
            seed_managers()
            history = seed_orders(customers, small=small)
        # Orders were placed with events held back: the figures are built once, here.
        rebuild_figures(first_day=history.first_day, now=timezone.now())
        elapsed = time.perf_counter() - started

        self.stdout.write(
            self.style.SUCCESS(f"Demo store ready{' (small)' if small else ''} in {elapsed:.1f}s.")
        )
        for model in SUMMARY_MODELS:
            total = model.objects.count()
            added = total - before[model]
            name = model._meta.verbose_name_plural
            self.stdout.write(f"  {name:<20} {total:>5}  (+{added})")
        self.stdout.write("Sign in (managers and customers get an SMS code):")
        rows = [("staff (admin site)", f"{DEMO_ADMIN_PHONE}  password {DEMO_ADMIN_PASSWORD}")]
        rows += [(f"manager: {role}", phone) for role, phone in DEMO_MANAGER_PHONES.items()]
        rows += [
            (f"customer {customer.market}", f"{customer.phone}  {customer.get_full_name()}")
            for customer in customers
        ]
        for who, what in rows:
            self.stdout.write(f"  {who:<20} {what}")
