"""Input and output shapes of the sign-in endpoints (auth/…) and the phone change."""

from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenRefreshSerializer

from users.models import User
from users.services.auth import token_refresh

_code_field = {
    "min_length": 6,
    "max_length": 6,
    "validators": [RegexValidator(r"^[0-9]{6}$", "Enter the 6-digit code from the SMS.")],
}


class OTPRequestInput(serializers.Serializer):
    phone = serializers.CharField(
        max_length=32, help_text="International format, e.g. +996700123456."
    )


class OTPRequestOutput(serializers.Serializer):
    detail = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the code stays valid.")
    resend_in = serializers.IntegerField(help_text="Seconds before another code may be requested.")


class OTPVerifyInput(serializers.Serializer):
    phone = serializers.CharField(max_length=32)
    code = serializers.CharField(**_code_field)


class AuthUserOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "phone", "market", "first_name", "last_name", "email", "language")
        read_only_fields = fields


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = AuthUserOutput()
    is_new_user = serializers.BooleanField()


class RotatingTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, made race-safe: the service locks the outstanding token row."""

    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs):
        return token_refresh(refresh=attrs["refresh"])


class TokenRefreshOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LogoutInput(serializers.Serializer):
    refresh = serializers.CharField()


class PhoneChangeInput(serializers.Serializer):
    phone = serializers.CharField(max_length=32)


class PhoneChangeConfirmInput(serializers.Serializer):
    phone = serializers.CharField(max_length=32)
    code = serializers.CharField(**_code_field)
