"""Manager API views (`/api/v1/manager/…`): parse, call one selector or service, respond.

Every view subclasses `ManagerAPIView` (store_manager/api/base.py), which owns
authentication, role and flag checks and the active market. See
docs/MANAGER_API.md for the contract. The analytics (dashboard, revenue, reports)
and the CSV export read the replica (`ReplicaReadsMixin`, docs/REPLICA.md); orders,
notifications and everything a manager acts on read the primary.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework.response import Response

from main.db_router import ReplicaReadsMixin
from main.markets import market_config
from main.pagination import paginated_response
from store_manager import analytics
from store_manager.api import serializers as s
from store_manager.api.base import ManagerAPIView, parsed_body, parsed_query
from store_manager.permissions import (
    CanCancelOrders,
    CanEditOrders,
    CanExportData,
    CanRefund,
    CanViewOrders,
    CanViewRevenue,
    effective_permissions,
    manageable_markets,
    manager_has,
)
from store_manager.selectors.activity import manager_activity_list
from store_manager.selectors.dashboard import manager_dashboard
from store_manager.selectors.notifications import (
    manager_notification_get,
    manager_notification_list,
    manager_notification_unread_count,
)
from store_manager.selectors.orders import (
    ORDER_ORDERINGS,
    OrderFilters,
    manager_order_get,
    manager_order_list,
)
from store_manager.selectors.reports import manager_report_get, manager_report_list
from store_manager.selectors.revenue import manager_revenue, manager_revenue_hourly
from store_manager.services.activity import Action
from store_manager.services.export import manager_orders_export
from store_manager.services.notifications import (
    manager_notification_mark_all_read,
    manager_notification_mark_read,
)
from store_manager.services.orders import (
    manager_order_bulk_status,
    manager_order_cancel,
    manager_order_refund,
    manager_order_resume,
    manager_order_status_change,
)
from store_manager.services.profile import (
    manager_market_switch,
    manager_settings_get,
    manager_settings_update,
)

TAGS = ["manager"]
_PRIORITIES = ["low", "normal", "high", "urgent"]
_ORDER_NUMBER = OpenApiParameter("order_number", OpenApiTypes.STR, OpenApiParameter.PATH)
_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
_REPORT_DATE = OpenApiParameter(
    "report_date",
    OpenApiTypes.DATE,
    OpenApiParameter.PATH,
    description="Market date (YYYY-MM-DD).",
)


# --------------------------------------------------------------------------- profile, settings


class MeView(ManagerAPIView):
    """The signed-in manager: role, effective permissions, markets, active market."""

    market_scoped = False  # a manager whose market was taken away must still switch

    def _output(self):
        manager = self.manager
        config = market_config(manager.active_market)
        markets = manageable_markets(manager)
        user = manager.user
        return s.ManagerMeOutput(
            {
                "id": manager.pk,
                "user_id": user.pk,
                "phone": user.phone,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "email": user.email or "",
                "role": manager.role,
                "active_market": manager.active_market,
                "active_market_permitted": manager.active_market in markets,
                "markets": markets,
                "currency": config.currency,
                "time_zone": config.time_zone.key,
                "permissions": effective_permissions(manager),
            }
        ).data

    @extend_schema(
        summary="You: role, permissions, markets and the active market",
        responses=s.ManagerMeOutput,
        tags=TAGS,
    )
    def get(self, request):
        return Response(self._output())

    @extend_schema(
        summary="Switch the active market",
        request=s.ManagerMeUpdateInput,
        responses=s.ManagerMeOutput,
        tags=TAGS,
        description="Switch the active market (403 `permission_denied` for a market "
        "the manager may not manage). Logged as `market_switched`.",
    )
    def patch(self, request):
        data = parsed_body(s.ManagerMeUpdateInput, request)
        manager_market_switch(
            manager=self.manager, market=data.validated_data["active_market"], meta=self.meta
        )
        return Response(self._output())


class SettingsView(ManagerAPIView):
    """The manager's own settings. Any role may change them (logged as `settings_changed`)."""

    market_scoped = False

    @extend_schema(summary="Your settings", responses=s.ManagerSettingsSerializer, tags=TAGS)
    def get(self, request):
        return Response(
            s.ManagerSettingsSerializer(manager_settings_get(manager=self.manager)).data
        )

    @extend_schema(
        summary="Change your settings",
        description="Any role may; logged as `settings_changed`.",
        request=s.ManagerSettingsSerializer,
        responses=s.ManagerSettingsSerializer,
        tags=TAGS,
    )
    def patch(self, request):
        data = s.ManagerSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        manager_settings = manager_settings_update(
            manager=self.manager, meta=self.meta, **data.validated_data
        )
        return Response(s.ManagerSettingsSerializer(manager_settings).data)


# --------------------------------------------------------------------------- dashboard


def _money(value: Decimal, visible: bool) -> Decimal | None:
    return value if visible else None


def _day(figures, visible: bool) -> dict:
    return {
        "revenue": _money(figures.revenue, visible),
        "orders_count": figures.orders_count,
        "average_order_value": _money(figures.average_order_value, visible),
        "items_sold": figures.items_sold,
        "paid_amount": _money(figures.paid_amount, visible),
        "refunded_amount": _money(figures.refunded_amount, visible),
        "returns_count": figures.returns_count,  # a count, like orders_count: always shown
        "net_revenue": _money(figures.net_revenue, visible),
    }


class DashboardView(ReplicaReadsMixin, ManagerAPIView):
    """KPIs of the active market, today in its time zone."""

    @extend_schema(
        summary="Today's figures of the active market, against yesterday",
        responses=s.ManagerDashboardOutput,
        tags=TAGS,
        description="Money figures are null without `can_view_revenue`. "
        "See docs/MANAGER_API.md for each field.",
    )
    def get(self, request):
        board = manager_dashboard(manager=self.manager, market=self.market)
        visible = manager_has(self.manager, "can_view_revenue")
        today, yesterday = board.today, board.yesterday_same_time
        change = analytics.change_percent
        zone = analytics.market_zone(board.market)
        return Response(
            s.ManagerDashboardOutput(
                {
                    "market": board.market,
                    "currency": board.currency,
                    "date": board.date,
                    "generated_at": board.now,
                    "revenue_visible": visible,
                    "today": _day(today, visible),
                    "yesterday_same_time": _day(yesterday, visible),
                    "change_percent": {
                        "revenue": _money(change(today.revenue, yesterday.revenue), visible),
                        "orders_count": change(
                            Decimal(today.orders_count), Decimal(yesterday.orders_count)
                        ),
                        "average_order_value": _money(
                            change(today.average_order_value, yesterday.average_order_value),
                            visible,
                        ),
                        "items_sold": change(
                            Decimal(today.items_sold), Decimal(yesterday.items_sold)
                        ),
                    },
                    "pending_orders": board.pending_orders,
                    "last_7_days": [
                        {
                            "date": bucket.start.astimezone(zone).date(),
                            "revenue": _money(bucket.figures.revenue, visible),
                            "orders_count": bucket.figures.orders_count,
                            "items_sold": bucket.figures.items_sold,
                            "returns_count": bucket.figures.returns_count,
                            "net_revenue": _money(bucket.figures.net_revenue, visible),
                        }
                        for bucket in board.series
                    ],
                    "top_products": [
                        {**row, "revenue": row["revenue"] if visible else None}
                        for row in board.top_products
                    ],
                    "low_stock_threshold": board.low_stock_threshold,
                    "low_stock": board.low_stock,
                    "unread_notifications": board.unread_notifications,
                }
            ).data
        )


# --------------------------------------------------------------------------- orders


_ORDER_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Market date, included."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Market date, included."),
    OpenApiParameter("today", OpenApiTypes.BOOL, description="Created today (market time)."),
    OpenApiParameter("payment_method", OpenApiTypes.STR),
    OpenApiParameter("payment_status", OpenApiTypes.STR),
    OpenApiParameter("search", OpenApiTypes.STR, description="Order number, phone or name."),
    OpenApiParameter(
        "ordering",
        OpenApiTypes.STR,
        enum=[f"{sign}{f}" for f in ORDER_ORDERINGS for sign in ("-", "")],
    ),
]


class OrderListView(ManagerAPIView):
    manager_permissions = (CanViewOrders,)

    @extend_schema(
        parameters=[
            *_ORDER_FILTERS,
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses=s.ManagerOrderListOutput(many=True),
        tags=TAGS,
        summary="Orders of the active market: filtered, ordered, paginated",
    )
    def get(self, request):
        filters = parsed_query(s.ManagerOrderFilterInput, request).filters()
        orders = manager_order_list(market=self.market, filters=filters)
        return paginated_response(self, orders, s.ManagerOrderListOutput)


class OrderExportView(ReplicaReadsMixin, ManagerAPIView):
    """The filtered orders as CSV, one row per order item, streamed."""

    manager_permissions = (CanExportData,)

    @extend_schema(
        summary="The filtered orders as a CSV file",
        description="UTF-8 with BOM, one row per order item, streamed; logged as "
        "`orders_exported`.",
        parameters=_ORDER_FILTERS,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="UTF-8 CSV with BOM; one row per order item."
            )
        },
        tags=TAGS,
    )
    def get(self, request):
        filters = parsed_query(s.ManagerOrderFilterInput, request).filters()
        chunks = manager_orders_export(
            manager=self.manager, market=self.market, filters=filters, meta=self.meta
        )
        response = StreamingHttpResponse(
            (chunk.encode("utf-8") for chunk in chunks), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().astimezone(analytics.market_zone(self.market))
        name = f"orders-{self.market}-{stamp:%Y%m%d-%H%M}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response


class OrderDetailView(ManagerAPIView):
    manager_permissions = (CanViewOrders,)

    @extend_schema(
        summary="One order: customer, address, items and status history",
        parameters=[_ORDER_NUMBER],
        responses=s.ManagerOrderDetailOutput,
        tags=TAGS,
    )
    def get(self, request, order_number: str):
        order = manager_order_get(market=self.market, order_number=order_number)
        return Response(s.ManagerOrderDetailOutput(order, context={"request": request}).data)


class _OrderActionView(ManagerAPIView):
    def order(self, order_number: str):
        return manager_order_get(market=self.market, order_number=order_number)

    def respond(self, order):
        return Response(s.ManagerOrderStatusOutput(order).data)


class OrderStatusView(_OrderActionView):
    manager_permissions = (CanEditOrders,)
    error_statuses = {409}  # invalid_transition (main/schema.py)

    @extend_schema(
        summary="Move an order to its next status",
        parameters=[_ORDER_NUMBER],
        request=s.ManagerStatusInput,
        responses=s.ManagerOrderStatusOutput,
        tags=TAGS,
        description="Next pipeline status. `cancelled`/`pending` are not accepted here "
        "(400): use …/cancel/ and …/resume/. A move the status machine refuses is 409 "
        "`invalid_transition`.",
    )
    def post(self, request, order_number: str):
        data = parsed_body(s.ManagerStatusInput, request).validated_data
        order = manager_order_status_change(
            manager=self.manager,
            order=self.order(order_number),
            to_status=data["status"],
            note=data["note"],
            meta=self.meta,
        )
        return self.respond(order)


class OrderCancelView(_OrderActionView):
    manager_permissions = (CanCancelOrders,)
    error_statuses = {409}  # invalid_transition (main/schema.py)

    @extend_schema(
        summary="Cancel an order",
        description="Until it ships (else 409 `invalid_transition`); its stock goes back "
        "on sale and `reason` becomes `cancel_reason`.",
        parameters=[_ORDER_NUMBER],
        request=s.ManagerCancelInput,
        responses=s.ManagerOrderStatusOutput,
        tags=TAGS,
    )
    def post(self, request, order_number: str):
        data = parsed_body(s.ManagerCancelInput, request).validated_data
        order = manager_order_cancel(
            manager=self.manager,
            order=self.order(order_number),
            reason=data["reason"],
            meta=self.meta,
        )
        return self.respond(order)


class OrderResumeView(_OrderActionView):
    manager_permissions = (CanCancelOrders,)
    error_statuses = {409}  # invalid_transition, out_of_stock (main/schema.py)

    @extend_schema(
        summary="Resume a cancelled order",
        parameters=[_ORDER_NUMBER],
        request=s.ManagerResumeInput,
        responses=s.ManagerOrderStatusOutput,
        tags=TAGS,
        description="cancelled → pending, taking the stock again under lock "
        "(409 `out_of_stock` when it is gone).",
    )
    def post(self, request, order_number: str):
        data = parsed_body(s.ManagerResumeInput, request).validated_data
        order = manager_order_resume(
            manager=self.manager, order=self.order(order_number), note=data["note"], meta=self.meta
        )
        return self.respond(order)


class OrderRefundView(_OrderActionView):
    manager_permissions = (CanRefund,)
    # invalid, refund_exceeds_paid (400); not_refundable, payment_refused (409);
    # payment_provider_unavailable (503, always documented).
    error_statuses = {409}

    @extend_schema(
        summary="Refund a paid order, in part or in full",
        parameters=[_ORDER_NUMBER],
        request=s.ManagerRefundInput,
        responses=s.ManagerOrderDetailOutput,
        tags=TAGS,
        description="Needs `can_refund`. `amount` defaults to what was paid and not yet "
        "refunded; more is 400 `refund_exceeds_paid`, an unpaid order 409 `not_refundable`. "
        "A card is refunded through the provider (503 `payment_provider_unavailable` when it "
        "cannot be reached: nothing changed); a cash-on-delivery order records `method` cash "
        "or bank_transfer. Logged as `order_refunded`; the customer is notified. Answers the "
        "order with its `payment` block.",
    )
    def post(self, request, order_number: str):
        data = parsed_body(s.ManagerRefundInput, request).validated_data
        manager_order_refund(
            manager=self.manager,
            order=self.order(order_number),
            amount=data.get("amount"),
            reason=data["reason"],
            method=data.get("method"),
            meta=self.meta,
        )
        order = manager_order_get(market=self.market, order_number=order_number)
        return Response(s.ManagerOrderDetailOutput(order, context={"request": request}).data)


class OrderBulkStatusView(ManagerAPIView):
    manager_permissions = (CanEditOrders,)
    error_statuses = {404, 409}  # order numbers outside the market; invalid_transition

    @extend_schema(
        summary="Move several orders to one status, all or nothing",
        request=s.ManagerBulkStatusInput,
        responses=s.ManagerBulkStatusOutput,
        tags=TAGS,
        description="All or nothing: one refused transition (409, naming `order_number`) "
        "or an order number outside the active market (404, `order_numbers`) changes nothing.",
    )
    def post(self, request):
        data = parsed_body(s.ManagerBulkStatusInput, request).validated_data
        orders = manager_order_bulk_status(
            manager=self.manager,
            market=self.market,
            order_numbers=data["order_numbers"],
            to_status=data["status"],
            note=data["note"],
            meta=self.meta,
        )
        listed = manager_order_list(market=self.market, filters=OrderFilters()).filter(
            pk__in=[order.pk for order in orders]
        )
        by_pk = {order.pk: order for order in listed}
        return Response(
            s.ManagerBulkStatusOutput(
                {"updated": len(orders), "orders": [by_pk[order.pk] for order in orders]}
            ).data
        )


# --------------------------------------------------------------------------- revenue, reports


def _bucket_rows(report_buckets, market: str) -> list[dict]:
    zone = analytics.market_zone(market)
    return [
        {
            "start": bucket.start,
            "local_start": bucket.start.astimezone(zone).isoformat(),
            "figures": bucket.figures.__dict__,
            "source": bucket.source,
        }
        for bucket in report_buckets
    ]


def _revenue_output(report) -> dict:
    return s.ManagerRevenueOutput(
        {
            "market": report.market,
            "currency": report.currency,
            "period": report.period,
            "date_from": report.date_from,
            "date_to": report.date_to,
            "buckets": _bucket_rows(report.buckets, report.market),
            "totals": report.totals.__dict__,
            "previous_date_from": report.previous_date_from,
            "previous_date_to": report.previous_date_to,
            "previous_totals": report.previous_totals.__dict__,
            "change_percent": report.change_percent,
        }
    ).data


class RevenueView(ReplicaReadsMixin, ManagerAPIView):
    manager_permissions = (CanViewRevenue,)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "period", OpenApiTypes.STR, enum=["hourly", "daily", "weekly", "monthly"]
            ),
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="Default: 29 days ago."),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="Default: today."),
        ],
        responses=s.ManagerRevenueOutput,
        tags=TAGS,
        summary="Revenue of the active market by period, against the period before",
    )
    def get(self, request):
        data = parsed_query(s.ManagerRevenueInput, request).validated_data
        today = analytics.local_date(self.market, timezone.now())
        date_to = data.get("date_to") or today
        date_from = data.get("date_from") or min(date_to, today) - timedelta(days=29)
        if date_from > date_to:  # only date_from given, and after today
            message = "Must not be after date_to (today when not given)."
            raise drf_serializers.ValidationError({"date_from": [message]})
        report = manager_revenue(
            market=self.market, period=data["period"], date_from=date_from, date_to=date_to
        )
        return Response(_revenue_output(report))


class RevenueHourlyView(ReplicaReadsMixin, ManagerAPIView):
    manager_permissions = (CanViewRevenue,)

    @extend_schema(
        parameters=[
            OpenApiParameter("date", OpenApiTypes.DATE, description="Market date; default today.")
        ],
        responses=s.ManagerRevenueOutput,
        tags=TAGS,
        summary="Revenue of one market day, hour by hour",
    )
    def get(self, request):
        data = parsed_query(s.ManagerRevenueHourlyInput, request).validated_data
        day = data.get("date") or analytics.local_date(self.market, timezone.now())
        report = manager_revenue_hourly(market=self.market, day=day)
        return Response(_revenue_output(report))


class ReportListView(ReplicaReadsMixin, ManagerAPIView):
    manager_permissions = (CanViewRevenue,)

    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", OpenApiTypes.DATE),
            OpenApiParameter("date_to", OpenApiTypes.DATE),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses=s.ManagerReportOutput(many=True),
        tags=TAGS,
        summary="Daily reports of the active market, newest first",
    )
    def get(self, request):
        data = parsed_query(s.ManagerReportFilterInput, request).validated_data
        reports = manager_report_list(market=self.market, **data)
        return paginated_response(self, reports, s.ManagerReportOutput)


class ReportDetailView(ReplicaReadsMixin, ManagerAPIView):
    manager_permissions = (CanViewRevenue,)

    @extend_schema(
        summary="The daily report of one market date",
        parameters=[_REPORT_DATE],
        responses=s.ManagerReportOutput,
        tags=TAGS,
    )
    def get(self, request, report_date):
        report = manager_report_get(market=self.market, report_date=report_date)
        return Response(s.ManagerReportOutput(report).data)


# --------------------------------------------------------------------------- notifications


class NotificationListView(ManagerAPIView):
    market_scoped = False  # the manager's own messages, whatever its market

    @extend_schema(
        parameters=[
            OpenApiParameter("priority", OpenApiTypes.STR, enum=_PRIORITIES),
            OpenApiParameter("is_read", OpenApiTypes.BOOL),
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Only notifications created at or after this instant (ISO 8601): "
                "after a WebSocket reconnect, when the socket closed (docs/REALTIME.md).",
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses=s.ManagerNotificationOutput(many=True),
        tags=TAGS,
        summary="Your notifications, newest first",
    )
    def get(self, request):
        data = parsed_query(s.ManagerNotificationFilterInput, request).validated_data
        notifications = manager_notification_list(manager=self.manager, **data)
        return paginated_response(self, notifications, s.ManagerNotificationOutput)


class NotificationReadView(ManagerAPIView):
    market_scoped = False

    @extend_schema(
        summary="Mark a notification read",
        parameters=[_ID],
        request=None,
        responses=s.ManagerNotificationOutput,
        tags=TAGS,
    )
    def post(self, request, pk: int):
        notification = manager_notification_get(manager=self.manager, notification_id=pk)
        notification = manager_notification_mark_read(notification=notification)
        return Response(s.ManagerNotificationOutput(notification).data)


class NotificationReadAllView(ManagerAPIView):
    market_scoped = False

    @extend_schema(
        summary="Mark all your notifications read",
        request=None,
        responses=s.ManagerMarkedOutput,
        tags=TAGS,
    )
    def post(self, request):
        marked = manager_notification_mark_all_read(manager=self.manager)
        return Response(s.ManagerMarkedOutput({"marked": marked}).data)


class NotificationUnreadCountView(ManagerAPIView):
    market_scoped = False

    @extend_schema(
        summary="How many notifications are unread (the badge)",
        responses=s.ManagerCountOutput,
        tags=TAGS,
    )
    def get(self, request):
        count = manager_notification_unread_count(manager=self.manager)
        return Response(s.ManagerCountOutput({"count": count}).data)


# --------------------------------------------------------------------------- activity


class ActivityListView(ManagerAPIView):
    """The audit log of the active market: every manager's for an admin, one's own otherwise."""

    @extend_schema(
        parameters=[
            OpenApiParameter("manager", OpenApiTypes.INT, description="Admins only."),
            OpenApiParameter("action", OpenApiTypes.STR, enum=list(Action.ALL)),
            OpenApiParameter("object_type", OpenApiTypes.STR),
            OpenApiParameter("object_id", OpenApiTypes.STR),
            OpenApiParameter("date_from", OpenApiTypes.DATE),
            OpenApiParameter("date_to", OpenApiTypes.DATE),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses=s.ManagerActivityOutput(many=True),
        tags=TAGS,
        summary="The audit log of the active market, newest first",
        description="Every manager's entries for an admin, one's own otherwise.",
    )
    def get(self, request):
        data = dict(parsed_query(s.ManagerActivityFilterInput, request).validated_data)
        manager_id = data.pop("manager", None)
        entries = manager_activity_list(
            manager=self.manager, market=self.market, manager_id=manager_id, **data
        )
        return paginated_response(self, entries, s.ManagerActivityOutput)
