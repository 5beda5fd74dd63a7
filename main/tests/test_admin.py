"""The Django admin: every model is usable by staff, code-written rows stay untouched,
a sellable product can be built in the admin alone, and changelists do no per-row queries.
"""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.forms import FileField
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from banners.models import Banner
from orders.models import (
    IdempotencyKey,
    Order,
    OrderItem,
    OrderStatusHistory,
    Payment,
    ProviderEvent,
    Refund,
    ReturnImage,
    ReturnItem,
    ReturnRequest,
    ReturnStatusHistory,
)
from products.models import (
    SKU,
    Cart,
    CartItem,
    Category,
    Listing,
    ListingFacet,
    ListingTotal,
    Product,
    ProductFeature,
    ProductImage,
    ProductPrice,
    Subcategory,
    Wishlist,
    WishlistItem,
)
from reviews.models import Review, ReviewImage
from store_manager.models import (
    DailyReport,
    ManagerActivityLog,
    ManagerNotification,
    ManagerSettings,
    RevenueSnapshot,
    StoreManager,
)
from users.models import Address, Notification, PaymentMethod, User, VerificationCode

pytestmark = pytest.mark.django_db

APP_LABELS = ("users", "products", "orders", "reviews", "banners", "store_manager")
MODELS = [model for label in APP_LABELS for model in apps.get_app_config(label).get_models()]
# The catalogue's read model (Listing, ListingFacet, ListingTotal) is a helper too: code writes it.
HELPER_TABLES = (IdempotencyKey, Listing, ListingFacet, ListingTotal)
# Payments (SPEC §8) add three models beyond §3's 28, all written by the payment service.
PAYMENT_TABLES = (Payment, Refund, ProviderEvent)
# Returns (SPEC §10) add four more: the request, its lines, photos and history.
RETURN_TABLES = (ReturnRequest, ReturnItem, ReturnStatusHistory, ReturnImage)
# Written only by code (audit trail, status history, login flow, reporting jobs).
VIEW_ONLY = (
    ManagerActivityLog,
    OrderStatusHistory,
    VerificationCode,
    RevenueSnapshot,
    DailyReport,
    OrderItem,
    IdempotencyKey,
    Listing,
    ListingFacet,
    ListingTotal,
    *PAYMENT_TABLES,
    ReturnItem,
    ReturnStatusHistory,
    ReturnImage,
)


def label(model) -> str:
    return model._meta.label


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def admin_user(db):
    """pytest-django's own admin_user passes phone="admin", which our manager rightly refuses."""
    return User.objects.create_superuser("+996700000099", "pw-123456")


@pytest.fixture
def staff_request(rf, admin_user):
    request = rf.get("/admin/")
    request.user = admin_user
    return request


def make_everything(i: int = 0) -> dict:
    """One row of each model (SPEC §3's 28, payments', returns'), all linked, distinct per `i`."""
    now = timezone.now()
    user = User.objects.create_user(f"+99670012{3400 + i}", first_name=f"Aida{i}")
    VerificationCode.objects.create(
        phone=user.phone, code_hash="0" * 64, expires_at=now + timedelta(minutes=5)
    )
    Address.objects.create(
        user=user,
        recipient_name="Aida Bekova",
        phone=user.phone,
        city="Bishkek",
        street="Chui Ave",
        building="120",
        is_default=True,
    )
    PaymentMethod.objects.create(
        user=user,
        provider=PaymentMethod.Provider.STRIPE,
        provider_token=f"pm_test_{i}",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
        is_default=True,
    )
    Notification.objects.create(user=user, title="Your order is confirmed")

    category = Category.objects.create(name=f"Shirts {i}", slug=f"shirts-{i}")
    subcategory = Subcategory.objects.create(category=category, name="Linen", slug="linen")
    product = Product.objects.create(
        name=f"Linen shirt {i}", slug=f"linen-shirt-{i}", category=category, subcategory=subcategory
    )
    ProductImage.objects.create(product=product, image="products/gallery/front.jpg")
    ProductFeature.objects.create(product=product, name="Material", value="100% linen")
    sku = SKU.objects.create(product=product, code=f"LS-{i}-M", size="M", color="White", stock=5)
    ProductPrice.objects.create(product=product, market="KG", price=Decimal("1290.00"))
    ProductPrice.objects.create(product=product, market="US", price=Decimal("19.00"))
    CartItem.objects.create(cart=Cart.objects.create(user=user), sku=sku)
    WishlistItem.objects.create(wishlist=Wishlist.objects.create(user=user), product=product)

    order = Order.objects.create(
        order_number=f"KG-TEST{i:04d}",
        user=user,
        market="KG",
        currency="KGS",
        shipping_recipient="Aida Bekova",
        shipping_phone=user.phone,
        shipping_city="Bishkek",
        shipping_street="Chui Ave",
        shipping_building="120",
        subtotal=Decimal("1290.00"),
        total=Decimal("1290.00"),
    )
    item = OrderItem.objects.create(
        order=order,
        product=product,
        sku=sku,
        product_name=product.name,
        sku_code=sku.code,
        size="M",
        color="White",
        unit_price=Decimal("1290.00"),
        quantity=1,
        line_total=Decimal("1290.00"),
    )
    OrderStatusHistory.objects.create(order=order, to_status="pending", changed_by=user)
    IdempotencyKey.objects.create(user=user, key=f"key-{i}", request_hash="0" * 64, order=order)
    payment = Payment.objects.create(
        order=order,
        provider="stripe",
        provider_ref=f"pi_test_{i}",
        status="succeeded",
        amount=order.total,
        amount_authorized=order.total,
        amount_captured=order.total,
        amount_refunded=Decimal("100.00"),
    )
    Refund.objects.create(payment=payment, amount=Decimal("100.00"), method="card", created_by=user)
    ProviderEvent.objects.create(
        provider="stripe",
        event_id=f"evt_{i}",
        type="payment_intent.succeeded",
        payment=payment,
        created_at=now,
    )
    ret = ReturnRequest.objects.create(
        return_number=f"R-TEST{i:04d}", order=order, user=user, market="KG", currency="KGS"
    )
    ReturnItem.objects.create(
        return_request=ret, order_item=item, quantity=1, reason="size_too_small"
    )
    ReturnStatusHistory.objects.create(return_request=ret, to_status="requested", changed_by=user)
    ReturnImage.objects.create(return_request=ret, image="returns/front.jpg")
    review = Review.objects.create(
        user=user, product=product, order_item=item, rating=5, title="Fits well"
    )
    ReviewImage.objects.create(review=review, image="reviews/front.jpg")

    Banner.objects.create(
        title=f"Summer {i}",
        image="banners/summer.jpg",
        category=category,
        view_count=200,
        click_count=7,
    )

    manager = StoreManager.objects.create(
        user=User.objects.create_user(f"+120255501{40 + i}"),
        can_manage_us=True,
        active_market="US",
    )
    ManagerSettings.objects.create(manager=manager)
    RevenueSnapshot.objects.create(
        market="KG",
        period="daily",
        period_start=now - timedelta(days=i + 1),
        currency="KGS",
        revenue=Decimal("1290.00"),
        orders_count=1,
    )
    ManagerActivityLog.objects.create(
        manager=manager,
        action="order_status_changed",
        object_type="order",
        object_id=order.order_number,
        market="KG",
    )
    DailyReport.objects.create(
        market="KG", report_date=now.date() - timedelta(days=i + 1), currency="KGS"
    )
    ManagerNotification.objects.create(manager=manager, title="New order")
    return {"user": user, "category": category, "subcategory": subcategory, "order": order}


def resubmitted(response) -> dict:
    """What a browser posts back from an admin add/change page when nothing is touched."""
    forms = [response.context["adminform"].form]
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form.initial
        data.update({f"{formset.prefix}-{key}": value for key, value in management.items()})
        forms += formset.forms
    for form in forms:
        for field in form:
            # A browser never sends back a stored file, only a new upload.
            if not isinstance(field.field, FileField) and field.value() not in (None, ""):
                data[field.html_name] = field.value()
    return data


def form_errors(response) -> list:
    if response.context is None or "adminform" not in response.context:
        return []
    errors = [response.context["adminform"].form.errors]
    for inline in response.context["inline_admin_formsets"]:
        errors += [inline.formset.non_form_errors(), *inline.formset.errors]
    return [error for error in errors if error]


def png(name: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), "white").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


# --- Every model -------------------------------------------------------------


def test_the_five_apps_have_28_models():
    # SPEC §3's 28, plus the helper tables it allows, the payment tables of §8 and returns' (§10).
    extra = (*HELPER_TABLES, *PAYMENT_TABLES, *RETURN_TABLES)
    counted = [model for model in MODELS if model not in extra]
    assert len(counted) == 28


@pytest.mark.parametrize("model", MODELS, ids=label)
def test_every_model_has_a_working_admin(model, admin_client, staff_request):
    make_everything()
    assert admin.site.is_registered(model)
    model_admin = admin.site.get_model_admin(model)

    changelist = admin_client.get(admin_url(model, "changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count >= 1
    if model_admin.search_fields:
        assert admin_client.get(admin_url(model, "changelist"), {"q": "a"}).status_code == 200

    add = admin_client.get(admin_url(model, "add"))
    assert add.status_code == (200 if model_admin.has_add_permission(staff_request) else 403)

    obj = model.objects.first()
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", VIEW_ONLY, ids=label)
def test_rows_written_by_code_are_view_only(model, admin_client, staff_request):
    make_everything()
    model_admin = admin.site.get_model_admin(model)
    obj = model.objects.order_by("pk").first()  # a product has a listing row per market

    assert not model_admin.has_add_permission(staff_request)
    assert not model_admin.has_change_permission(staff_request, obj)
    assert not model_admin.has_delete_permission(staff_request, obj)
    assert model_admin.has_view_permission(staff_request, obj)
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_orders_come_only_from_checkout_and_keep_money_address_and_status(
    admin_client, staff_request
):
    order = make_everything()["order"]
    model_admin = admin.site.get_model_admin(Order)
    assert not model_admin.has_add_permission(staff_request)
    assert not model_admin.has_delete_permission(staff_request, order)
    assert admin_client.get(admin_url(Order, "add")).status_code == 403
    assert (
        admin_client.post(admin_url(Order, "delete", order.pk), {"post": "yes"}).status_code == 403
    )
    # Inlines show the items and the history but offer no way to change them.
    for inline in model_admin.get_inline_instances(staff_request, order):
        assert not inline.has_add_permission(staff_request, order)
        assert not inline.has_change_permission(staff_request, order)
        assert not inline.has_delete_permission(staff_request, order)

    page = admin_client.get(admin_url(Order, "change", order.pk))
    # Nothing is editable: payment_status is derived from the payment (SPEC §8).
    assert list(page.context["adminform"].form.fields) == []
    before = order.payment_status
    data = resubmitted(page) | {
        "payment_status": "paid",
        "status": "cancelled",
        "total": "0.00",
        "shipping_city": "Osh",
        "items-0-quantity": "50",
    }
    response = admin_client.post(admin_url(Order, "change", order.pk), data)
    assert response.status_code == 302, form_errors(response)

    order.refresh_from_db()
    assert order.payment_status == before
    assert (order.status, order.total, order.shipping_city) == (
        "pending",
        Decimal("1290.00"),
        "Bishkek",
    )
    assert order.items.get().quantity == 1
    assert order.status_history.count() == 1


def test_returns_come_only_from_customers_and_keep_their_lines_and_status(
    admin_client, staff_request
):
    ret = ReturnRequest.objects.get(order=make_everything()["order"])
    model_admin = admin.site.get_model_admin(ReturnRequest)
    assert not model_admin.has_add_permission(staff_request)
    assert not model_admin.has_delete_permission(staff_request, ret)
    assert admin_client.get(admin_url(ReturnRequest, "add")).status_code == 403
    delete = admin_client.post(admin_url(ReturnRequest, "delete", ret.pk), {"post": "yes"})
    assert delete.status_code == 403
    for inline in model_admin.get_inline_instances(staff_request, ret):
        assert not inline.has_add_permission(staff_request, ret)
        assert not inline.has_change_permission(staff_request, ret)
        assert not inline.has_delete_permission(staff_request, ret)

    page = admin_client.get(admin_url(ReturnRequest, "change", ret.pk))
    assert list(page.context["adminform"].form.fields) == []
    data = resubmitted(page) | {
        "status": "refunded",
        "refunded_amount": "1290.00",
        "reject_reason": "edited",
        "items-0-quantity": "5",
    }
    response = admin_client.post(admin_url(ReturnRequest, "change", ret.pk), data)
    assert response.status_code == 302, form_errors(response)

    ret.refresh_from_db()
    assert (ret.status, ret.refunded_amount, ret.reject_reason) == ("requested", 0, "")
    assert ret.items.get().quantity == 1
    assert ret.status_history.count() == 1
    assert ReturnRequest.objects.filter(pk=ret.pk).exists()


def test_staff_create_a_customer_without_a_password(admin_client):
    data = {"phone": "+996 700 12-34-57", "usable_password": "false"}
    response = admin_client.post(admin_url(User, "add"), data)
    assert response.status_code == 302, form_errors(response)
    user = User.objects.get(phone="+996700123457")
    assert user.market == "KG" and not user.has_usable_password()
    again = admin_client.post(admin_url(User, "add"), data | {"phone": "+996700123457"})
    assert again.status_code == 200 and "phone" in form_errors(again)[0]


def test_moderators_approve_reviews_and_remove_images_but_never_rewrite_them(admin_client):
    make_everything()
    review = Review.objects.get()
    page = admin_client.get(admin_url(Review, "change", review.pk))
    assert list(page.context["adminform"].form.fields) == ["is_approved"]
    data = resubmitted(page) | {"is_approved": "on", "title": "Edited", "images-0-DELETE": "on"}

    response = admin_client.post(admin_url(Review, "change", review.pk), data)

    assert response.status_code == 302, form_errors(response)
    review.refresh_from_db()
    assert (review.is_approved, review.title) == (True, "Fits well")
    assert not review.images.exists()


def test_banner_counters_are_read_only_and_show_ctr(admin_client):
    make_everything()
    model_admin = admin.site.get_model_admin(Banner)
    assert {"view_count", "click_count"} <= set(model_admin.readonly_fields)
    assert model_admin.ctr_percent(Banner.objects.get()) == Decimal("3.50")
    assert b"3.50" in admin_client.get(admin_url(Banner, "changelist")).content


def test_product_figures_are_read_only():
    readonly = admin.site.get_model_admin(Product).readonly_fields
    assert {"rating_avg", "reviews_count", "sales_count"} <= set(readonly)
    # What returns taught about the size: shown, never typed.
    assert {"returned_too_small_count", "returned_too_large_count"} <= set(readonly)


def test_subcategory_autocomplete_works(admin_client):
    make_everything()
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "products",
            "model_name": "product",
            "field_name": "subcategory",
            "term": "lin",
        },
    )
    assert response.status_code == 200
    assert [row["text"] for row in response.json()["results"]] == ["Shirts 0 / Linen"]


# --- A sellable product from the admin alone ------------------------------------


def test_staff_create_a_sellable_product_in_the_admin(admin_client):
    made = make_everything()
    page = admin_client.get(admin_url(Product, "add"))
    prefix = {
        inline.formset.model: inline.formset.prefix
        for inline in page.context["inline_admin_formsets"]
    }
    price, sku, image = prefix[ProductPrice], prefix[SKU], prefix[ProductImage]
    data = resubmitted(page) | {
        "name": "Oxford shirt",
        "slug": "oxford-shirt",
        "brand": "MARQUE",
        "category": made["category"].pk,
        "subcategory": made["subcategory"].pk,
        "market": "ALL",
        "main_image": png("main.png"),
        f"{price}-0-market": "KG",
        f"{price}-0-price": "2490.00",
        f"{price}-1-market": "US",
        f"{price}-1-price": "29.00",
        f"{price}-1-original_price": "39.00",
        f"{sku}-0-code": "OX-M-BLU",
        f"{sku}-0-size": "M",
        f"{sku}-0-color": "Blue",
        f"{sku}-0-color_hex": "#1A2B3C",
        f"{sku}-0-stock_adjustment": "12",
        f"{image}-0-image": png("front.png"),
        f"{image}-0-alt_text": "Front",
    }

    response = admin_client.post(admin_url(Product, "add"), data)

    assert response.status_code == 302, form_errors(response)
    product = Product.objects.get(slug="oxford-shirt")
    assert (product.category, product.subcategory) == (made["category"], made["subcategory"])
    assert product.main_image
    assert {(p.market, p.price, p.original_price) for p in product.prices.all()} == {
        ("KG", Decimal("2490.00"), None),
        ("US", Decimal("29.00"), Decimal("39.00")),
    }
    assert list(product.skus.values_list("code", "size", "color", "stock")) == [
        ("OX-M-BLU", "M", "Blue", 12)
    ]
    assert product.images.get().alt_text == "Front"


def test_product_form_refuses_a_bad_price_or_a_foreign_subcategory(admin_client):
    made = make_everything()
    other = Subcategory.objects.create(
        category=Category.objects.create(name="Shoes", slug="shoes"), name="Boots", slug="boots"
    )
    page = admin_client.get(admin_url(Product, "add"))
    base = resubmitted(page) | {
        "name": "Oxford shirt",
        "slug": "oxford-shirt",
        "category": made["category"].pk,
        "market": "ALL",
    }
    bad_price = base | {
        "prices-0-market": "KG",
        "prices-0-price": "20",
        "prices-0-original_price": "10",
    }
    wrong_subcategory = base | {"subcategory": other.pk}

    for data in (bad_price, wrong_subcategory):
        response = admin_client.post(admin_url(Product, "add"), data)
        assert response.status_code == 200 and form_errors(response)
    assert not Product.objects.filter(slug="oxford-shirt").exists()


# --- No per-row queries ------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=label)
def test_changelist_queries_do_not_grow_with_rows(model, admin_client):
    url = admin_url(model, "changelist")
    make_everything(0)
    admin_client.get(url)  # warm the session and any caches
    with CaptureQueriesContext(connection) as one_row:
        admin_client.get(url)
    make_everything(1)
    make_everything(2)
    with CaptureQueriesContext(connection) as three_rows:
        response = admin_client.get(url)

    assert response.context["cl"].result_count > 1
    extra = [q["sql"] for q in three_rows.captured_queries[len(one_row) :]]
    assert len(three_rows) == len(one_row), extra


@pytest.mark.parametrize("rows", [5, 30])
@pytest.mark.parametrize("model", [Order, Product], ids=label)
def test_order_and_product_changelists_run_a_bounded_number_of_queries(
    model, rows, admin_client, django_assert_max_num_queries
):
    for i in range(rows):
        make_everything(i)
    with django_assert_max_num_queries(10):
        response = admin_client.get(admin_url(model, "changelist"))
    assert response.context["cl"].result_count == rows
