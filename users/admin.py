from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import ValidationError

from main.admin_mixins import SuperuserOnlyAdminMixin, ViewOnlyAdminMixin, superuser_only_apps
from main.exceptions import ApplicationError
from main.markets import parse_phone
from users.models import Address, Notification, PaymentMethod, User, VerificationCode


def _phone_field():
    # Longer than E.164 so that "+996 700 12-34-56" reaches clean_phone, which normalises it.
    return forms.CharField(max_length=32, help_text="Any spelling; stored as E.164.")


class _PhoneCleaningMixin:
    def clean_phone(self):
        try:
            parsed = parse_phone(self.cleaned_data["phone"])
        except ApplicationError as exc:
            raise ValidationError(exc.detail) from exc
        self.instance.market = parsed.market
        return parsed.e164


# The admin's own creation form (Django 5.1+): it has the "usable_password" switch that
# UserAdmin.add_fieldsets names, so customers can be created without a password.
class UserCreationForm(_PhoneCleaningMixin, AdminUserCreationForm):
    phone = _phone_field()

    class Meta:
        model = User
        fields = ("phone",)


class UserChangeForm(_PhoneCleaningMixin, DjangoUserChangeForm):
    phone = _phone_field()

    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    ordering = ("-date_joined",)
    list_display = (
        "phone",
        "first_name",
        "last_name",
        "market",
        "is_staff",
        "is_active",
        "date_joined",
    )
    list_filter = ("market", "is_staff", "is_superuser", "is_active", "language")
    search_fields = ("phone", "first_name", "last_name", "email")
    date_hierarchy = "date_joined"
    readonly_fields = ("market", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("phone", "password", "market")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email", "language")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("phone", "usable_password", "password1", "password2"),
            },
        ),
    )


@admin.register(VerificationCode)
class VerificationCodeAdmin(SuperuserOnlyAdminMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("phone", "purpose", "created_at", "expires_at", "attempts", "consumed_at")
    list_filter = ("purpose", ("consumed_at", admin.EmptyFieldListFilter))
    search_fields = ("phone", "requester_ip")
    date_hierarchy = "created_at"
    exclude = ("code_hash",)  # a keyed hash is of no use to a person
    readonly_fields = ("created_at",)


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = ("user", "label", "recipient_name", "city", "street", "building", "is_default")
    list_filter = ("user__market", "is_default", "city")
    list_select_related = ("user",)
    search_fields = ("user__phone", "recipient_name", "phone", "city", "street")
    autocomplete_fields = ("user",)


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    """Cards are saved by the provider flow; staff may only fix display facts or the default."""

    list_display = ("user", "provider", "brand", "last4", "exp_month", "exp_year", "is_default")
    list_filter = ("user__market", "provider", "brand", "is_default")
    list_select_related = ("user",)
    search_fields = ("user__phone", "last4", "holder_name")
    readonly_fields = ("user", "provider", "provider_token", "last4", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "type", "is_read", "created_at")
    list_filter = ("user__market", "type", "is_read")
    list_select_related = ("user",)
    search_fields = ("title", "body", "user__phone")
    date_hierarchy = "created_at"
    autocomplete_fields = ("user",)


# Login throttling (axes) and refresh tokens (simplejwt's blacklist) are internals: their
# admins, registered by apps listed before ours in INSTALLED_APPS, answer superusers only.
superuser_only_apps(admin.site, ("axes", "token_blacklist"))
