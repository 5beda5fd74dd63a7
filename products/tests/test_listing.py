"""The catalogue's read model (`Listing`, `ListingFacet`) equals one rebuilt from scratch.

`products.services.listing` keeps the read model in the transaction of every
change to its sources: signal receivers on model saves and deletes, and explicit
calls from the stock and review services. Each test makes a change the way the
product makes it (model saves, the admin, checkout, cancellation, stock
adjustments, review moderation, deletions) and checks two things:

- the rows equal what `listing_rebuild()` computes from the source tables
  (`assert_fresh`: the rebuild runs in a savepoint that is rolled back), and
- the visible effect of the change (a row appears or goes, a price or stock
  flag changes).
"""

from __future__ import annotations

import importlib
import io
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps as live_apps
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from orders.models import OrderItem, OrderStatus
from orders.services.transitions import order_cancel_by_customer
from orders.tests.factories import OrderFactory, OrderItemFactory
from orders.tests.helpers import checkout, fill_cart
from products.models import (
    SKU,
    CartItem,
    Listing,
    ListingFacet,
    ListingTotal,
    Product,
    ProductImage,
    ProductPrice,
    Wishlist,
    WishlistItem,
)
from products.services.listing import listing_rebuild
from products.services.stock import StockAdjustmentRefused, sku_stock_adjust
from products.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductPriceFactory,
    SKUFactory,
    SubcategoryFactory,
)
from reviews.models import Review
from reviews.services import review_create, reviews_delete, reviews_set_approved
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PRICES = {"KG": Decimal("1290.00"), "US": Decimal("25.00")}
# Every column of a listing row but its id: what the snapshot compares.
LISTING_COLUMNS = (
    "product_id",
    "market",
    "category_id",
    "subcategory_id",
    "slug",
    "name",
    "brand",
    "image",
    "image_renditions",
    "price",
    "original_price",
    "in_stock",
    "is_featured",
    "rating_avg",
    "reviews_count",
    "sales_count",
    "created_at",
)
FACET_COLUMNS = ("market", "product_id", "facet", "value", "color_hex")


# --- the read model against a rebuild ---------------------------------------------------------


def snapshot() -> tuple[dict, list]:
    """The read model as it stands: listing rows by (product, market), facet rows in order."""
    listings = {
        (row["product_id"], row["market"]): row
        for row in Listing.objects.order_by("product_id", "market").values(*LISTING_COLUMNS)
    }
    facets = list(ListingFacet.objects.order_by(*FACET_COLUMNS[:4]).values_list(*FACET_COLUMNS))
    return listings, facets


class _RolledBack(Exception):
    """Leaves an atomic block without keeping what it wrote."""


def rebuilt_snapshot() -> tuple[dict, list]:
    """The read model `listing_rebuild()` would write now; the rebuild itself is rolled back."""
    try:
        with transaction.atomic():
            listing_rebuild()
            rebuilt = snapshot()
            raise _RolledBack
    except _RolledBack:
        pass
    return rebuilt


def assert_fresh() -> tuple[dict, list]:
    """The incrementally kept read model equals one rebuilt from scratch; returns it."""
    kept_listings, kept_facets = kept = snapshot()
    rebuilt_listings, rebuilt_facets = rebuilt_snapshot()
    assert kept_listings == rebuilt_listings
    assert kept_facets == rebuilt_facets
    assert snapshot() == kept  # the rebuild left nothing behind
    # Each market's kept total is its number of rows (the unfiltered list's `count`).
    totals = dict(ListingTotal.objects.values_list("market", "count"))
    assert set(totals) == {"KG", "US"}
    for market, count in totals.items():
        assert count == Listing.objects.filter(market=market).count(), market
    return kept


def row(product: Product, market: str) -> Listing | None:
    return Listing.objects.filter(product=product, market=market).first()


def markets_of(product: Product) -> set[str]:
    return set(Listing.objects.filter(product=product).values_list("market", flat=True))


def facets_of(product: Product, market: str = "KG") -> set[tuple[str, str, str]]:
    rows = ListingFacet.objects.filter(product=product, market=market)
    return set(rows.values_list("facet", "value", "color_hex"))


# --- the catalogue -----------------------------------------------------------------------------


def listed_product(*, market="ALL", prices=("KG", "US"), stock=5, **fields) -> Product:
    """A product priced in `prices`, with one Black M SKU of `stock` units (None: no SKU)."""
    product = ProductFactory(market=market, **fields)
    for price_market in prices:
        ProductPriceFactory(product=product, market=price_market, price=PRICES[price_market])
    if stock is not None:
        SKUFactory(product=product, size="M", color="Black", color_hex="#000000", stock=stock)
    return product


@pytest.fixture(autouse=True)
def exact_totals(db):
    """The totals rows as the migration leaves them (a transactional test elsewhere may have
    flushed them): every later move is then checked against the real row counts."""
    with transaction.atomic():
        listing_rebuild()


@pytest.fixture(autouse=True)
def bystander(exact_totals) -> Product:
    """A listed product no test touches: every rebuild comparison covers its rows too."""
    product = listed_product(slug="bystander", is_featured=True)
    SKUFactory(product=product, size="L", color="White", color_hex="#FFFFFF", stock=0)
    ProductImage.objects.create(product=product, image="products/gallery/bystander.jpg")
    return product


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("+996700000096", "pw-123456"))
    return client


def test_the_snapshot_compares_every_listing_column():
    fields = {field.attname for field in Listing._meta.concrete_fields} - {"id"}
    assert fields == set(LISTING_COLUMNS)
    facet_fields = {field.attname for field in ListingFacet._meta.concrete_fields} - {"id"}
    assert facet_fields == set(FACET_COLUMNS)


# --- products and prices -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_market", "listed_in"), [("KG", {"KG"}), ("US", set()), ("ALL", {"KG"})]
)
def test_a_new_product_is_listed_once_priced_where_its_market_allows(product_market, listed_in):
    product = ProductFactory(market=product_market)
    SKUFactory(product=product, stock=3)
    assert markets_of(product) == set()  # no price, not sellable anywhere

    ProductPriceFactory(product=product, market="KG", price=PRICES["KG"])

    assert markets_of(product) == listed_in
    assert_fresh()


def test_a_price_for_the_second_market_lists_the_product_there():
    product = listed_product(prices=("KG",))
    assert markets_of(product) == {"KG"}

    ProductPriceFactory(product=product, market="US", price=Decimal("31.00"))

    assert markets_of(product) == {"KG", "US"}
    assert (row(product, "US").price, row(product, "KG").price) == (Decimal("31.00"), PRICES["KG"])
    assert_fresh()


def test_a_changed_price_and_original_price_are_copied():
    product = listed_product()
    price = ProductPrice.objects.get(product=product, market="KG")

    price.price = Decimal("990.00")
    price.original_price = Decimal("1290.00")
    price.save()
    assert (row(product, "KG").price, row(product, "KG").original_price) == (
        Decimal("990.00"),
        Decimal("1290.00"),
    )
    assert row(product, "US").price == PRICES["US"]  # the other market's price is its own
    assert_fresh()

    price.original_price = None
    price.save()
    assert row(product, "KG").original_price is None
    assert_fresh()


def test_a_price_changed_in_the_admin_is_copied(staff_client):
    product = listed_product()
    price = ProductPrice.objects.get(product=product, market="KG")

    response = staff_client.post(
        f"/admin/products/productprice/{price.pk}/change/",
        {"product": product.pk, "market": "KG", "price": "990.00", "original_price": "1100.00"},
    )

    assert response.status_code == 302, response.content[:500]
    assert (row(product, "KG").price, row(product, "KG").original_price) == (
        Decimal("990.00"),
        Decimal("1100.00"),
    )
    assert_fresh()


def test_a_deleted_price_takes_the_row_of_its_market_only():
    product = listed_product()

    ProductPrice.objects.get(product=product, market="US").delete()

    assert markets_of(product) == {"KG"}
    assert not ListingFacet.objects.filter(product=product, market="US").exists()
    assert_fresh()


def test_a_deactivated_product_leaves_and_a_reactivated_one_comes_back():
    product = listed_product()
    listed = assert_fresh()

    product.is_active = False
    product.save(update_fields=["is_active", "updated_at"])
    assert markets_of(product) == set()
    assert not ListingFacet.objects.filter(product=product).exists()
    assert_fresh()

    product.is_active = True
    product.save(update_fields=["is_active", "updated_at"])
    assert markets_of(product) == {"KG", "US"}
    assert assert_fresh() == listed


def test_a_products_market_moves_its_rows():
    product = listed_product(market="KG")
    assert markets_of(product) == {"KG"}

    product.market = "US"
    product.save(update_fields=["market", "updated_at"])
    assert markets_of(product) == {"US"}
    assert facets_of(product, "US") == {("size", "M", ""), ("color", "Black", "#000000")}
    assert_fresh()

    product.market = "ALL"
    product.save(update_fields=["market", "updated_at"])
    assert markets_of(product) == {"KG", "US"}
    assert_fresh()


@pytest.mark.parametrize(
    ("field", "new_value"),
    [
        ("name", lambda product: "Renamed coat"),
        ("slug", lambda product: "renamed-coat"),
        ("brand", lambda product: "Other House"),
        ("is_featured", lambda product: True),
        ("category", lambda product: CategoryFactory()),
        ("subcategory", lambda product: SubcategoryFactory(category=product.category)),
        ("subcategory", lambda product: None),
    ],
    ids=["name", "slug", "brand", "featured", "category", "subcategory", "subcategory-cleared"],
)
def test_a_copied_product_field_follows_a_save(field, new_value):
    product = listed_product(subcategory=None)
    product.subcategory = SubcategoryFactory(category=product.category)
    product.save()
    value = new_value(product)

    setattr(product, field, value)
    product.save(update_fields=[field, "updated_at"])  # as the admin saves a change

    expected = getattr(value, "pk", value)
    attname = Product._meta.get_field(field).attname
    assert {getattr(row(product, market), attname) for market in ("KG", "US")} == {expected}
    assert_fresh()


# --- images ------------------------------------------------------------------------------------


def test_the_main_image_wins_over_the_gallery_and_the_gallery_returns_when_it_goes():
    product = listed_product()
    ProductImage.objects.create(product=product, image="products/gallery/b.jpg", sort_order=2)
    first = ProductImage.objects.create(product=product, image="products/gallery/a.jpg")
    assert row(product, "KG").image == first.image.name

    product.main_image = "products/main.jpg"
    product.save(update_fields=["main_image", "updated_at"])
    assert {row(product, m).image for m in ("KG", "US")} == {"products/main.jpg"}
    assert_fresh()

    product.main_image = ""
    product.save(update_fields=["main_image", "updated_at"])
    assert row(product, "KG").image == "products/gallery/a.jpg"
    assert_fresh()


def test_without_a_main_image_the_first_gallery_image_is_copied():
    product = listed_product()
    assert row(product, "KG").image == ""

    def gallery(name: str, sort_order: int) -> ProductImage:
        return ProductImage.objects.create(product=product, image=name, sort_order=sort_order)

    later = gallery("products/g/later.jpg", 5)
    assert row(product, "KG").image == "products/g/later.jpg"
    earlier = gallery("products/g/early.jpg", 2)
    assert row(product, "KG").image == "products/g/early.jpg"
    tie = gallery("products/g/tie.jpg", 2)
    assert row(product, "KG").image == "products/g/early.jpg"  # same order: lower id first
    assert_fresh()

    later.sort_order = 0  # reordered to the front
    later.save()
    assert row(product, "KG").image == "products/g/later.jpg"
    assert_fresh()

    later.delete()
    assert row(product, "KG").image == "products/g/early.jpg"
    earlier.delete()
    tie.delete()
    assert row(product, "KG").image == ""
    assert_fresh()


def test_a_gallery_image_moved_to_another_product_leaves_the_first_one():
    # ProductImageAdmin edits `product` (autocomplete): a change form saves the image so.
    first = listed_product()
    second = listed_product()
    image = ProductImage.objects.create(product=first, image="products/g/moved.jpg")
    assert row(first, "KG").image == "products/g/moved.jpg"

    image.product = second
    image.save()

    assert row(second, "KG").image == "products/g/moved.jpg"
    assert row(first, "KG").image == ""
    assert_fresh()


# --- SKUs and facets ---------------------------------------------------------------------------


def test_skus_added_set_in_stock_and_the_facets():
    product = listed_product(stock=None)
    assert (row(product, "KG").in_stock, facets_of(product)) == (False, set())

    SKUFactory(product=product, size="S", color="Red", color_hex="#FF0000", stock=0)
    assert row(product, "KG").in_stock is False  # a sold-out SKU still offers its size
    assert facets_of(product) == {("size", "S", ""), ("color", "Red", "#FF0000")}
    assert_fresh()

    SKUFactory(product=product, size="M", color="Red", color_hex="#FF0000", stock=2)
    assert {row(product, m).in_stock for m in ("KG", "US")} == {True}
    assert facets_of(product, "US") == {
        ("size", "S", ""),
        ("size", "M", ""),
        ("color", "Red", "#FF0000"),
    }
    assert_fresh()


def test_a_deactivated_or_deleted_sku_leaves_the_facets_and_the_stock_flag():
    product = listed_product(stock=None)
    stocked = SKUFactory(product=product, size="M", color="Black", color_hex="#000000", stock=4)
    sold_out = SKUFactory(product=product, size="L", color="Navy", color_hex="#000080", stock=0)
    assert row(product, "KG").in_stock is True

    stocked.is_active = False
    stocked.save()
    assert row(product, "KG").in_stock is False
    assert facets_of(product) == {("size", "L", ""), ("color", "Navy", "#000080")}
    assert_fresh()

    stocked.is_active = True
    stocked.save()
    sold_out.delete()
    assert row(product, "KG").in_stock is True
    assert facets_of(product) == {("size", "M", ""), ("color", "Black", "#000000")}
    assert_fresh()

    stocked.delete()
    assert (row(product, "US").in_stock, facets_of(product, "US")) == (False, set())
    assert_fresh()


def test_a_changed_size_or_colour_moves_the_facet_rows():
    product = listed_product(stock=None)
    sku = SKUFactory(product=product, size="M", color="Black", color_hex="#000000")
    SKUFactory(product=product, size="S", color="Black", color_hex="#000000")

    sku.size, sku.color, sku.color_hex = "XL", "Sand", "#C2B280"
    sku.save()

    assert facets_of(product) == {
        ("size", "S", ""),
        ("size", "XL", ""),
        ("color", "Black", "#000000"),
        ("color", "Sand", "#C2B280"),
    }
    assert_fresh()


def test_a_colour_facet_shows_the_largest_hex_of_its_skus():
    product = listed_product(stock=None)
    SKUFactory(product=product, size="S", color="Black", color_hex="#000000")
    darker = SKUFactory(product=product, size="M", color="Black", color_hex="#111111")

    def hex_of_black():
        facet = ListingFacet.objects.get(product=product, market="KG", facet=ListingFacet.COLOR)
        return facet.color_hex

    assert hex_of_black() == "#111111"
    darker.color_hex = "#000001"
    darker.save()
    assert hex_of_black() == "#000001"
    assert_fresh()

    darker.is_active = False
    darker.save()
    assert hex_of_black() == "#000000"
    assert_fresh()


# --- stock moves -------------------------------------------------------------------------------


def test_a_checkout_of_the_last_unit_and_its_cancellation(customer):
    product = listed_product(stock=None)
    sku = SKUFactory(product=product, size="M", stock=1)
    SKUFactory(product=product, size="L", stock=0)
    fill_cart(customer, (sku, 1))

    order = checkout(customer).order

    assert {(row(product, m).in_stock, row(product, m).sales_count) for m in ("KG", "US")} == {
        (False, 1)
    }
    assert_fresh()

    order_cancel_by_customer(user=customer, order_number=order.order_number)

    assert SKU.objects.get(pk=sku.pk).stock == 1
    assert {(row(product, m).in_stock, row(product, m).sales_count) for m in ("KG", "US")} == {
        (True, 0)
    }
    assert_fresh()


def test_stock_adjusted_by_staff_flips_in_stock_both_ways():
    product = listed_product(stock=2)
    sku = SKU.objects.get(product=product)

    assert sku_stock_adjust(sku_id=sku.pk, delta=-2) == 0
    assert {row(product, m).in_stock for m in ("KG", "US")} == {False}
    assert_fresh()

    assert sku_stock_adjust(sku_id=sku.pk, delta=3) == 3
    assert {row(product, m).in_stock for m in ("KG", "US")} == {True}
    assert_fresh()

    with pytest.raises(StockAdjustmentRefused):
        sku_stock_adjust(sku_id=sku.pk, delta=-4)
    assert row(product, "KG").in_stock is True
    assert_fresh()


def _sku_form(sku: SKU, **overrides) -> dict:
    data = {
        "product": sku.product_id,
        "code": sku.code,
        "size": sku.size,
        "color": sku.color,
        "color_hex": sku.color_hex,
        "is_active": "on",
        "stock_adjustment": "0",
    }
    return {**data, **overrides}


def test_a_sku_edited_in_the_admin_moves_stock_and_facets(staff_client):
    product = listed_product(stock=2)
    sku = SKU.objects.get(product=product)

    response = staff_client.post(
        f"/admin/products/sku/{sku.pk}/change/", _sku_form(sku, size="XS", stock_adjustment="-2")
    )

    assert response.status_code == 302, response.content[:800]
    assert row(product, "KG").in_stock is False
    assert facets_of(product) == {("size", "XS", ""), ("color", "Black", "#000000")}
    assert_fresh()

    new = SKU(product=product, code="NEW-SKU-1", size="XXL", color="Olive", color_hex="#808000")
    response = staff_client.post("/admin/products/sku/add/", _sku_form(new, stock_adjustment="4"))

    assert response.status_code == 302, response.content[:800]
    assert row(product, "KG").in_stock is True
    assert ("size", "XXL", "") in facets_of(product)
    assert_fresh()


def test_a_sku_moved_to_another_product_in_the_admin_leaves_the_first_one(staff_client):
    # `product` is one of SKU_EDITABLE_FIELDS and a field of the SKU admin form.
    first = listed_product(stock=None)
    second = listed_product(stock=None)
    sku = SKUFactory(product=first, size="XS", color="Teal", color_hex="#008080", stock=3)
    assert row(first, "KG").in_stock is True

    response = staff_client.post(
        f"/admin/products/sku/{sku.pk}/change/", _sku_form(sku, product=second.pk)
    )

    assert response.status_code == 302, response.content[:800]
    assert row(second, "KG").in_stock is True
    assert ("size", "XS", "") in facets_of(second)
    assert (row(first, "KG").in_stock, facets_of(first)) == (False, set())
    assert_fresh()


def test_a_price_moved_to_another_product_in_the_admin_unlists_the_first_one(staff_client):
    # ProductPriceAdmin edits `product` (autocomplete) like any other field.
    first = listed_product(prices=("KG",))
    second = listed_product(prices=())
    price = ProductPrice.objects.get(product=first)

    response = staff_client.post(
        f"/admin/products/productprice/{price.pk}/change/",
        {"product": second.pk, "market": "KG", "price": "1290.00", "original_price": ""},
    )

    assert response.status_code == 302, response.content[:500]
    assert markets_of(second) == {"KG"}
    assert markets_of(first) == set()  # no price in KG any more: not sellable there
    assert_fresh()


def test_a_price_moved_to_another_market_in_the_admin_moves_the_row(staff_client):
    product = listed_product(prices=("KG",))
    price = ProductPrice.objects.get(product=product)

    response = staff_client.post(
        f"/admin/products/productprice/{price.pk}/change/",
        {"product": product.pk, "market": "US", "price": "30.00", "original_price": ""},
    )

    assert response.status_code == 302, response.content[:500]
    assert markets_of(product) == {"US"}
    assert row(product, "US").price == Decimal("30.00")
    assert_fresh()


# --- reviews -----------------------------------------------------------------------------------


def _review(product: Product, rating: int, *, approved: bool = False) -> Review:
    user = UserFactory()
    order = OrderFactory(user=user, status=OrderStatus.DELIVERED)
    item = OrderItemFactory(order=order, product=product, product_name=product.name)
    return Review.objects.create(
        user=user, product=product, order_item=item, rating=rating, is_approved=approved
    )


def _rating(product: Product) -> set[tuple[Decimal, int]]:
    return {(row(product, m).rating_avg, row(product, m).reviews_count) for m in ("KG", "US")}


def test_moderated_reviews_move_the_listed_rating():
    product = listed_product()
    five, four = _review(product, 5), _review(product, 4)
    assert _rating(product) == {(Decimal("0.00"), 0)}

    assert reviews_set_approved(review_ids=[five.pk, four.pk], approved=True) == 2
    assert _rating(product) == {(Decimal("4.50"), 2)}
    assert_fresh()

    reviews_set_approved(review_ids=[five.pk], approved=False)
    assert _rating(product) == {(Decimal("4.00"), 1)}
    assert_fresh()

    reviews_delete(review_ids=[four.pk])
    assert _rating(product) == {(Decimal("0.00"), 0)}
    assert_fresh()


def test_a_new_review_of_a_verified_buyer_is_listed_at_once(customer):
    product = listed_product()
    order = OrderFactory(user=customer, status=OrderStatus.DELIVERED)
    OrderItemFactory(order=order, product=product, product_name=product.name)

    review_create(user=customer, product_id=product.pk, rating=3)

    assert _rating(product) == {(Decimal("3.00"), 1)}
    assert_fresh()


# --- deletions ---------------------------------------------------------------------------------


def test_a_deleted_subcategory_is_cleared_from_products_and_listings():
    product = listed_product(subcategory=None)
    subcategory = SubcategoryFactory(category=product.category)
    product.subcategory = subcategory
    product.save(update_fields=["subcategory", "updated_at"])
    assert row(product, "KG").subcategory_id == subcategory.pk

    subcategory.delete()

    assert Product.objects.get(pk=product.pk).subcategory_id is None
    assert {row(product, m).subcategory_id for m in ("KG", "US")} == {None}
    assert_fresh()


def _everything_of(product: Product) -> None:
    """Give `product` what a deletion must cascade through or detach."""
    SKUFactory(product=product, size="L", color="Red", color_hex="#FF0000", stock=0)
    ProductImage.objects.create(product=product, image="products/g/deleted.jpg")
    customer = UserFactory()
    item = OrderItemFactory(
        order=OrderFactory(user=customer, status=OrderStatus.DELIVERED),
        product=product,
        sku=SKU.objects.filter(product=product).first(),
    )
    Review.objects.create(
        user=customer, product=product, order_item=item, rating=4, is_approved=True
    )
    fill_cart(customer, (SKU.objects.filter(product=product).first(), 1))
    wishlist, _ = Wishlist.objects.get_or_create(user=customer)
    WishlistItem.objects.create(wishlist=wishlist, product=product)


@pytest.mark.django_db(transaction=True)  # deferred foreign keys are checked at a real commit
def test_deleted_products_take_their_rows_and_commit_cleanly():
    one, other = listed_product(), listed_product()
    for product in (one, other):
        _everything_of(product)
    assert markets_of(one) == markets_of(other) == {"KG", "US"}

    with transaction.atomic():
        one.delete()
    with transaction.atomic():  # the admin's bulk delete
        Product.objects.filter(pk=other.pk).delete()

    for product in (one, other):
        assert not Listing.objects.filter(product_id=product.pk).exists()
        assert not ListingFacet.objects.filter(product_id=product.pk).exists()
        assert not SKU.objects.filter(product_id=product.pk).exists()
    assert not CartItem.objects.exists()
    assert set(OrderItem.objects.values_list("product_id", "sku_id")) == {(None, None)}
    assert Listing.objects.count() == 2  # the bystander's
    assert_fresh()


@pytest.mark.django_db(transaction=True)
def test_deleted_prices_skus_and_images_commit_cleanly():
    product = listed_product()
    ProductImage.objects.create(product=product, image="products/g/one.jpg")

    with transaction.atomic():
        ProductImage.objects.filter(product=product).delete()
        SKU.objects.filter(product=product).delete()
        ProductPrice.objects.filter(product=product, market="US").delete()

    assert markets_of(product) == {"KG"}
    assert (row(product, "KG").image, row(product, "KG").in_stock) == ("", False)
    assert facets_of(product) == set()
    assert_fresh()


# --- transactions and the rebuild --------------------------------------------------------------


def test_a_rolled_back_change_leaves_the_read_model_as_it_was():
    product = listed_product()
    before = assert_fresh()

    def change_then_fail():
        with transaction.atomic():
            ProductPrice.objects.get(product=product, market="KG").delete()
            sku = SKU.objects.get(product=product)
            sku.is_active = False
            sku.save()
            product.name = "Never seen"
            product.save()
            assert markets_of(product) == {"US"}  # inside, the change shows
            raise _RolledBack

    with pytest.raises(_RolledBack):
        change_then_fail()

    assert assert_fresh() == before


def test_the_rebuild_returns_its_row_count_and_is_idempotent():
    listed_product(market="KG")
    listed_product(prices=("US",))
    listed_product(prices=())
    listed_product(is_active=False)
    kept = assert_fresh()

    assert listing_rebuild() == len(kept[0]) == Listing.objects.count() == 2 + 1 + 1
    assert snapshot() == kept
    assert listing_rebuild() == 4
    assert snapshot() == kept


def test_the_documented_rebuild_command_rebuilds():
    # `Listing`'s docstring: "`manage.py listing_rebuild` recomputes every row from the
    # source tables"; `on_source_saved` sends fixture loads to it too.
    listed_product()
    kept = assert_fresh()
    Listing.objects.all().delete()

    call_command("listing_rebuild", stdout=io.StringIO())

    assert snapshot() == kept


def _migration_apps():
    """The app registry as migration 0006 sees it."""
    state = MigrationExecutor(connection).loader.project_state(
        ("products", "0006_listing_read_model")
    )
    return state.apps


@pytest.mark.parametrize("registry", ["migration", "live"])
def test_the_migrations_fill_gives_the_rebuilt_rows(registry):
    fill_listings = importlib.import_module(
        "products.migrations.0006_listing_read_model"
    ).fill_listings
    listed_product(market="KG", main_image="products/kg.jpg")
    us_only = listed_product(market="US", prices=("US",))
    ProductImage.objects.create(product=us_only, image="products/g/us.jpg", sort_order=3)
    ProductImage.objects.create(product=us_only, image="products/g/us-first.jpg", sort_order=1)
    SKUFactory(product=us_only, size="S", color="Black", color_hex="#0A0A0A", stock=0)
    SKUFactory(product=us_only, size="XL", color="Grey", is_active=False)
    listed_product(prices=("KG", "US"), is_active=False)
    listed_product(market="KG", prices=("US",))
    expected = assert_fresh()
    Listing.objects.all().delete()
    ListingFacet.objects.all().delete()

    apps = _migration_apps() if registry == "migration" else live_apps
    if connection.vendor == "sqlite":
        # SQLite's schema editor refuses to open inside the test's transaction;
        # `fill_listings` reads only `schema_editor.connection`.
        fill_listings(apps, SimpleNamespace(connection=connection))
    else:
        with connection.schema_editor() as schema_editor:
            fill_listings(apps, schema_editor)

    assert snapshot() == expected
