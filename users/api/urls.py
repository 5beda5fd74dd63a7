"""Routes of the account endpoints (users/me/...), mounted at /api/v1/users/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from users.api.views import AddressViewSet, MeView, NotificationViewSet, PaymentMethodViewSet

router = SimpleRouter()
router.register("me/addresses", AddressViewSet, basename="address")
router.register("me/payment-methods", PaymentMethodViewSet, basename="payment-method")
router.register("me/notifications", NotificationViewSet, basename="notification")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    *router.urls,
]
