import random
from decimal import Decimal
from io import StringIO
from itertools import pairwise

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from banners.models import Banner
from demo.managers import DEMO_MANAGER_PHONES
from demo.orders import _plan_statuses
from demo.users import DEMO_ADMIN_PHONE
from main.markets import CatalogMarket, parse_phone
from orders.models import Order
from products.models import SKU, Category, Product, ProductPrice
from products.services.images import renditions_current
from store_manager.models import RevenueSnapshot, StoreManager
from users.models import User

pytestmark = pytest.mark.django_db

PRICE_RANGE = {"KG": (Decimal("890"), Decimal("15900")), "US": (Decimal("12"), Decimal("260"))}


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, object]:
    """Every model's row count, and the updated_at of every row that has one."""
    state = {}
    for model in apps.get_models():
        state[model._meta.label] = model.objects.count()
        if any(field.name == "updated_at" for field in model._meta.fields):
            state[f"{model._meta.label}.updated_at"] = sorted(
                model.objects.values_list("pk", "updated_at")
            )
    return state


def test_small_seed_prices_products_in_each_market_in_its_currency():
    seed("--small")

    products = Product.objects.all()
    assert {product.market for product in products} == {"KG", "US", "ALL"}
    prices = ProductPrice.objects.all()
    assert {price.market for price in prices} == {"KG", "US"}
    for price in prices:
        assert price.currency == {"KG": "KGS", "US": "USD"}[price.market]
        low, high = PRICE_RANGE[price.market]
        assert low <= price.price <= high, price
        assert price.original_price is None or price.original_price >= price.price


def test_all_products_have_two_prices_and_single_market_products_one_in_their_market():
    seed("--small")

    for product in Product.objects.prefetch_related("prices"):
        markets = sorted(price.market for price in product.prices.all())
        if product.market == CatalogMarket.ALL:
            assert markets == ["KG", "US"], product
        else:
            assert markets == [product.market], product


def test_every_product_has_pictures_features_and_an_active_sku():
    seed("--small")

    for product in Product.objects.prefetch_related("skus", "images", "features"):
        assert product.brand and product.description
        assert product.main_image.name
        assert 2 <= len(product.images.all()) <= 4
        # Each gallery picture is tied to the SKU colour it is drawn in, and has its renditions
        # (written with bulk_create: no signal queued them, the seed made them inline).
        colours = {sku.color for sku in product.skus.all()}
        for image in product.images.all():
            assert image.color in colours, image
            assert renditions_current(image.image.name, image.renditions), image
            assert all(
                default_storage.exists(item["name"]) for item in image.renditions["renditions"]
            )
        assert {feature.name for feature in product.features.all()} >= {"Material", "Care"}
        assert any(sku.is_active for sku in product.skus.all()), product
        assert any(sku.stock > 0 for sku in product.skus.all()), product
    assert all(0 <= sku.stock <= 40 and sku.color_hex for sku in SKU.objects.all())


def test_small_seed_builds_banners_of_every_type():
    seed("--small")

    assert set(Banner.objects.values_list("banner_type", flat=True)) == set(Banner.Type.values)
    for banner in Banner.objects.all():
        assert banner.image.name
    category_banner = Banner.objects.get(banner_type=Banner.Type.CATEGORY)
    assert category_banner.category is not None


def test_one_active_store_manager_per_role_with_settings():
    seed("--small")

    managers = StoreManager.objects.select_related("user", "settings")
    assert sorted(manager.role for manager in managers) == sorted(StoreManager.Role.values)
    for manager in managers:
        assert manager.is_active
        assert manager.user.phone == DEMO_MANAGER_PHONES[manager.role]
        assert manager.settings.report_email
        assert not manager.user.has_usable_password()  # OTP sign-in only
    admin = managers.get(role=StoreManager.Role.ADMIN)
    assert admin.can_manage_kg and admin.can_manage_us


def test_demo_people_have_valid_phones_and_one_default_address():
    seed("--small")

    staff = User.objects.get(phone=DEMO_ADMIN_PHONE)
    assert staff.is_staff and staff.is_superuser and staff.check_password("marque-admin")
    customers = User.objects.filter(is_staff=False, store_manager__isnull=True)
    assert {customer.market for customer in customers} == {"KG", "US"}
    for customer in customers:
        assert parse_phone(customer.phone).market == customer.market
        assert [address.is_default for address in customer.addresses.all()].count(True) == 1
    for phone in DEMO_MANAGER_PHONES.values():
        assert parse_phone(phone).e164 == phone


def test_running_twice_changes_nothing():
    seed("--small")
    before = snapshot()
    main_images = sorted(Product.objects.values_list("main_image", flat=True))

    output = seed("--small")

    assert snapshot() == before
    assert sorted(Product.objects.values_list("main_image", flat=True)) == main_images
    assert DEMO_ADMIN_PHONE in output
    assert all(phone in output for phone in DEMO_MANAGER_PHONES.values())


@pytest.mark.slow
def test_full_seed_builds_a_believable_store_and_is_idempotent():
    seed("--small")  # the small set is a part of the full one: nothing clashes
    seed()

    assert Product.objects.count() >= 60
    assert Product.objects.filter(is_active=False).exists()
    assert Product.objects.filter(is_featured=True).exists()
    assert ProductPrice.objects.filter(original_price__isnull=False).exists()
    assert SKU.objects.filter(stock=0).exists() and SKU.objects.filter(stock__in=(1, 2, 3)).exists()
    assert set(Category.objects.values_list("market", flat=True)) == {"KG", "US", "ALL"}
    assert Category.objects.get(slug="traditional").market == CatalogMarket.KG
    for banner_type in Banner.Type.values:
        assert set(
            Banner.objects.filter(banner_type=banner_type).values_list("market", flat=True)
        ) == {"KG", "US", "ALL"}, banner_type

    before = snapshot()
    seed()
    assert snapshot() == before


def test_seed_demo_refuses_where_settings_forbid_it(settings):
    settings.DEMO_SEED_ALLOWED = False
    with pytest.raises(CommandError, match="DEMO_SEED_ALLOWED"):
        call_command("seed_demo", "--small")
    assert not User.objects.exists()


def test_demo_orders_obey_the_order_rules():
    seed("--small")

    orders = Order.objects.prefetch_related("status_history", "items")
    assert {order.market for order in orders} == {"KG", "US"}
    assert len({order.created_at.date() for order in orders}) >= 5  # back-dated over a week
    for order in orders:
        history = list(order.status_history.all())
        assert history[0].from_status is None
        assert history[0].created_at == order.created_at
        for before, after in pairwise(history):
            assert after.from_status == before.to_status
            assert after.created_at >= before.created_at
        assert history[-1].to_status == order.status
        assert order.total == order.subtotal + order.shipping_cost
        assert order.currency == ("KGS" if order.market == "KG" else "USD")
    # Stock is the catalogue's again: nothing is left lifted for the run.
    assert not SKU.objects.filter(stock__gte=1000).exists()
    assert RevenueSnapshot.objects.filter(period="daily", orders_count__gt=0).exists()
    # Over the full 90 days every status turns up.
    rng = random.Random(1)
    seen = {s for age in (0, 0.5, 2, 4, 10) for _ in range(200) for s in _plan_statuses(rng, age)}
    assert seen == {"confirmed", "processing", "shipped", "delivered", "cancelled"}
