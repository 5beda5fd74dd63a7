"""The read model under real concurrent writers (PostgreSQL row locks, real threads)."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib import admin
from django.db import connection, connections, transaction
from django.db.models.signals import post_delete
from django.test import RequestFactory

from products.models import SKU, Listing, ListingTotal, Product, ProductPrice
from products.services.listing import listing_rebuild
from products.services.stock import lock_skus, sku_stock_adjust, take
from products.tests.factories import ProductFactory, ProductPriceFactory, SKUFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]


def in_thread(work, errors: list) -> threading.Thread:
    def run():
        try:
            work()
        except Exception as exc:  # the test asserts on what went wrong
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def listed(**fields) -> Product:
    product = ProductFactory(market="ALL", **fields)
    ProductPriceFactory(product=product, market="KG")
    return product


def test_a_restock_racing_a_sale_leaves_the_product_in_stock():
    product = listed()
    last = SKUFactory(product=product, size="S", stock=1)
    empty = SKUFactory(product=product, size="M", stock=0)
    restocked, release = threading.Event(), threading.Event()
    errors: list = []

    def staff():
        with transaction.atomic():
            sku_stock_adjust(sku_id=empty.pk, delta=5)
            restocked.set()
            release.wait(10)

    def buyer():
        restocked.wait(10)
        with transaction.atomic():
            take(lock_skus([last.pk]), {last.pk: 1})

    threads = [in_thread(staff, errors), in_thread(buyer, errors)]
    restocked.wait(10)
    time.sleep(0.5)  # the buyer is now waiting for the product's lock
    release.set()
    for thread in threads:
        thread.join()
    assert not errors
    assert dict(SKU.objects.filter(product=product).values_list("size", "stock")) == {
        "S": 0,
        "M": 5,
    }
    assert Listing.objects.get(product=product, market="KG").in_stock is True


def test_a_bulk_delete_in_the_admin_and_a_checkout_do_not_deadlock():
    first, second = listed(), listed()
    doomed = [SKUFactory(product=first, size="A"), SKUFactory(product=second, size="B")]
    bought = [SKUFactory(product=first, size="C"), SKUFactory(product=second, size="D")]
    started = threading.Event()
    errors: list = []

    def slow_down(sender, instance, **kwargs):  # widen the window between the two refreshes
        started.set()
        time.sleep(0.5)

    post_delete.connect(slow_down, sender=SKU, dispatch_uid="race-pause")
    try:

        def staff():
            request = RequestFactory().post("/admin/products/sku/")
            queryset = SKU.objects.filter(pk__in=[sku.pk for sku in doomed])
            admin.site.get_model_admin(SKU).delete_queryset(request, queryset)

        def buyer():
            started.wait(10)
            with transaction.atomic():
                take(lock_skus([sku.pk for sku in bought]), {sku.pk: 1 for sku in bought})

        threads = [in_thread(staff, errors), in_thread(buyer, errors)]
        for thread in threads:
            thread.join()
    finally:
        post_delete.disconnect(sender=SKU, dispatch_uid="race-pause")
    assert not errors, errors
    assert not SKU.objects.filter(pk__in=[sku.pk for sku in doomed]).exists()
    assert list(
        SKU.objects.filter(pk__in=[sku.pk for sku in bought]).values_list("stock", flat=True)
    ) == [9, 9]


def test_a_product_deleted_while_its_price_is_deleted_is_counted_once():
    doomed, other = listed(), listed()
    with transaction.atomic():
        listing_rebuild()
    price_deleted, release = threading.Event(), threading.Event()
    errors: list = []

    def price_editor():
        with transaction.atomic():
            ProductPrice.objects.get(product=doomed, market="KG").delete()
            price_deleted.set()
            release.wait(10)

    def product_deleter():
        price_deleted.wait(10)
        Product.objects.get(pk=doomed.pk).delete()

    threads = [in_thread(price_editor, errors), in_thread(product_deleter, errors)]
    price_deleted.wait(10)
    time.sleep(0.5)
    release.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert list(Listing.objects.filter(market="KG").values_list("product_id", flat=True)) == [
        other.pk
    ]
    assert ListingTotal.objects.get(market="KG").count == 1
