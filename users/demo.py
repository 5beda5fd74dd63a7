"""Demo accounts for `manage.py seed_demo` (documented in README)."""

from __future__ import annotations

from users.models import User

# The one staff account of the demo store; change the password in any shared setup.
DEMO_ADMIN_PHONE = "+996700000001"
DEMO_ADMIN_PASSWORD = "marque-admin"


def seed_admin() -> User:
    user = User.objects.filter(phone=DEMO_ADMIN_PHONE).first()
    if user is None:
        user = User.objects.create_superuser(
            DEMO_ADMIN_PHONE, DEMO_ADMIN_PASSWORD, first_name="Demo", last_name="Admin"
        )
    return user
