from __future__ import annotations

import contextlib

from django.contrib.auth.base_user import BaseUserManager

from main.exceptions import ApplicationError
from main.markets import market_config, parse_phone


class UserManager(BaseUserManager):
    """Users are created from a phone number; the market follows from it."""

    use_in_migrations = True

    def _create_user(self, phone: str, password: str | None, **extra_fields):
        parsed = parse_phone(phone)
        # The market always follows the phone: a caller cannot contradict it.
        extra_fields["market"] = parsed.market
        extra_fields.setdefault("language", market_config(parsed.market).default_language)
        if email := extra_fields.get("email"):
            extra_fields["email"] = self.normalize_email(email)
        user = self.model(phone=parsed.e164, **extra_fields)
        if password:
            user.set_password(password)
        else:
            # Customers sign in with one-time SMS codes, never a password.
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, phone: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(phone, password, **extra_fields)

    def create_superuser(self, phone: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        if not password:
            raise ValueError("A superuser needs a password to sign in to the admin.")
        return self._create_user(phone, password, **extra_fields)

    def get_by_natural_key(self, username):
        """Admin sign-in accepts any spelling of the phone ("+996 700 12-34-56")."""
        with contextlib.suppress(ApplicationError):  # not a phone: the lookup fails normally
            username = parse_phone(username).e164
        return super().get_by_natural_key(username)
