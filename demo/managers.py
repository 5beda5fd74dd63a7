"""Demo store managers for `manage.py seed_demo`: one per role, each with settings.

Managers sign in to the dashboard with an SMS code (OTP) like everyone else;
they have no password. A manager is found again by phone; an existing one is
left as it is (a role or flag changed in the admin stays changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from main.markets import Market
from store_manager.models import ManagerSettings, StoreManager
from users.models import User

Role = StoreManager.Role

# Documented demo sign-in phones, one per role.
DEMO_STORE_ADMIN_PHONE = "+996700000002"  # role admin: every permission, KG and US
DEMO_STORE_MANAGER_PHONE = "+996700000003"  # role manager: runs the KG store
DEMO_STORE_VIEWER_PHONE = "+12125550199"  # role viewer: reads the US store (555-01xx: fiction)

DEMO_MANAGER_PHONES: dict[str, str] = {
    Role.ADMIN: DEMO_STORE_ADMIN_PHONE,
    Role.MANAGER: DEMO_STORE_MANAGER_PHONE,
    Role.VIEWER: DEMO_STORE_VIEWER_PHONE,
}


@dataclass(frozen=True)
class ManagerSpec:
    role: str
    first_name: str
    last_name: str
    email: str
    permissions: dict[str, bool]  # StoreManager flags
    active_market: str
    settings: dict[str, object] = field(default_factory=dict)  # ManagerSettings fields


DEMO_MANAGERS: tuple[ManagerSpec, ...] = (
    ManagerSpec(
        Role.ADMIN,
        "Asel",
        "Mamytova",
        "asel.admin@example.com",
        {
            "can_view_orders": True,
            "can_edit_orders": True,
            "can_cancel_orders": True,
            "can_view_revenue": True,
            "can_export_data": True,
            "can_manage_kg": True,
            "can_manage_us": True,
        },
        Market.KG,
        {"language": "ru", "default_dashboard_range": ManagerSettings.DashboardRange.LAST_30_DAYS},
    ),
    ManagerSpec(
        Role.MANAGER,
        "Timur",
        "Bekov",
        "timur.manager@example.com",
        {
            "can_view_orders": True,
            "can_edit_orders": True,
            "can_cancel_orders": True,
            "can_view_revenue": True,
            "can_export_data": True,
            "can_manage_kg": True,
            "can_manage_us": False,
        },
        Market.KG,
        {"language": "ru", "default_dashboard_range": ManagerSettings.DashboardRange.TODAY},
    ),
    ManagerSpec(
        Role.VIEWER,
        "Olivia",
        "Brooks",
        "olivia.viewer@example.com",
        {
            "can_view_orders": True,
            "can_edit_orders": False,
            "can_cancel_orders": False,
            "can_view_revenue": True,
            "can_export_data": False,
            "can_manage_kg": False,
            "can_manage_us": True,
        },
        Market.US,
        {"language": "en", "email_reports": False, "notify_cancellations": False},
    ),
)


def seed_managers() -> list[StoreManager]:
    """Create the missing demo managers (user, StoreManager, ManagerSettings), one per role."""
    managers = []
    for spec in DEMO_MANAGERS:
        phone = DEMO_MANAGER_PHONES[spec.role]
        user = User.objects.filter(phone=phone).first()
        if user is None:
            user = User.objects.create_user(
                phone, first_name=spec.first_name, last_name=spec.last_name, email=spec.email
            )
        manager, _ = StoreManager.objects.get_or_create(
            user=user,
            defaults={"role": spec.role, "active_market": spec.active_market, **spec.permissions},
        )
        ManagerSettings.objects.get_or_create(
            manager=manager, defaults={"report_email": spec.email, **spec.settings}
        )
        managers.append(manager)
    return managers
