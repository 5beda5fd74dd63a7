"""Role groups in the admin (store_manager migration 0006, docs/ADMIN.md "Roles").

A staff user in each group sees exactly its models on the index, internals answer
403 to anyone but a superuser (whatever a group was given), and the migration
reverses.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from axes.models import AccessAttempt
from django.apps import apps as global_apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from main.tests.test_admin import admin_url, make_everything
from orders.models import IdempotencyKey, Order, ProviderEvent, ReturnRequest
from outbox.models import OutboxMessage
from products.models import Cart, CartItem, Listing, ListingFacet, ListingTotal
from users.models import User, VerificationCode

pytestmark = pytest.mark.django_db

staff_groups = importlib.import_module("store_manager.migrations.0006_staff_groups")

CATALOGUE = {
    "products.product",
    "products.category",
    "products.subcategory",
    "products.sku",
    "products.productprice",
    "products.productimage",
    "products.productfeature",
    "banners.banner",
}
ORDER_PAGES = {"orders.order", "orders.orderitem", "orders.orderstatushistory"}
RETURN_PAGES = {
    "orders.returnrequest",
    "orders.returnitem",
    "orders.returnimage",
    "orders.returnstatushistory",
}
EXPECTED = {
    "Catalogue editor": CATALOGUE,
    "Order desk": ORDER_PAGES | RETURN_PAGES | {"orders.payment", "orders.refund"},
    "Support": ORDER_PAGES
    | RETURN_PAGES
    | {
        "users.user",
        "users.address",
        "users.notification",
        "reviews.review",
        "reviews.reviewimage",
    },
    "Analyst": {
        "store_manager.revenuesnapshot",
        "store_manager.dailyreport",
        "store_manager.manageractivitylog",
        "orders.order",
        "orders.orderitem",
    },
}
INTERNALS = (
    AccessAttempt,
    OutstandingToken,
    IdempotencyKey,
    OutboxMessage,
    Cart,
    CartItem,
    Listing,
    ListingFacet,
    ListingTotal,
    VerificationCode,
    ProviderEvent,
)


@pytest.fixture
def admin_user(db):
    """pytest-django's own admin_user passes phone="admin", which our manager refuses."""
    return User.objects.create_superuser("+996700000099", "pw-123456")


def staff_in(group_name: str, phone: str = "+996700000055") -> User:
    user = User.objects.create_user(phone, "pw-123456", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


def index_models(client) -> set[str]:
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {
        f"{app['app_label']}.{model['object_name'].lower()}"
        for app in response.context["app_list"]
        for model in app["models"]
    }


def test_the_migration_made_the_four_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= set(EXPECTED)


@pytest.mark.parametrize("group_name", sorted(EXPECTED))
def test_a_staff_user_in_a_group_sees_exactly_its_models(group_name, client):
    make_everything()
    client.force_login(staff_in(group_name))

    assert index_models(client) == EXPECTED[group_name]
    for label in EXPECTED[group_name]:
        model = global_apps.get_model(label)
        assert client.get(admin_url(model, "changelist")).status_code == 200, label
    for model in INTERNALS:
        assert client.get(admin_url(model, "changelist")).status_code == 403, model


def test_internals_stay_hidden_even_when_a_group_is_given_their_permissions(client):
    user = staff_in("Analyst")
    for model in INTERNALS:
        meta = model._meta
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label=meta.app_label).filter(
                codename__in=[f"{action}_{meta.model_name}" for action in ("view", "change")]
            )
        )
    client.force_login(user)

    assert not {f"{m._meta.app_label}.{m._meta.model_name}" for m in INTERNALS} & index_models(
        client
    )
    for model in INTERNALS:
        assert client.get(admin_url(model, "changelist")).status_code == 403, model
        assert not admin.site.get_model_admin(model).has_module_permission(
            type("Request", (), {"user": user})()
        )


def test_superusers_still_see_the_internals(admin_client):
    names = index_models(admin_client)
    for model in INTERNALS:
        assert f"{model._meta.app_label}.{model._meta.model_name}" in names
        assert admin_client.get(admin_url(model, "changelist")).status_code == 200


def test_the_order_desk_moves_orders_but_edits_no_field(client):
    order = make_everything()["order"]
    client.force_login(staff_in("Order desk"))

    changelist = client.get(admin_url(Order, "changelist"))
    actions = {name for name, _ in changelist.context["action_form"].fields["action"].choices}
    assert {"move_to_confirmed", "move_to_cancelled", "resume"} <= actions
    returns = client.get(admin_url(ReturnRequest, "changelist"))
    assert {"approve", "reject"} <= {
        name for name, _ in returns.context["action_form"].fields["action"].choices
    }

    page = client.get(admin_url(Order, "change", order.pk))
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}  # every field read-only
    assert 'name="payment_status"' not in page.content.decode()
    client.post(admin_url(Order, "change", order.pk), {"status": "cancelled", "total": "1"})
    order.refresh_from_db()
    assert (order.status, order.total) == ("pending", 1290)


def test_support_and_analyst_cannot_move_orders(client):
    make_everything()
    for phone, group_name in (("+996700000056", "Support"), ("+996700000057", "Analyst")):
        client.force_login(staff_in(group_name, phone))
        changelist = client.get(admin_url(Order, "changelist"))
        assert changelist.status_code == 200
        assert changelist.context["action_form"] is None or not {
            "move_to_confirmed",
            "resume",
        } & {name for name, _ in changelist.context["action_form"].fields["action"].choices}


def test_the_groups_migration_reverses_and_runs_again():
    # The migration's own functions on its historical models (as `migrate` runs them).
    state = MigrationExecutor(connection).loader.project_state(
        ("store_manager", "0006_staff_groups")
    )
    editor = SimpleNamespace(connection=connection)
    staff_groups.delete_groups(state.apps, editor)
    assert not Group.objects.filter(name__in=EXPECTED).exists()

    staff_groups.create_groups(state.apps, editor)
    staff_groups.create_groups(state.apps, editor)  # again: nothing doubles
    assert Group.objects.filter(name__in=EXPECTED).count() == len(EXPECTED)
    group = Group.objects.get(name="Order desk")
    assert set(group.permissions.values_list("codename", flat=True)) == {
        "view_order",
        "change_order",
        "view_orderitem",
        "view_orderstatushistory",
        "view_payment",
        "view_refund",
        "view_returnrequest",
        "change_returnrequest",
        "view_returnitem",
        "view_returnimage",
        "view_returnstatushistory",
    }
