"""Routes of the sign-in endpoints, mounted at /api/v1/auth/."""

from django.urls import path

from users.api.auth_views import LogoutView, OTPRequestView, OTPVerifyView, TokenRefreshView

urlpatterns = [
    path("otp/request/", OTPRequestView.as_view(), name="otp-request"),
    path("otp/verify/", OTPVerifyView.as_view(), name="otp-verify"),
    path("token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("logout/", LogoutView.as_view(), name="logout"),
]
