"""Customer order routes (orders/), mounted at /api/v1/."""

from django.urls import path

from main import converters  # noqa: F401 (registers <order_number:…>)
from orders.api import views, webhooks

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
    path(
        "payments/stripe/webhook/",
        webhooks.StripeWebhookView.as_view(),
        name="payments-stripe-webhook",
    ),
]
