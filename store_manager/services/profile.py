"""The manager's own profile and settings: active market, preferences (each change logged)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from main.exceptions import ApplicationError
from store_manager.models import ManagerSettings, StoreManager
from store_manager.permissions import may_manage
from store_manager.services.activity import Action, RequestMeta, activity_log_write


class MarketNotPermitted(ApplicationError):
    status_code = 403
    code = "permission_denied"
    default_detail = "You may not manage that market."


@transaction.atomic
def manager_market_switch(*, manager: StoreManager, market: str, meta: RequestMeta) -> StoreManager:
    """Make `market` the manager's active market (403 unless it may manage it)."""
    if not may_manage(manager, market):
        raise MarketNotPermitted()
    before = manager.active_market
    if before == market:
        return manager
    manager.active_market = market
    manager.full_clean(validate_unique=False, exclude=["user"])
    manager.save(update_fields=["active_market", "updated_at"])
    activity_log_write(
        manager=manager,
        action=Action.MARKET_SWITCHED,
        market=market,
        meta=meta,
        object_type="store_manager",
        object_id=str(manager.pk),
        description=f"Active market {before} → {market}",
        before={"active_market": before},
        after={"active_market": market},
    )
    return manager


def manager_settings_get(*, manager: StoreManager) -> ManagerSettings:
    """The manager's settings; the defaults (saved) if it has none yet."""
    manager_settings, _ = ManagerSettings.objects.get_or_create(manager=manager)
    return manager_settings


@transaction.atomic
def manager_settings_update(
    *, manager: StoreManager, meta: RequestMeta, **fields: Any
) -> ManagerSettings:
    """Change the manager's own settings; logs the fields that changed (nothing if none)."""
    manager_settings = manager_settings_get(manager=manager)
    before, after = {}, {}
    for name, value in fields.items():
        old = getattr(manager_settings, name)
        if old != value:
            before[name], after[name] = old, value
            setattr(manager_settings, name, value)
    if not after:
        return manager_settings
    manager_settings.full_clean(exclude=["manager"])
    manager_settings.save(update_fields=[*after, "updated_at"])
    activity_log_write(
        manager=manager,
        action=Action.SETTINGS_CHANGED,
        market=manager.active_market,
        meta=meta,
        object_type="manager_settings",
        object_id=str(manager_settings.pk),
        description=f"Settings changed: {', '.join(sorted(after))}",
        before=before,
        after=after,
    )
    return manager_settings
