from decimal import Decimal

import pytest
from django.db.models import ProtectedError

from main.testing import violates_constraint
from orders.tests.factories import OrderItemFactory
from products.models import SKU, CartItem, Category, Product, Subcategory
from products.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductPriceFactory,
    SKUFactory,
    SubcategoryFactory,
)
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_stock_cannot_go_negative():
    sku = SKUFactory(stock=1)
    with violates_constraint("sku_stock_non_negative"):
        SKU.objects.filter(pk=sku.pk).update(stock=-1)
    sku.refresh_from_db()
    assert sku.stock == 1


def test_sku_code_is_unique():
    SKUFactory(code="TEE-BLK-M")
    with violates_constraint("products_sku_code_key"):
        SKUFactory(code="TEE-BLK-M")


def test_one_sku_per_size_and_colour_of_a_product():
    product = ProductFactory()
    SKUFactory(product=product, size="M", color="Black")
    with violates_constraint("sku_product_size_color_unique"):
        SKUFactory(product=product, size="M", color="Black")
    # The same size in another colour, or in another product, is fine.
    SKUFactory(product=product, size="M", color="White")
    SKUFactory(size="M", color="Black")


def test_one_price_per_product_and_market():
    product = ProductFactory()
    ProductPriceFactory(product=product, market="KG")
    ProductPriceFactory(product=product, market="US", price=Decimal("25.00"))
    with violates_constraint("price_product_market_unique"):
        ProductPriceFactory(product=product, market="KG")
    assert product.prices.count() == 2


def test_price_must_be_positive_and_was_price_not_below_it():
    product = ProductFactory()
    with violates_constraint("price_positive"):
        ProductPriceFactory(product=product, price=Decimal("0.00"))
    with violates_constraint("price_original_not_below_price"):
        ProductPriceFactory(
            product=product, price=Decimal("100.00"), original_price=Decimal("99.99")
        )
    sale = ProductPriceFactory(
        product=product, price=Decimal("100.00"), original_price=Decimal("149.00")
    )
    assert sale.currency == "KGS"


def test_price_market_is_kg_or_us_only():
    with violates_constraint("price_market_valid"):
        ProductPriceFactory(market="RU")


def test_category_name_is_unique_per_market():
    CategoryFactory(name="Women", market="KG")
    CategoryFactory(name="Women", market="US")  # another market: fine
    with violates_constraint("category_name_market_unique"):
        CategoryFactory(name="Women", market="KG")


def test_subcategory_slug_is_unique_per_category():
    category = CategoryFactory()
    SubcategoryFactory(category=category, slug="dresses")
    SubcategoryFactory(slug="dresses")  # another category: fine
    with violates_constraint("subcategory_slug_per_category_unique"):
        SubcategoryFactory(category=category, slug="dresses")


def test_cart_line_quantity_is_at_least_one():
    sku = SKUFactory()
    from products.models import Cart

    cart = Cart.objects.create(user=UserFactory())
    with violates_constraint("cart_item_quantity_range"):
        CartItem.objects.create(cart=cart, sku=sku, quantity=0)
    CartItem.objects.create(cart=cart, sku=sku, quantity=2)
    with violates_constraint("cart_item_cart_sku_unique"):
        CartItem.objects.create(cart=cart, sku=sku, quantity=1)


def test_a_category_with_products_cannot_be_deleted():
    product = ProductFactory()
    with pytest.raises(ProtectedError):
        product.category.delete()
    assert Category.objects.filter(pk=product.category_id).exists()
    product.delete()
    product.category.delete()
    assert not Category.objects.exists()


def test_deleting_a_subcategory_keeps_its_products():
    subcategory = SubcategoryFactory()
    product = ProductFactory(category=subcategory.category, subcategory=subcategory)
    subcategory.delete()
    product.refresh_from_db()
    assert product.subcategory is None


def test_deleting_a_product_keeps_order_items_with_their_snapshot():
    sku = SKUFactory()
    item = OrderItemFactory(
        product=sku.product, sku=sku, product_name="Linen shirt", sku_code=sku.code
    )
    sku.product.delete()
    item.refresh_from_db()
    assert (item.product_id, item.sku_id) == (None, None)
    assert (item.product_name, item.sku_code, item.line_total) == (
        "Linen shirt",
        sku.code,
        Decimal("2580.00"),
    )


def test_visible_to_shows_own_market_and_all_but_never_other_or_inactive():
    kg = ProductFactory(market="KG")
    everywhere = ProductFactory(market="ALL")
    ProductFactory(market="US")
    ProductFactory(market="KG", is_active=False)
    ProductFactory(market="ALL", is_active=False)
    assert set(Product.objects.visible_to("KG")) == {kg, everywhere}
    assert set(Product.objects.visible_to("US")) == {everywhere} | set(
        Product.objects.filter(market="US")
    )


def test_category_visibility_and_subcategories_follow_their_category():
    kg = CategoryFactory(market="KG")
    us = CategoryFactory(market="US")
    hidden = CategoryFactory(market="KG", is_active=False)
    visible_sub = SubcategoryFactory(category=kg)
    SubcategoryFactory(category=kg, is_active=False)
    SubcategoryFactory(category=us)
    SubcategoryFactory(category=hidden)
    assert set(Category.objects.visible_to("KG")) == {kg}
    assert set(Subcategory.objects.visible_to("KG")) == {visible_sub}


def test_sellable_in_needs_a_price_in_that_market():
    kg_priced = ProductFactory(market="ALL")
    ProductPriceFactory(product=kg_priced, market="KG")
    both = ProductFactory(market="ALL")
    ProductPriceFactory(product=both, market="KG")
    ProductPriceFactory(product=both, market="US", price=Decimal("19.00"))
    ProductFactory(market="ALL")  # no price anywhere
    assert set(Product.objects.sellable_in("KG")) == {kg_priced, both}
    assert set(Product.objects.sellable_in("US")) == {both}
