"""Customer order routes (orders/), mounted at /api/v1/."""

from django.urls import path

from main import converters  # noqa: F401 (registers <order_number:…>, <return_number:…>)
from orders.api import return_views, views, webhooks

urlpatterns = [
    path("orders/", views.OrderListView.as_view(), name="orders"),
    path(
        "orders/<order_number:order_number>/", views.OrderDetailView.as_view(), name="order-detail"
    ),
    path(
        "orders/<order_number:order_number>/cancel/",
        views.OrderCancelView.as_view(),
        name="order-cancel",
    ),
    path(
        "orders/<order_number:order_number>/payment/",
        views.OrderPaymentView.as_view(),
        name="order-payment",
    ),
    path("returns/", return_views.ReturnListView.as_view(), name="returns"),
    path(
        "returns/<return_number:return_number>/",
        return_views.ReturnDetailView.as_view(),
        name="return-detail",
    ),
    path(
        "returns/<return_number:return_number>/cancel/",
        return_views.ReturnCancelView.as_view(),
        name="return-cancel",
    ),
    path(
        "payments/stripe/webhook/",
        webhooks.StripeWebhookView.as_view(),
        name="payments-stripe-webhook",
    ),
]
