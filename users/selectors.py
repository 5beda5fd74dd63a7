"""Reads of the customer account. Every queryset starts from the signed-in user,
so another user's object is a 404 by construction."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from users.models import Address, Notification, PaymentMethod, User


def address_list(*, user: User) -> QuerySet[Address]:
    """The user's addresses, default first, then newest."""
    return Address.objects.filter(user=user).order_by("-is_default", "-created_at", "-pk")


def address_get(*, user: User, address_id: int) -> Address:
    return get_object_or_404(address_list(user=user), pk=address_id)


def payment_method_list(*, user: User) -> QuerySet[PaymentMethod]:
    """The user's saved cards, default first, then newest."""
    return PaymentMethod.objects.filter(user=user).order_by("-is_default", "-created_at", "-pk")


def payment_method_get(*, user: User, payment_method_id: int) -> PaymentMethod:
    return get_object_or_404(payment_method_list(user=user), pk=payment_method_id)


def notification_list(
    *, user: User, is_read: bool | None = None, since: datetime | None = None
) -> QuerySet[Notification]:
    """The user's notifications, newest first; optionally only read or unread ones, and
    only those created at or after `since` (a client catching up after a reconnect)."""
    queryset = Notification.objects.filter(user=user)
    if is_read is not None:
        queryset = queryset.filter(is_read=is_read)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    return queryset.order_by("-created_at", "-pk")


def notification_get(*, user: User, notification_id: int) -> Notification:
    return get_object_or_404(Notification.objects.filter(user=user), pk=notification_id)


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, is_read=False).count()
