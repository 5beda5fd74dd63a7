"""`manage.py seed_bench --products N [--reseed]`: the benchmark catalogue (issue 14).

The shape is the one the peer benchmark compares with django-oscar-api's
10,000 parents x 4 variants (shared/peer-bench/side_by_side.sh finds this
command and runs it with `--products 10000`; its probe checks "N products
visible in KG, 4.00 SKUs per product, 50 subcategories"):

- 5 categories x 10 subcategories, market ALL;
- N products in market KG, all active and priced, so all N are visible there;
- 4 SKUs per product (sizes S/M/L/XL, one colour with its hex), stock 10,
  except a few at 0 (and a few products with no stock at all), so `in_stock`
  means something;
- 1 KG price per product, about a quarter of them with a higher "was" price.

Everything comes from one seeded `random.Random`, drawn product after product,
so the first N products of a larger run are the N of a smaller one. A product's
slug depends on its number only (`bench-product-000001`), and the first product
by id is always visible and in stock: the harness's detail request uses it.
Newer ids are newer products (`created_at` one minute apart), as in a live shop.

Rows are written with `bulk_create` in one transaction, in chunks of 2,000
products, so memory stays flat and 100,000 products load in about a minute.
The catalogue's read model is then rebuilt with `listing_rebuild()` (bulk
writes send no signals) and the planner gets fresh statistics.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.db.models.expressions import CombinedExpression
from django.utils import timezone
from django.utils.text import slugify

from main.markets import CatalogMarket, Market
from products.models import SKU, Category, Product, ProductPrice, Subcategory
from products.services.listing import listing_rebuild

SEED = 20261124  # same catalogue on every machine

CHUNK = 2000  # products generated, inserted and dropped from memory at a time
SIZES = ("S", "M", "L", "XL")
SLUG_PREFIX = "bench-"
CREATED_STEP = timedelta(minutes=1)  # between consecutive products

CATEGORIES = {
    "Women": (
        "Dresses", "Tops", "Blouses", "Knitwear", "Trousers",
        "Skirts", "Jeans", "Outerwear", "Suits", "Loungewear",
    ),
    "Men": (
        "Shirts", "T-shirts", "Polos", "Knitwear", "Trousers",
        "Jeans", "Shorts", "Outerwear", "Suits", "Loungewear",
    ),
    "Kids": (
        "Girls dresses", "Girls tops", "Boys shirts", "Boys trousers", "Baby bodysuits",
        "Baby sets", "Outerwear", "Knitwear", "Sleepwear", "Schoolwear",
    ),
    "Shoes": (
        "Sneakers", "Boots", "Sandals", "Loafers", "Heels",
        "Flats", "Oxfords", "Slippers", "Trainers", "Espadrilles",
    ),
    "Accessories": (
        "Bags", "Scarves", "Belts", "Hats", "Gloves",
        "Wallets", "Sunglasses", "Jewellery", "Watches", "Socks",
    ),
}  # fmt: skip
BRANDS = ("Ala-Too", "Issyk", "Tengri", "Nomad", "Manas", "Naryn", "Chui", "Talas")
COLOURS = (
    ("Black", "#1C1C1E"),
    ("White", "#F4F4F2"),
    ("Navy", "#1F2A44"),
    ("Beige", "#D8C3A5"),
    ("Olive", "#6B7B3A"),
    ("Burgundy", "#7B1E3A"),
)
ADJECTIVES = ("Classic", "Slim", "Relaxed", "Linen", "Wool", "Cotton", "Cropped", "Pleated")
NOUNS = ("shirt", "dress", "coat", "sweater", "jacket", "skirt", "trousers", "hoodie")

# Prices in KGS, whole tens; a sale's "was" price is this much higher.
KGS_STEPS = (89, 1590)  # x 10 → 890 … 15,890 KGS
SALE_MARKUPS = (Decimal("1.2"), Decimal("1.25"), Decimal("1.3"), Decimal("1.5"))
TEN = Decimal("10")

# Shoppers' and staff's data that references the catalogue. `--reseed` empties the
# catalogue (TRUNCATE … CASCADE on PostgreSQL would empty these too), so it refuses
# to run while any of them has rows: that is not a benchmark database.
NOT_CATALOGUE = {"products.cartitem", "products.wishlistitem"}


def product_slug(number: int) -> str:
    return f"{SLUG_PREFIX}product-{number:06d}"


def _referencing_models(model) -> set:
    """Every model whose rows reference `model`, directly or through others."""
    found, todo = set(), [model]
    while todo:
        current = todo.pop()
        for relation in current._meta.related_objects:
            related = relation.related_model
            if relation.many_to_many or related in found:
                continue
            found.add(related)
            todo.append(related)
    return found


def data_outside_catalogue() -> dict[str, int]:
    """Rows `--reseed` would also delete, by model: orders' lines, reviews, banners, carts…"""
    counts = {}
    for model in _referencing_models(Category):
        label = model._meta.label_lower
        if model._meta.app_label == "products" and label not in NOT_CATALOGUE:
            continue
        if count := model._base_manager.count():
            counts[model._meta.label] = count
    return counts


def catalogue_wipe() -> None:
    """Empty the catalogue tables (and the read model), in the caller's transaction."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Category._meta.db_table)
        with connection.cursor() as cursor:
            # Rows written earlier in this transaction leave deferred foreign-key
            # checks pending, and TRUNCATE refuses a table with pending trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        return
    # Elsewhere (SQLite in tests), the ORM deletes in foreign-key order.
    Product.objects.all().delete()
    Category.objects.all().delete()


def _seed_tree() -> list[Subcategory]:
    categories = Category.objects.bulk_create(
        Category(
            name=name,
            slug=slugify(name),
            market=CatalogMarket.ALL,
            image=f"categories/{SLUG_PREFIX}{slugify(name)}.jpg",
            description=f"Everything {name.lower()}.",
            sort_order=index * 10,
        )
        for index, name in enumerate(CATEGORIES)
    )
    return Subcategory.objects.bulk_create(
        Subcategory(
            category=category,
            name=sub,
            slug=slugify(sub),
            image=f"subcategories/{SLUG_PREFIX}{slugify(sub)}.jpg",
            sort_order=index * 10,
        )
        for category in categories
        for index, sub in enumerate(CATEGORIES[category.name])
    )


def _product(rng: random.Random, number: int, subcategories: list[Subcategory]) -> Product:
    sub = rng.choice(subcategories)
    adjective, noun, brand = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(BRANDS)
    reviews = rng.choice((0, 0, rng.randint(1, 400)))
    return Product(
        name=f"{adjective} {noun} {number:06d}",
        slug=product_slug(number),
        description=f"A {adjective.lower()} {noun} by {brand}. Model {number:06d}.",
        brand=brand,
        category_id=sub.category_id,
        subcategory=sub,
        market=CatalogMarket.KG,
        main_image=f"products/{SLUG_PREFIX}{number:06d}.jpg",
        is_active=True,
        is_featured=number % 25 == 0,
        rating_avg=Decimal(rng.randint(250, 500)) / 100 if reviews else Decimal("0.00"),
        reviews_count=reviews,
        sales_count=rng.randint(0, 5000),
    )


def _skus_and_price(
    rng: random.Random, number: int, product: Product
) -> tuple[list[SKU], ProductPrice]:
    colour, hex_code = rng.choice(COLOURS)
    # About 3 % of products are sold out, and about 5 % of the other SKUs; never the first.
    sold_out = number > 1 and rng.random() < 0.03
    skus = []
    for size in SIZES:
        empty = sold_out or (number > 1 and rng.random() < 0.05)
        skus.append(
            SKU(
                product=product,
                code=f"B{number:06d}-{size}",
                size=size,
                color=colour,
                color_hex=hex_code,
                stock=0 if empty else 10,
                is_active=True,
            )
        )
    price = Decimal(rng.randint(*KGS_STEPS)) * TEN
    original = None
    if rng.random() < 0.25:
        original = (price * rng.choice(SALE_MARKUPS) / TEN).quantize(Decimal("1")) * TEN
    return skus, ProductPrice(
        product=product, market=Market.KG, price=price, original_price=original
    )


def _steps(count) -> ExpressionWrapper | CombinedExpression:
    """`count` x CREATED_STEP as a duration expression."""
    if connection.features.has_native_duration_field:  # PostgreSQL: integer * interval
        return count * Value(CREATED_STEP, output_field=DurationField())
    # SQLite keeps a duration as integer microseconds, and its integer x duration is NULL.
    microseconds = CREATED_STEP // timedelta(microseconds=1)
    return ExpressionWrapper(count * microseconds, output_field=DurationField())


def seed_bench_catalogue(*, products: int, seed: int = SEED) -> dict[str, int]:
    """Write the benchmark catalogue into empty catalogue tables; returns the row counts."""
    rng = random.Random(seed)
    subcategories = _seed_tree()
    counts = {"categories": len(CATEGORIES), "subcategories": len(subcategories)}
    counts.update(products=0, skus=0, prices=0)
    for start in range(1, products + 1, CHUNK):
        batch, skus, prices = [], [], []
        # One product and its rows at a time: the draws do not depend on CHUNK.
        for number in range(start, min(start + CHUNK, products + 1)):
            product = _product(rng, number, subcategories)
            product_skus, price = _skus_and_price(rng, number, product)
            batch.append(product)
            skus.extend(product_skus)
            prices.append(price)
        Product.objects.bulk_create(batch)  # sets the pks the SKUs and prices then use
        SKU.objects.bulk_create(skus, batch_size=CHUNK)
        ProductPrice.objects.bulk_create(prices, batch_size=CHUNK)
        counts["products"] += len(batch)
        counts["skus"] += len(skus)
        counts["prices"] += len(prices)

    # bulk_create stamps every row with "now" (auto_now_add): spread the products
    # one step apart, newest id newest, so "newest first" has a real order to follow.
    last_id = Product.objects.order_by("-id").values_list("id", flat=True).first()
    if last_id is not None:
        Product.objects.update(
            created_at=ExpressionWrapper(
                Value(timezone.now() - CREATED_STEP * last_id) + _steps(F("id")),
                output_field=DateTimeField(),
            )
        )
    return counts


def refresh_planner_statistics() -> None:
    """Fresh statistics (and, outside a transaction on PostgreSQL, a vacuumed table).

    VACUUM sets the visibility map, so index-only scans need no heap visits, and
    it keeps autovacuum from starting on the new rows in the middle of a measurement.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            cursor.execute("VACUUM (ANALYZE)")
        else:
            cursor.execute("ANALYZE")


class Command(BaseCommand):
    help = (
        "Seed the benchmark catalogue: 5 categories x 10 subcategories, N KG products with "
        "4 SKUs (S/M/L/XL) and one KG price each, with bulk_create in one transaction, then "
        "rebuild the catalogue read model. Refuses a database that already has a catalogue "
        "unless --reseed. For benchmark databases (bench/catalogue.py, peer-bench)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--products", type=int, default=10_000, help="Products to seed (default 10000)."
        )
        parser.add_argument(
            "--reseed",
            action="store_true",
            help=(
                "Empty the catalogue tables first (TRUNCATE … CASCADE on PostgreSQL). Refused "
                "while orders, reviews, banners, carts or wishlists reference the catalogue."
            ),
        )
        parser.add_argument("--seed", type=int, default=SEED, help=f"Random seed (default {SEED}).")

    def handle(self, *args, products: int, reseed: bool, seed: int, **options):
        if products < 1:
            raise CommandError("--products must be at least 1.")
        existing = {
            "products": Product.objects.count(),
            "categories": Category.objects.count(),
        }
        if any(existing.values()):
            if not reseed:
                raise CommandError(
                    f"The catalogue is not empty ({existing['products']} products, "
                    f"{existing['categories']} categories): seed_bench seeds an empty "
                    "catalogue. Use --reseed to empty it first."
                )
            if outside := data_outside_catalogue():
                listed = ", ".join(f"{label} ({count})" for label, count in sorted(outside.items()))
                raise CommandError(
                    f"--reseed would also delete rows that are not catalogue: {listed}. "
                    "This is not a benchmark database; nothing was changed."
                )

        started = time.perf_counter()
        with transaction.atomic():
            if any(existing.values()):
                catalogue_wipe()
            counts = seed_bench_catalogue(products=products, seed=seed)
            loaded = time.perf_counter()
            listings = listing_rebuild()
        rebuilt = time.perf_counter()
        refresh_planner_statistics()
        finished = time.perf_counter()

        self.stdout.write(
            self.style.SUCCESS(
                f"Benchmark catalogue ready{' (reseeded)' if any(existing.values()) else ''}."
            )
        )
        figures = " ".join(f"{name}={count}" for name, count in counts.items())
        self.stdout.write(
            f"seeded: {figures} listings={listings} | load_s={loaded - started:.2f} "
            f"listing_s={rebuilt - loaded:.2f} analyze_s={finished - rebuilt:.2f}"
        )
