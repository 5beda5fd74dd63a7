"""Routes of the manager API, mounted at /api/v1/manager/ (docs/MANAGER_API.md).

`orders/export/` and `orders/bulk-status/` come before `orders/<order_number>/`
so that they are never read as order numbers; `returns/products/` can never be
read as a return number (`<return_number:…>` needs the `R-` prefix). Every route
needs a rule in the permission matrix test
(store_manager/tests/test_permissions_matrix.py).
"""

from django.urls import path

from main import converters  # noqa: F401 (registers the <order_number:…> etc. converters)
from store_manager.api import returns, views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="manager-me"),
    path("settings/", views.SettingsView.as_view(), name="manager-settings"),
    path("dashboard/", views.DashboardView.as_view(), name="manager-dashboard"),
    path("orders/", views.OrderListView.as_view(), name="manager-orders"),
    path("orders/export/", views.OrderExportView.as_view(), name="manager-orders-export"),
    path(
        "orders/bulk-status/",
        views.OrderBulkStatusView.as_view(),
        name="manager-orders-bulk-status",
    ),
    path(
        "orders/<order_number:order_number>/",
        views.OrderDetailView.as_view(),
        name="manager-order-detail",
    ),
    path(
        "orders/<order_number:order_number>/status/",
        views.OrderStatusView.as_view(),
        name="manager-order-status",
    ),
    path(
        "orders/<order_number:order_number>/cancel/",
        views.OrderCancelView.as_view(),
        name="manager-order-cancel",
    ),
    path(
        "orders/<order_number:order_number>/resume/",
        views.OrderResumeView.as_view(),
        name="manager-order-resume",
    ),
    path(
        "orders/<order_number:order_number>/refund/",
        views.OrderRefundView.as_view(),
        name="manager-order-refund",
    ),
    path("returns/", returns.ReturnListView.as_view(), name="manager-returns"),
    path(
        "returns/products/",
        returns.ReturnRateListView.as_view(),
        name="manager-return-rates",
    ),
    path(
        "returns/<return_number:return_number>/",
        returns.ReturnDetailView.as_view(),
        name="manager-return-detail",
    ),
    path(
        "returns/<return_number:return_number>/approve/",
        returns.ReturnApproveView.as_view(),
        name="manager-return-approve",
    ),
    path(
        "returns/<return_number:return_number>/reject/",
        returns.ReturnRejectView.as_view(),
        name="manager-return-reject",
    ),
    path(
        "returns/<return_number:return_number>/receive/",
        returns.ReturnReceiveView.as_view(),
        name="manager-return-receive",
    ),
    path(
        "returns/<return_number:return_number>/refund/",
        returns.ReturnRefundView.as_view(),
        name="manager-return-refund",
    ),
    path("revenue/", views.RevenueView.as_view(), name="manager-revenue"),
    path("revenue/hourly/", views.RevenueHourlyView.as_view(), name="manager-revenue-hourly"),
    path("reports/", views.ReportListView.as_view(), name="manager-reports"),
    path(
        "reports/<isodate:report_date>/",
        views.ReportDetailView.as_view(),
        name="manager-report-detail",
    ),
    path("notifications/", views.NotificationListView.as_view(), name="manager-notifications"),
    path(
        "notifications/read-all/",
        views.NotificationReadAllView.as_view(),
        name="manager-notifications-read-all",
    ),
    path(
        "notifications/unread-count/",
        views.NotificationUnreadCountView.as_view(),
        name="manager-notifications-unread-count",
    ),
    path(
        "notifications/<int:pk>/read/",
        views.NotificationReadView.as_view(),
        name="manager-notification-read",
    ),
    path("activity/", views.ActivityListView.as_view(), name="manager-activity"),
]
