"""Role groups for store staff in the admin (docs/ADMIN.md, "Roles").

A staff user is given one or more of these groups; what each may see and do is
the permissions below. Internals (login throttling, tokens, idempotency keys,
the outbox, carts, the listing read model, verification codes, provider
events) are in no group: their admins answer superusers only
(`main.admin_mixins.SuperuserOnlyAdminMixin`).

Reversing deletes the four groups (their memberships go with them).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CRUD = ("view", "add", "change", "delete")
VIEW = ("view",)
VIEW_CHANGE = ("view", "change")

# group -> app label -> model name -> actions
GROUPS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "Catalogue editor": {
        "products": {
            "product": CRUD,
            "category": CRUD,
            "subcategory": CRUD,
            "sku": CRUD,
            "productprice": CRUD,
            "productimage": CRUD,
            "productfeature": CRUD,
        },
        "banners": {"banner": CRUD},
    },
    # "change" on orders and returns only unlocks the status actions: every field of
    # their change pages is read-only and the page saves nothing (MovedByServiceAdminMixin).
    "Order desk": {
        "orders": {
            "order": VIEW_CHANGE,
            "orderitem": VIEW,
            "orderstatushistory": VIEW,
            "payment": VIEW,
            "refund": VIEW,
            "returnrequest": VIEW_CHANGE,
            "returnitem": VIEW,
            "returnimage": VIEW,
            "returnstatushistory": VIEW,
        },
    },
    "Support": {
        "users": {"user": VIEW, "address": VIEW, "notification": VIEW},
        "orders": {
            "order": VIEW,
            "orderitem": VIEW,
            "orderstatushistory": VIEW,
            "returnrequest": VIEW,
            "returnitem": VIEW,
            "returnimage": VIEW,
            "returnstatushistory": VIEW,
        },
        # Moderation: approve/unapprove (change) or remove; the words stay the customer's.
        "reviews": {"review": ("view", "change", "delete"), "reviewimage": ("view", "delete")},
    },
    "Analyst": {
        "store_manager": {
            "revenuesnapshot": VIEW,
            "dailyreport": VIEW,
            "manageractivitylog": VIEW,
        },
        "orders": {"order": VIEW, "orderitem": VIEW},
    },
}


def create_groups(apps, schema_editor):
    using = schema_editor.connection.alias
    # Permissions are made by post_migrate, after all migrations: make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, apps_models in GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        for app_label, models in apps_models.items():
            for model, actions in models.items():
                codenames = [f"{action}_{model}" for action in actions]
                permissions = Permission.objects.using(using).filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
                missing = set(codenames) - {p.codename for p in permissions}
                if missing:
                    raise RuntimeError(f"{app_label}: no permission {sorted(missing)}")
                group.permissions.add(*permissions)


def delete_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("store_manager", "0005_return_figures"),
        ("products", "0009_product_returned_size_counts"),
        ("orders", "0007_returns"),
        ("reviews", "0004_fill_product_returned_counts"),
        ("banners", "0001_initial"),
        ("users", "0005_notification_type_return"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
