"""Daily reports: content, recipients, exactly-once delivery (SPEC §3, §6)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.forms.models import model_to_dict

from orders.models import Order
from products.tests.factories import ProductFactory
from store_manager.analytics import date_range_bounds
from store_manager.models import DailyReport, ManagerNotification, ManagerSettings, StoreManager
from store_manager.services.reports import (
    ReportDeliveryError,
    daily_report_build,
    daily_report_send,
    report_recipients,
    reports_rebuild,
)
from store_manager.tasks import recompute_order_periods, send_daily_report, snapshot_after_midnight
from store_manager.tests.helpers import kg_customer, place, us_customer
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 23)  # a Monday


def _manager(email="", *, role="manager", reports=True, report_email="", **flags):
    user = UserFactory(email=email)
    manager = StoreManager.objects.create(user=user, role=role, **flags)
    ManagerSettings.objects.create(
        manager=manager, email_reports=reports, report_email=report_email
    )
    return manager


@pytest.fixture
def managers():
    return {
        "admin": _manager("admin@example.com", role="admin"),
        "kg": _manager("kg@example.com", can_manage_kg=True, can_view_revenue=True),
        "kg_other_address": _manager(
            "own@example.com",
            report_email="reports@example.com",
            can_manage_kg=True,
            can_view_revenue=True,
        ),
        "kg_opted_out": _manager(
            "out@example.com", reports=False, can_manage_kg=True, can_view_revenue=True
        ),
        "kg_no_money": _manager("nomoney@example.com", can_manage_kg=True),
        "kg_inactive": _manager(
            "gone@example.com", can_manage_kg=True, can_view_revenue=True, is_active=False
        ),
        "kg_no_email": _manager("", can_manage_kg=True, can_view_revenue=True),
        "us": _manager("us@example.com", can_manage_us=True, can_view_revenue=True),
    }


@pytest.fixture
def kg_sales():
    shirt, coat, scarf = (ProductFactory(name=n) for n in ("Shirt", "Coat", "Scarf"))
    ann, bek = kg_customer(), kg_customer()
    day = date_range_bounds("KG", DAY, DAY)
    place(ann, day.start, "1000.00", items=(4,), product=shirt)
    place(bek, day.start + timedelta(hours=9), "3000.00", items=(1,), product=coat)
    place(
        bek,
        day.start + timedelta(hours=10),
        "9000.00",
        items=(9,),
        product=scarf,
        status="cancelled",
    )
    place(ann, day.start - timedelta(days=1), "2000.00", product=shirt)  # the day before
    place(ann, day.start - timedelta(days=7), "500.00", product=shirt)  # a week before
    place(us_customer(), day.start + timedelta(hours=12), "77.00")  # the US market
    return {"shirt": shirt, "coat": coat}


def test_report_figures_top_products_and_comparison(kg_sales):
    report = daily_report_build(market="KG", report_date=DAY)

    assert (report.currency, report.revenue, report.orders_count, report.items_sold) == (
        "KGS",
        Decimal("4000.00"),
        2,
        5,
    )
    assert report.average_order_value == Decimal("2000.00")
    assert (report.cancelled_count, report.new_customers) == (1, 1)  # ann bought before
    assert [p["name"] for p in report.top_products["by_revenue"]] == ["Coat", "Shirt"]
    assert [(p["name"], p["units"]) for p in report.top_products["by_units"]] == [
        ("Shirt", 4),
        ("Coat", 1),
    ]
    previous = report.comparison["previous_day"]
    assert (previous["date"], previous["revenue"], previous["revenue_change_percent"]) == (
        "2026-11-22",
        "2000.00",
        "100.00",
    )
    last_week = report.comparison["same_weekday_last_week"]
    assert (last_week["date"], last_week["revenue"], last_week["revenue_change_percent"]) == (
        "2026-11-16",
        "500.00",
        "700.00",
    )
    assert report.emailed_at is None


def test_recipients_manage_the_market_see_money_and_asked(managers):
    assert set(report_recipients("KG")) == {
        managers[k] for k in ("admin", "kg", "kg_other_address", "kg_no_email")
    }
    assert set(report_recipients("US")) == {managers["admin"], managers["us"]}


def test_the_report_is_emailed_to_each_recipient_once(kg_sales, managers):
    send_daily_report("KG", DAY.isoformat())
    report = DailyReport.objects.get(market="KG", report_date=DAY)

    assert sorted(m.to[0] for m in mail.outbox) == [
        "admin@example.com",
        "kg@example.com",
        "reports@example.com",  # report_email wins over the user's e-mail
    ]
    message = mail.outbox[0]
    assert "KG daily report 2026-11-23: 4000.00 KGS" in message.subject
    assert "Revenue:          4000.00 KGS" in message.body
    assert "1. Coat: 3000.00 KGS, 1 units" in message.body
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    assert "<strong>4000.00</strong>" in html and "Shirt" in html
    notified = ManagerNotification.objects.filter(type="report_ready")
    assert set(notified.values_list("manager", flat=True)) == {
        managers[k].pk for k in ("admin", "kg", "kg_other_address", "kg_no_email")
    }
    assert notified.first().data["report_date"] == "2026-11-23"
    report.refresh_from_db()
    assert report.emailed_at is not None

    # Again, by every route: nothing more is sent, nothing changes.
    before = model_to_dict(report) | {"generated_at": report.generated_at}
    daily_report_send(report=report)
    send_daily_report("KG", DAY.isoformat())
    reports_rebuild(date_from=DAY, date_to=DAY, markets=["KG"], send_email=True)
    assert len(mail.outbox) == 3
    assert notified.count() == 4
    report.refresh_from_db()
    assert model_to_dict(report) | {"generated_at": report.generated_at} == before


def test_other_market_and_opted_out_managers_get_nothing(kg_sales, managers):
    send_daily_report("US", DAY.isoformat())
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@example.com", "us@example.com"]
    assert "77.00 USD" in mail.outbox[0].subject
    for key in ("kg", "kg_opted_out", "kg_no_money", "kg_inactive"):
        assert not managers[key].notifications.exists()


def test_the_scheduled_job_snapshots_then_reports(kg_sales, managers, monkeypatch):
    from django.utils import timezone

    # 00:15 on 24 November in Bishkek.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 23, 18, 15, tzinfo=UTC))
    assert snapshot_after_midnight("KG") == "2026-11-23"
    assert snapshot_after_midnight("KG") == "2026-11-23"
    report = DailyReport.objects.get(market="KG", report_date=DAY)
    assert report.revenue == Decimal("4000.00") and report.emailed_at is not None
    assert len(mail.outbox) == 3


def test_a_late_cancellation_refreshes_the_report_without_resending(kg_sales, managers):
    send_daily_report("KG", DAY.isoformat())
    coat_order = Order.objects.get(total=Decimal("3000.00"))
    Order.objects.filter(pk=coat_order.pk).update(status="cancelled")
    recompute_order_periods(coat_order.pk)
    report = DailyReport.objects.get(market="KG", report_date=DAY)
    assert (report.revenue, report.cancelled_count) == (Decimal("1000.00"), 2)
    assert len(mail.outbox) == 3


def test_reports_rebuild_without_email(kg_sales, managers):
    assert reports_rebuild(date_from=DAY - timedelta(days=2), date_to=DAY) == 6
    assert DailyReport.objects.count() == 6
    assert not DailyReport.objects.filter(emailed_at__isnull=False).exists()
    assert mail.outbox == []


# --------------------------------------------------------------------------- delivery


class _Mailer:
    """Stands in for `EmailMultiAlternatives.send`: fails as told, else records to the outbox."""

    def __init__(self, monkeypatch, *, fail=lambda address, attempt: None):
        from django.core.mail import EmailMultiAlternatives

        self.attempts: list[str] = []
        self.fail = fail
        real = EmailMultiAlternatives.send

        def send(message, fail_silently=False):
            self.attempts.append(message.to[0])
            error = self.fail(message.to[0], len(self.attempts))
            if error is not None:
                raise error
            return real(message, fail_silently)

        monkeypatch.setattr(EmailMultiAlternatives, "send", send)


RECIPIENT_ADDRESSES = ["admin@example.com", "kg@example.com", "reports@example.com"]


def _outbox():
    return sorted(m.to[0] for m in mail.outbox)


@pytest.fixture
def eager_retries(monkeypatch):
    """Run Celery's retries eagerly (at once) and record their countdowns.

    With `task_eager_propagates` an eager task's first retry escapes as `Retry`;
    without it `apply()` runs the retries in turn, as a worker would.
    """
    from main.celery import app

    # The Django-namespaced key is the one Celery reads here (CELERY_ settings).
    propagates = app.conf.task_eager_propagates
    app.conf.CELERY_TASK_EAGER_PROPAGATES = False
    countdowns: list[int] = []
    task = app.tasks["store_manager.tasks.send_daily_report"]
    retry = task.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return retry(*args, **kwargs)

    monkeypatch.setattr(task, "retry", recording_retry)
    yield countdowns
    app.conf.CELERY_TASK_EAGER_PROPAGATES = propagates


def test_the_report_task_retries_while_the_mail_server_is_down(
    kg_sales, managers, monkeypatch, eager_retries
):
    mailer = _Mailer(
        monkeypatch,
        fail=lambda address, attempt: ConnectionRefusedError() if attempt <= 6 else None,
    )
    result = send_daily_report.apply(args=("KG", DAY.isoformat()))

    assert result.successful() and result.result == 3
    assert eager_retries == [120, 240]  # two failed rounds, then it went through
    assert _outbox() == RECIPIENT_ADDRESSES  # each once
    assert len(mailer.attempts) == 9
    report = DailyReport.objects.get(market="KG", report_date=DAY)
    assert report.emailed_at is not None
    assert ManagerNotification.objects.filter(type="report_ready").count() == 4


def test_the_report_task_gives_up_after_about_an_hour_of_retries(
    kg_sales, managers, monkeypatch, eager_retries
):
    mailer = _Mailer(monkeypatch, fail=lambda address, attempt: ConnectionRefusedError())
    result = send_daily_report.apply(args=("KG", DAY.isoformat()))

    assert result.failed() and isinstance(result.result, ReportDeliveryError)
    # 2 and 4 minutes, then every 5 (never beyond the broker's visibility timeout);
    # the fourteenth is refused.
    assert eager_retries == [120, 240] + [300] * 12
    assert sum(eager_retries[:-1]) >= 3600
    assert len(mailer.attempts) == 3 * 14  # the first run and thirteen retries
    report = DailyReport.objects.get(market="KG", report_date=DAY)
    assert report.emailed_at is None  # left for the next nights
    # Only the manager without an address was served (the notification is all they get).
    assert list(
        ManagerNotification.objects.filter(type="report_ready").values_list("manager", flat=True)
    ) == [managers["kg_no_email"].pk]


def test_a_failed_address_is_retried_alone(kg_sales, managers, monkeypatch):
    report = daily_report_build(market="KG", report_date=DAY)
    down = {"kg@example.com"}
    _Mailer(monkeypatch, fail=lambda address, attempt: OSError() if address in down else None)
    with pytest.raises(ReportDeliveryError):
        daily_report_send(report=report)
    assert _outbox() == ["admin@example.com", "reports@example.com"]
    assert not managers["kg"].notifications.exists()
    report.refresh_from_db()
    assert report.emailed_at is None

    down.clear()
    assert daily_report_send(report=report) == 1
    assert _outbox() == RECIPIENT_ADDRESSES
    report.refresh_from_db()
    assert report.emailed_at is not None
    assert daily_report_send(report=report) == 0


class _WorkerKilled(BaseException):
    """Not an Exception: nothing in the service catches it, like a killed process."""


def test_a_worker_killed_mid_delivery_sends_nobody_twice_and_loses_no_report(
    kg_sales, managers, monkeypatch
):
    report = daily_report_build(market="KG", report_date=DAY)
    mailer = _Mailer(
        monkeypatch, fail=lambda address, attempt: _WorkerKilled() if attempt == 2 else None
    )
    with pytest.raises(_WorkerKilled):
        daily_report_send(report=report)
    assert _outbox() == ["admin@example.com"]

    # The task is redelivered: the recipients not reached yet get it, nobody gets it twice.
    daily_report_send(report=report)
    assert _outbox() == ["admin@example.com", "reports@example.com"]
    assert mailer.attempts == ["admin@example.com", "kg@example.com", "reports@example.com"]
    report.refresh_from_db()
    assert report.emailed_at is not None
    # The one e-mail in flight when the worker died is lost, not sent twice; its
    # recipient has the in-app notification.
    assert managers["kg"].notifications.filter(type="report_ready").count() == 1
    daily_report_send(report=report)
    assert len(mail.outbox) == 2


def test_the_nightly_run_delivers_reports_an_outage_left_behind(kg_sales, managers, monkeypatch):
    from django.utils import timezone

    for day in (DAY - timedelta(days=2), DAY - timedelta(days=9)):
        daily_report_build(market="KG", report_date=day)  # built, never e-mailed
    # 00:15 on 24 November in Bishkek.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 23, 18, 15, tzinfo=UTC))
    snapshot_after_midnight("KG")

    sent = DailyReport.objects.filter(emailed_at__isnull=False)
    assert sorted(sent.values_list("report_date", flat=True)) == [DAY - timedelta(days=2), DAY]
    assert len(mail.outbox) == 6
    assert DailyReport.objects.get(report_date=DAY - timedelta(days=9)).emailed_at is None
    snapshot_after_midnight("KG")
    assert len(mail.outbox) == 6


# --------------------------------------------------------------------------- recipients


def test_a_manager_without_settings_gets_the_defaults(kg_sales):
    def bare(email, **flags):
        return StoreManager.objects.create(user=UserFactory(email=email), **flags)

    plain = bare("plain@example.com", can_manage_kg=True, can_view_revenue=True)
    bare("nomoney@example.com", can_manage_kg=True)  # still needs can_view_revenue
    bare("us@example.com", can_manage_us=True, can_view_revenue=True)
    assert not ManagerSettings.objects.exists()
    assert list(report_recipients("KG")) == [plain]

    send_daily_report("KG", DAY.isoformat())
    assert _outbox() == ["plain@example.com"]
    assert "KG daily report 2026-11-23" in mail.outbox[0].subject
    assert plain.notifications.filter(type="report_ready").count() == 1


# --------------------------------------------------------------------------- late changes


def test_a_late_change_refreshes_the_reports_that_show_that_day():
    ann, bek = kg_customer(), kg_customer()
    first = place(ann, date_range_bounds("KG", DAY, DAY).start + timedelta(hours=1), "1000.00")
    again = DAY + timedelta(days=3)
    place(ann, date_range_bounds("KG", again, again).start + timedelta(hours=1), "300.00")
    place(bek, date_range_bounds("KG", DAY, DAY).start + timedelta(hours=2), "50.00")
    days = [DAY + timedelta(days=n) for n in (0, 1, 2, 3, 4, 7)]
    for day in days:
        daily_report_build(market="KG", report_date=day)

    Order.objects.filter(pk=first.pk).update(status="cancelled")
    recompute_order_periods(first.pk)

    reports = {r.report_date: r for r in DailyReport.objects.filter(market="KG")}
    assert sorted(reports) == days  # none created (D+10, the next order's D+7, is not there)
    assert reports[DAY].revenue == Decimal("50.00")
    assert reports[DAY + timedelta(days=1)].comparison["previous_day"]["revenue"] == "50.00"
    assert (
        reports[DAY + timedelta(days=7)].comparison["same_weekday_last_week"]["revenue"] == "50.00"
    )
    assert reports[again].new_customers == 1  # ann's first order is the one of D+3 now
    assert reports[again + timedelta(days=1)].comparison["previous_day"]["new_customers"] == 1
    assert not DailyReport.objects.filter(emailed_at__isnull=False).exists()
    assert mail.outbox == []
