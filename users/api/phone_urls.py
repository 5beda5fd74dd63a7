"""Routes of the phone change, mounted at /api/v1/users/me/phone/."""

from django.urls import path

from users.api.auth_views import PhoneChangeConfirmView, PhoneChangeRequestView

urlpatterns = [
    path("", PhoneChangeRequestView.as_view(), name="phone-change"),
    path("confirm/", PhoneChangeConfirmView.as_view(), name="phone-change-confirm"),
]
