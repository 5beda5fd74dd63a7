from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.contrib.auth.forms import UserCreationForm as DjangoUserCreationForm
from django.core.exceptions import ValidationError

from main.exceptions import ApplicationError
from main.markets import parse_phone
from users.models import User


class _PhoneCleaningMixin:
    def clean_phone(self):
        try:
            parsed = parse_phone(self.cleaned_data["phone"])
        except ApplicationError as exc:
            raise ValidationError(exc.detail) from exc
        self.instance.market = parsed.market
        return parsed.e164


class UserCreationForm(_PhoneCleaningMixin, DjangoUserCreationForm):
    class Meta:
        model = User
        fields = ("phone",)


class UserChangeForm(_PhoneCleaningMixin, DjangoUserChangeForm):
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
