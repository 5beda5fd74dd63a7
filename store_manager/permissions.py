"""Who may do what in the manager API (SPEC §2, §5; docs/MANAGER_API.md).

The rules live here and nowhere else:

* a request needs an authenticated user with an active `StoreManager`
  (anyone else: 403 `permission_denied`, anonymous: 401);
* role `admin` has every permission and manages both markets, whatever its flags;
* role `manager` has exactly its flags and manages the markets of
  `can_manage_kg` / `can_manage_us`;
* role `viewer` never changes orders or store data: the write flags
  (`can_edit_orders`, `can_cancel_orders`) are off whatever is stored; its
  read flags (orders, revenue, export) and markets count as stored;
* the active market must be one the manager may manage; otherwise only the
  endpoints that are not about a market (profile, settings, notifications) answer.

Views never test flags themselves: they list the named classes below, and the
base view (`store_manager.api.base.ManagerAPIView`) always puts
`IsActiveStoreManager` and `ManagesActiveMarket` in front of them.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from main.markets import Market
from store_manager.models import StoreManager

Role = StoreManager.Role

# Flags a viewer never has, whatever is stored: they change orders.
WRITE_FLAGS: frozenset[str] = frozenset({"can_edit_orders", "can_cancel_orders", "can_refund"})
FLAGS: tuple[str, ...] = (
    "can_view_orders",
    "can_edit_orders",
    "can_cancel_orders",
    "can_view_revenue",
    "can_export_data",
    "can_refund",
)
_MARKET_FLAGS: dict[str, str] = {Market.KG: "can_manage_kg", Market.US: "can_manage_us"}


def manager_has(manager: StoreManager, flag: str) -> bool:
    """The effective value of one permission flag (role first, then the stored flag)."""
    if flag not in FLAGS:
        raise ValueError(f"Unknown manager permission {flag!r}.")
    if manager.role == Role.ADMIN:
        return True
    if manager.role == Role.VIEWER and flag in WRITE_FLAGS:
        return False
    return bool(getattr(manager, flag))


def effective_permissions(manager: StoreManager) -> dict[str, bool]:
    """Every flag as the API applies it: what the frontend uses to hide buttons."""
    return {flag: manager_has(manager, flag) for flag in FLAGS}


def manageable_markets(manager: StoreManager) -> list[str]:
    """The markets this manager may switch to (admin: all)."""
    if manager.role == Role.ADMIN:
        return list(Market.values)
    return [market for market, flag in _MARKET_FLAGS.items() if getattr(manager, flag)]


def may_manage(manager: StoreManager, market: str) -> bool:
    return market in manageable_markets(manager)


def active_store_manager(user) -> StoreManager | None:
    """The active StoreManager of `user`, or None (customers, inactive managers)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    manager = StoreManager.objects.filter(user_id=user.pk, is_active=True).first()
    if manager is not None:
        manager.user = user  # already loaded by authentication: no second query
    return manager


# --- DRF permission classes --------------------------------------------------------


class IsActiveStoreManager(BasePermission):
    """An authenticated user with an active StoreManager; sets `request.store_manager`.

    Anonymous requests fail authentication first (401 `not_authenticated`).
    """

    message = "Only active store managers may use the manager API."

    def has_permission(self, request, view) -> bool:
        if not getattr(request, "user", None) or not request.user.is_authenticated:
            return False
        if not hasattr(request, "store_manager"):
            request.store_manager = active_store_manager(request.user)
        return request.store_manager is not None


class ManagesActiveMarket(BasePermission):
    """The manager's active market is one it may manage (SPEC §2, market switcher)."""

    message = "You may not manage your active market; switch market in manager/me/."

    def has_permission(self, request, view) -> bool:
        manager = getattr(request, "store_manager", None)
        return manager is not None and may_manage(manager, manager.active_market)


class _HasFlag(BasePermission):
    flag: str = ""

    @property
    def message(self) -> str:
        return f"This needs the `{self.flag}` permission."

    def has_permission(self, request, view) -> bool:
        manager = getattr(request, "store_manager", None)
        return manager is not None and manager_has(manager, self.flag)


class CanViewOrders(_HasFlag):
    flag = "can_view_orders"


class CanEditOrders(_HasFlag):
    flag = "can_edit_orders"


class CanCancelOrders(_HasFlag):
    flag = "can_cancel_orders"


class CanViewRevenue(_HasFlag):
    flag = "can_view_revenue"


class CanExportData(_HasFlag):
    flag = "can_export_data"


class CanRefund(_HasFlag):
    flag = "can_refund"


class IsManagerAdmin(BasePermission):
    """Role admin (used for reads that widen to every manager, e.g. the activity log)."""

    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        manager = getattr(request, "store_manager", None)
        return manager is not None and manager.role == Role.ADMIN
