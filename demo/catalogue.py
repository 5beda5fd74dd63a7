"""The demo catalogue for `manage.py seed_demo`: categories, products, SKUs, prices, pictures.

Everything is deterministic: each product draws its details (sizes, colours,
stock, prices, description) from its own `random.Random` seeded with its slug,
so the full set and the `--small` set agree on every product they share, and a
product never depends on which others exist. Pictures are drawn with Pillow
(no downloads) and saved through the models' ImageFields, so they land in the
configured storage. Each gallery picture is drawn in one of the product's SKU
colours and tied to it (`ProductImage.color`); main images get their renditions
from the worker (queued when saved), gallery pictures, made with `bulk_create`,
from `renditions_backfill` at the end, inline.

Re-running creates only what is missing: categories and subcategories are
looked up by slug; a product is created together with its pictures, features,
SKUs and prices, and an existing product is left exactly as it is (its stock
may have moved, a manager may have edited it).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.core.files.base import ContentFile
from django.utils.text import slugify
from PIL import Image, ImageDraw, ImageFont

from main.markets import CatalogMarket, Market
from products.models import (
    SKU,
    Category,
    Product,
    ProductFeature,
    ProductImage,
    ProductPrice,
    Subcategory,
)
from products.services.images import renditions_backfill
from products.services.listing import listing_refresh

SEED = "marque-demo-v1"

PRODUCT_PICTURE_SIZE = (600, 800)
CATEGORY_PICTURE_SIZE = (600, 600)

# Believable price levels per market (SPEC §2: KGS and USD never mix).
KGS_MIN, KGS_MAX = Decimal("890"), Decimal("15890")
USD_MIN, USD_MAX = Decimal("12.99"), Decimal("259.99")
CENT = Decimal("0.01")


# --------------------------------------------------------------------------- pictures


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: no system fonts needed, Latin text only.
    return ImageFont.load_default(size=size)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _mix(colour: tuple[int, int, int], other: tuple[int, int, int], amount: float):
    return tuple(round(a + (b - a) * amount) for a, b in zip(colour, other, strict=True))


def _ink_for(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Dark text on light colours, light text on dark ones."""
    r, g, b = colour
    return (24, 24, 27) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (250, 250, 249)


def _wrap(text: str, font, max_width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def render_picture(
    *,
    size: tuple[int, int],
    title: str,
    colour: str,
    kicker: str = "",
    caption: str = "",
) -> bytes:
    """A simple JPEG: a coloured card with a title, for demo products, categories and banners.

    `colour` is a #RRGGBB hex; `kicker` is small text above the title (a brand),
    `caption` small text at the bottom (a view name, a subtitle).
    """
    width, height = size
    base = _rgb(colour)
    background = _mix(base, (255, 255, 255), 0.55)
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    margin = round(min(width, height) * 0.08)
    draw.rounded_rectangle(
        (margin, margin, width - margin, height - margin), radius=margin // 2, fill=base
    )
    ink = _ink_for(base)
    text_width = width - 4 * margin
    # Wide banners get a larger title than their height alone would give.
    scale = min(width, height) * (1.6 if width >= 2 * height else 1)
    title_font = _font(max(18, round(scale * 0.075)))
    small_font = _font(max(12, round(scale * 0.035)))
    lines = _wrap(title, title_font, text_width)
    line_height = round(getattr(title_font, "size", 11) * 1.25)
    top = height / 2 - line_height * (len(lines) - 1) / 2
    for index, line in enumerate(lines):
        draw.text(
            (width / 2, top + index * line_height), line, font=title_font, fill=ink, anchor="mm"
        )
    if kicker:
        draw.text((width / 2, margin * 2), kicker.upper(), font=small_font, fill=ink, anchor="mm")
    if caption:
        lines = _wrap(caption, small_font, text_width)
        line_height = round(getattr(small_font, "size", 11) * 1.3)
        bottom = height - margin * 2
        for index, line in enumerate(lines):
            y = bottom - (len(lines) - 1 - index) * line_height
            draw.text((width / 2, y), line, font=small_font, fill=ink, anchor="mm")
    draw.text(
        (width - margin * 1.5, height - margin * 0.5),
        "MARQUE",
        font=_font(max(12, round(min(width, height) * 0.035))),
        fill=_ink_for(background),
        anchor="rm",
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def save_picture(field, name: str, **picture) -> None:
    """Draw a picture and store it through an ImageField (`instance.image`), not saving the row."""
    field.save(f"{name}.jpg", ContentFile(render_picture(**picture)), save=False)


# --------------------------------------------------------------------------- categories


@dataclass(frozen=True)
class CategorySpec:
    slug: str
    name: str
    market: str
    colour: str
    description: str
    subcategories: tuple[tuple[str, str], ...]  # (slug, name)
    small: bool = False  # part of the `--small` set


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        "women",
        "Women",
        CatalogMarket.ALL,
        "#B5838D",
        "Dresses, tops, knitwear and coats for every day and every season.",
        (
            ("dresses", "Dresses"),
            ("tops", "Tops & Blouses"),
            ("knitwear", "Knitwear"),
            ("outerwear", "Coats & Jackets"),
            ("trousers-skirts", "Trousers & Skirts"),
        ),
        small=True,
    ),
    CategorySpec(
        "men",
        "Men",
        CatalogMarket.ALL,
        "#3D5A80",
        "Shirts, knits, chinos and outerwear with a clean, modern cut.",
        (
            ("shirts", "Shirts"),
            ("t-shirts", "T-shirts & Polos"),
            ("knitwear", "Knitwear"),
            ("trousers", "Trousers"),
            ("outerwear", "Coats & Jackets"),
        ),
        small=True,
    ),
    CategorySpec(
        "kids",
        "Kids",
        CatalogMarket.ALL,
        "#F2CC8F",
        "Soft, hard-wearing clothes for babies, girls and boys.",
        (("girls", "Girls"), ("boys", "Boys"), ("baby", "Baby")),
    ),
    CategorySpec(
        "shoes",
        "Shoes",
        CatalogMarket.ALL,
        "#6D597A",
        "Sneakers, boots and loafers in leather, suede and canvas.",
        (("sneakers", "Sneakers"), ("boots", "Boots"), ("loafers", "Loafers & Flats")),
    ),
    CategorySpec(
        "accessories",
        "Accessories",
        CatalogMarket.ALL,
        "#81B29A",
        "Bags, scarves, jewellery and belts to finish the look.",
        (
            ("bags", "Bags"),
            ("scarves-hats", "Scarves & Hats"),
            ("jewellery", "Jewellery"),
            ("belts", "Belts"),
        ),
    ),
    CategorySpec(
        "traditional",
        "Traditional",
        CatalogMarket.KG,
        "#9B2226",
        "Kyrgyz national dress and craft: felt kalpaks, velvet chapans, "
        "embroidered dresses and silver jewellery from local workshops.",
        (
            ("headwear", "Kalpaks & Headwear"),
            ("chapans-vests", "Chapans & Vests"),
            ("dresses-skirts", "Dresses & Skirts"),
            ("felt", "Felt Crafts"),
            ("jewellery", "National Jewellery"),
        ),
        small=True,
    ),
    CategorySpec(
        "winter-essentials",
        "Winter Essentials",
        CatalogMarket.KG,
        "#264653",
        "Down parkas, thermals and yak-wool accessories for a Bishkek winter.",
        (
            ("down-jackets", "Down Jackets"),
            ("thermal", "Thermal Wear"),
            ("warm-accessories", "Warm Accessories"),
        ),
        small=True,
    ),
    CategorySpec(
        "activewear",
        "Activewear",
        CatalogMarket.US,
        "#E76F51",
        "Leggings, sports tops, hoodies and running gear that move with you.",
        (
            ("leggings", "Leggings"),
            ("sports-tops", "Sports Tops"),
            ("hoodies", "Hoodies & Sweatshirts"),
            ("running", "Running"),
        ),
        small=True,
    ),
    CategorySpec(
        "denim",
        "Denim",
        CatalogMarket.US,
        "#1D3557",
        "Selvedge jeans and denim jackets in classic washes.",
        (("jeans", "Jeans"), ("jackets", "Denim Jackets")),
        small=True,
    ),
    CategorySpec(
        "swimwear",
        "Swimwear",
        CatalogMarket.US,
        "#2A9D8F",
        "Swimsuits and swim trunks for the beach and the pool.",
        (("women", "Women's Swim"), ("men", "Men's Swim")),
    ),
)


def seed_categories(*, small: bool = False) -> dict[str, Category]:
    """Create the demo categories and subcategories that are missing; return them by slug."""
    specs = [spec for spec in CATEGORIES if spec.small or not small]
    existing = Category.objects.in_bulk([spec.slug for spec in specs], field_name="slug")
    categories: dict[str, Category] = {}
    for spec in specs:
        category = existing.get(spec.slug)
        if category is None:
            category = Category(
                slug=spec.slug,
                name=spec.name,
                market=spec.market,
                description=spec.description,
                sort_order=CATEGORIES.index(spec) * 10,
            )
            save_picture(
                category.image,
                f"{spec.slug}",
                size=CATEGORY_PICTURE_SIZE,
                title=spec.name,
                colour=spec.colour,
                caption=f"Shop {spec.name.lower()}",
            )
            category.save()
        categories[spec.slug] = category

    have = set(
        Subcategory.objects.filter(category__in=categories.values()).values_list(
            "category__slug", "slug"
        )
    )
    Subcategory.objects.bulk_create(
        Subcategory(category=categories[spec.slug], slug=slug, name=name, sort_order=index * 10)
        for spec in specs
        for index, (slug, name) in enumerate(spec.subcategories)
        if (spec.slug, slug) not in have
    )
    return categories


# --------------------------------------------------------------------------- products

COLOURS: dict[str, str] = {
    "Black": "#1C1C1E",
    "White": "#F4F4F2",
    "Ivory": "#EFE8D8",
    "Navy": "#1F2A44",
    "Grey Melange": "#9A9A9A",
    "Charcoal": "#3A3B3C",
    "Beige": "#D8C3A5",
    "Camel": "#C19A6B",
    "Chocolate": "#5C4033",
    "Olive": "#6B7B3A",
    "Sage": "#9CAF88",
    "Burgundy": "#7B1E3A",
    "Terracotta": "#C8553D",
    "Dusty Pink": "#D8A7B1",
    "Sky Blue": "#8AB6D6",
    "Cobalt": "#1F4FA0",
    "Mustard": "#D4A72C",
    "Indigo": "#2E3A59",
    "Light Wash": "#8FA9C8",
    "Mid Wash": "#4F6D8F",
    "Dark Rinse": "#27374D",
    "Silver": "#C0C0C0",
    "Gold": "#C9A646",
    "Red": "#B3202A",
    "Emerald": "#1E6F50",
    "Natural Felt": "#E6DCC8",
}


@dataclass(frozen=True)
class Kind:
    """What a type of article is sold in and made of."""

    sizes: tuple[str, ...]
    min_sizes: int
    colours: tuple[str, ...]
    materials: tuple[str, ...]
    care: tuple[str, ...]
    fits: tuple[str, ...] = ()


_APPAREL = ("XS", "S", "M", "L", "XL", "XXL")
_WASH_COLD = ("Machine wash cold, hang to dry", "Machine wash at 30°C, do not tumble dry")
_HAND_WASH = ("Hand wash cold, dry flat", "Dry clean only")
_LEATHER = ("Wipe clean with a damp cloth", "Treat with leather conditioner twice a season")

KINDS: dict[str, Kind] = {
    "top": Kind(
        _APPAREL,
        4,
        ("White", "Black", "Navy", "Sky Blue", "Sage", "Dusty Pink", "Ivory"),
        ("100% organic cotton", "Cotton poplin", "95% cotton, 5% elastane", "Washed linen"),
        _WASH_COLD,
        ("Regular fit", "Relaxed fit", "Slim fit"),
    ),
    "dress": Kind(
        _APPAREL[:5],
        4,
        ("Black", "Terracotta", "Sage", "Navy", "Dusty Pink", "Ivory", "Emerald"),
        ("100% linen", "Viscose crepe", "Mulberry silk", "Cotton voile"),
        _WASH_COLD + _HAND_WASH,
        ("True to size", "Relaxed fit, size down for a closer fit"),
    ),
    "knit": Kind(
        _APPAREL,
        4,
        ("Camel", "Grey Melange", "Ivory", "Navy", "Burgundy", "Olive"),
        ("100% merino wool", "Lambswool", "70% wool, 30% cashmere", "Yak wool blend"),
        _HAND_WASH,
        ("Regular fit", "Oversized fit"),
    ),
    "outer": Kind(
        _APPAREL,
        4,
        ("Black", "Camel", "Olive", "Navy", "Charcoal", "Chocolate"),
        ("Wool blend with viscose lining", "Cotton twill, quilted lining", "Recycled nylon shell"),
        ("Dry clean only", "Spot clean, professional clean when needed"),
        ("Regular fit", "Relaxed fit, room for layers"),
    ),
    "waist": Kind(
        ("26", "28", "30", "32", "34", "36", "38"),
        4,
        ("Navy", "Beige", "Olive", "Black", "Charcoal"),
        ("98% cotton, 2% elastane", "Stretch twill", "Wool flannel"),
        _WASH_COLD,
        ("Slim fit", "Straight fit", "Tapered fit"),
    ),
    "denim": Kind(
        ("26", "28", "30", "32", "34", "36"),
        4,
        ("Light Wash", "Mid Wash", "Dark Rinse", "Black"),
        ("100% cotton denim", "Organic cotton denim, 1% elastane"),
        ("Wash inside out, cold", "Wash rarely, inside out, hang to dry"),
        ("Straight fit", "Relaxed fit", "Slim fit"),
    ),
    "denim_jacket": Kind(
        _APPAREL,
        4,
        ("Light Wash", "Mid Wash", "Dark Rinse", "Black"),
        ("12 oz cotton denim",),
        ("Wash inside out, cold", "Wash rarely, inside out, hang to dry"),
        ("Regular fit", "Boxy fit"),
    ),
    "kids": Kind(
        ("2-3Y", "4-5Y", "6-7Y", "8-9Y", "10-11Y", "12-13Y"),
        3,
        ("Navy", "Mustard", "Sky Blue", "Dusty Pink", "Grey Melange", "Red"),
        ("100% organic cotton", "Cotton fleece", "Cotton twill"),
        ("Machine wash at 40°C", *_WASH_COLD),
        ("Regular fit", "Room to grow"),
    ),
    "baby": Kind(
        ("0-3M", "3-6M", "6-12M", "12-18M", "18-24M"),
        3,
        ("Ivory", "Sage", "Dusty Pink", "Sky Blue"),
        ("100% organic cotton", "Soft merino knit"),
        ("Machine wash at 40°C", "Hand wash cold, dry flat"),
    ),
    "shoe": Kind(
        ("36", "37", "38", "39", "40", "41", "42", "43", "44", "45"),
        5,
        ("White", "Black", "Chocolate", "Camel", "Navy"),
        ("Full-grain leather", "Suede upper, rubber sole", "Recycled canvas, natural rubber"),
        _LEATHER,
        ("True to size", "Runs small, take a half size up"),
    ),
    "one": Kind(
        ("One size",),
        1,
        ("Black", "Camel", "Chocolate", "Ivory", "Burgundy", "Navy"),
        ("Full-grain leather", "Recycled nylon", "Cashmere blend", "Cotton canvas"),
        ("Spot clean only", "Wipe clean with a dry cloth"),
    ),
    "active": Kind(
        _APPAREL[:5],
        4,
        ("Black", "Charcoal", "Navy", "Sage", "Cobalt", "Terracotta"),
        ("Recycled polyester, 22% elastane", "Nylon-spandex performance knit"),
        ("Machine wash cold, no fabric softener",),
        ("Compressive fit", "Regular fit"),
    ),
    "swim": Kind(
        _APPAREL[:5],
        4,
        ("Black", "Navy", "Terracotta", "Emerald", "Sky Blue"),
        ("Recycled nylon, 20% elastane", "Quick-dry recycled polyester"),
        ("Rinse in cool water after use, dry in the shade",),
        ("True to size",),
    ),
    "scarf": Kind(
        ("One size",),
        1,
        ("Camel", "Grey Melange", "Ivory", "Burgundy", "Navy"),
        ("Merino wool", "Wool blend"),
        ("Hand wash cold, dry flat",),
    ),
    "jewel": Kind(
        ("One size",),
        1,
        ("Silver", "Gold"),
        ("925 sterling silver", "Gold-plated sterling silver", "Freshwater pearl and silver"),
        ("Polish with a soft cloth, keep away from water",),
    ),
    "belt": Kind(
        ("80 cm", "90 cm", "100 cm", "110 cm"),
        3,
        ("Black", "Chocolate", "Camel"),
        ("Full-grain leather, brass buckle", "Vegetable-tanned leather"),
        _LEATHER,
    ),
    "headwear": Kind(
        ("56", "57", "58", "59", "60"),
        3,
        ("Natural Felt", "Ivory", "Chocolate"),
        ("Hand-felted sheep wool", "Felt with black velvet trim"),
        ("Brush lightly, keep dry", "Store on a stand to keep the shape"),
    ),
    "warm": Kind(
        ("S/M", "L/XL"),
        2,
        ("Camel", "Grey Melange", "Chocolate", "Ivory"),
        ("100% yak down wool", "Yak and merino blend"),
        ("Hand wash cold, dry flat",),
    ),
    "national": Kind(
        ("XS", "S", "M", "L", "XL"),
        4,
        ("Burgundy", "Emerald", "Navy", "Black", "Cobalt"),
        ("Cotton velvet with gold embroidery", "Wool with hand embroidery", "Silk-blend brocade"),
        ("Dry clean only",),
        ("Traditional cut", "Regular fit"),
    ),
    "felt": Kind(
        ("36", "37", "38", "39", "40", "41", "42", "43", "44"),
        5,
        ("Natural Felt", "Red", "Burgundy"),
        ("Hand-felted shyrdak wool", "Sheep wool felt with leather sole"),
        ("Brush lightly, air out, keep dry",),
    ),
    "textile": Kind(
        ("One size",),
        1,
        ("Ivory", "White", "Burgundy"),
        ("Cotton with hand embroidery", "Silk with gold-thread embroidery"),
        ("Hand wash cold, dry flat",),
    ),
    "craft": Kind(
        ("One size",),
        1,
        ("Natural Felt", "Red", "Black"),
        ("Hand-felted sheep wool", "Felt with appliqué ornament, leather strap"),
        ("Brush lightly, keep dry",),
    ),
}

BRAND_ORIGIN: dict[str, str] = {
    "MARQUE Studio": "Portugal",
    "Northline": "Vietnam",
    "Juniper Lane": "Portugal",
    "Harbor & Pine": "Turkey",
    "Issyk Wool": "Kyrgyzstan",
    "Kelbet": "Kyrgyzstan",
    "Tengri": "Kyrgyzstan",
    "Petit Nomad": "Turkey",
    "Stride Lab": "Vietnam",
    "Soft Pace": "Kyrgyzstan",
    "Bishkek Atelier": "Kyrgyzstan",
    "Ala-Too Craft": "Kyrgyzstan",
    "Orun": "Kyrgyzstan",
    "Atlas Denim": "USA",
    "Saltwater Co.": "USA",
}


# A material named in the product's name wins over its kind's usual materials.
MATERIAL_BY_WORD: tuple[tuple[str, str], ...] = (
    ("shearling", "Leather upper, shearling lining"),
    ("sherpa", "Cotton denim, recycled sherpa lining"),
    ("running shoes", "Engineered mesh upper, lugged rubber outsole"),
    ("selvedge", "13.5 oz selvedge denim"),
    ("denim", "12 oz cotton denim"),
    ("oxford", "Cotton Oxford cloth"),
    ("waxed cotton", "Waxed cotton canvas, cotton lining"),
    ("organic cotton", "100% organic cotton"),
    ("cashmere", "70% wool, 30% cashmere"),
    ("lambswool", "100% lambswool"),
    ("merino", "100% merino wool"),
    ("yak", "100% yak wool"),
    ("velvet", "Cotton velvet with gold-thread embroidery"),
    ("shyrdak", "Hand-felted shyrdak wool, leather sole"),
    ("felt", "Hand-felted sheep wool"),
    ("wool", "80% wool, 20% polyamide"),
    ("linen", "100% linen"),
    ("silk", "100% mulberry silk"),
    ("satin", "Satin-finish viscose"),
    ("poplin", "Cotton poplin"),
    ("flannel", "Brushed cotton flannel"),
    ("fleece", "Brushed cotton fleece"),
    ("down parka", "Recycled nylon shell, 90/10 duck down"),
    ("down jacket", "Recycled nylon shell, 90/10 duck down"),
    ("puffer", "Recycled nylon shell, recycled polyester fill"),
    ("suede", "Suede upper, rubber sole"),
    ("leather", "Full-grain leather"),
    ("canvas", "Recycled canvas, natural rubber sole"),
    ("nylon", "Recycled nylon"),
    ("silver", "925 sterling silver"),
    ("pearl", "Freshwater pearl, sterling silver chain"),
    ("cotton", "100% cotton"),
)


@dataclass(frozen=True)
class ProductSpec:
    name: str
    category: str  # category slug
    subcategory: str  # subcategory slug within that category
    market: str
    brand: str
    kind: str  # a key of KINDS
    usd: int  # list price in dollars; KGS prices follow at local levels
    flags: frozenset[str] = frozenset()  # "featured", "inactive", "small" (in the --small set)

    @property
    def slug(self) -> str:
        return slugify(self.name)


ALL, KG, US = CatalogMarket.ALL, CatalogMarket.KG, CatalogMarket.US

# category: (name, subcategory, market, brand, kind, list price in USD, flags)
_CATALOGUE: dict[str, tuple[tuple, ...]] = {
    "women": (
        ("Linen Wrap Dress", "dresses", ALL, "Juniper Lane", "dress", 89, "featured small"),
        ("Silk Slip Midi Dress", "dresses", US, "MARQUE Studio", "dress", 149),
        ("Floral Tea Dress", "dresses", KG, "Kelbet", "dress", 59, "featured"),
        ("Satin Button Blouse", "tops", ALL, "MARQUE Studio", "top", 69),
        ("Ribbed Cotton Tank", "tops", ALL, "Northline", "top", 19),
        ("Oversized Poplin Shirt", "tops", US, "Juniper Lane", "top", 64),
        ("Merino Crew Sweater", "knitwear", ALL, "Issyk Wool", "knit", 95),
        ("Cable-Knit Cardigan", "knitwear", KG, "Issyk Wool", "knit", 79),
        ("Wool-Blend Wrap Coat", "outerwear", ALL, "MARQUE Studio", "outer", 239, "featured"),
        ("Quilted Puffer Vest", "outerwear", US, "Northline", "outer", 109),
        ("High-Rise Wide-Leg Trousers", "trousers-skirts", ALL, "Juniper Lane", "waist", 79),
        ("Pleated Midi Skirt", "trousers-skirts", KG, "Kelbet", "dress", 55),
    ),
    "men": (
        ("Oxford Button-Down Shirt", "shirts", ALL, "Harbor & Pine", "top", 59, "small"),
        ("Linen Camp-Collar Shirt", "shirts", US, "Saltwater Co.", "top", 65),
        ("Flannel Overshirt", "shirts", KG, "Tengri", "top", 49),
        ("Essential Crew T-Shirt", "t-shirts", ALL, "Northline", "top", 15),
        ("Pique Polo Shirt", "t-shirts", ALL, "Harbor & Pine", "top", 45),
        ("Heavyweight Pocket Tee", "t-shirts", US, "Stride Lab", "top", 32, "inactive"),
        ("Lambswool V-Neck Sweater", "knitwear", ALL, "Issyk Wool", "knit", 89),
        ("Chunky Half-Zip Knit", "knitwear", KG, "Tengri", "knit", 75),
        ("Slim Stretch Chinos", "trousers", ALL, "Harbor & Pine", "waist", 69),
        ("Tailored Wool Trousers", "trousers", US, "MARQUE Studio", "waist", 129),
        ("Waxed Cotton Field Jacket", "outerwear", ALL, "Harbor & Pine", "outer", 219, "featured"),
        ("Lightweight Bomber Jacket", "outerwear", KG, "Tengri", "outer", 99),
    ),
    "kids": (
        ("Girls' Striped Cotton Dress", "girls", ALL, "Petit Nomad", "kids", 29),
        ("Girls' Denim Pinafore", "girls", US, "Petit Nomad", "kids", 34),
        ("Boys' Hooded Sweatshirt", "boys", ALL, "Petit Nomad", "kids", 32),
        ("Boys' Cargo Joggers", "boys", KG, "Petit Nomad", "kids", 24),
        ("Organic Cotton Bodysuit Set", "baby", ALL, "Petit Nomad", "baby", 22),
        ("Knitted Baby Romper", "baby", KG, "Issyk Wool", "baby", 28),
    ),
    "shoes": (
        ("Leather Court Sneakers", "sneakers", ALL, "Stride Lab", "shoe", 119, "featured"),
        ("Retro Suede Runners", "sneakers", US, "Stride Lab", "shoe", 95),
        ("Canvas Low-Top Sneakers", "sneakers", KG, "Soft Pace", "shoe", 45),
        ("Chelsea Leather Boots", "boots", ALL, "Harbor & Pine", "shoe", 179),
        ("Shearling-Lined Winter Boots", "boots", KG, "Tengri", "shoe", 149),
        ("Suede Penny Loafers", "loafers", ALL, "MARQUE Studio", "shoe", 139),
        ("Leather Ballet Flats", "loafers", US, "Juniper Lane", "shoe", 79),
    ),
    "accessories": (
        ("Leather Tote Bag", "bags", ALL, "MARQUE Studio", "one", 189, "featured"),
        ("Nylon Crossbody Bag", "bags", US, "Northline", "one", 59),
        ("Mini Leather Bucket Bag", "bags", KG, "Kelbet", "one", 85),
        ("Cashmere-Blend Scarf", "scarves-hats", ALL, "Issyk Wool", "scarf", 79),
        ("Ribbed Wool Beanie", "scarves-hats", ALL, "Northline", "scarf", 22),
        ("Sterling Silver Hoop Earrings", "jewellery", ALL, "Bishkek Atelier", "jewel", 49),
        ("Pearl Pendant Necklace", "jewellery", US, "Juniper Lane", "jewel", 89),
        ("Reversible Leather Belt", "belts", ALL, "Harbor & Pine", "belt", 49),
    ),
    "traditional": (
        ("Ak-Kalpak Felt Hat", "headwear", KG, "Ala-Too Craft", "headwear", 25, "featured small"),
        ("Fur-Trimmed Tebetei Hat", "headwear", KG, "Ala-Too Craft", "headwear", 69),
        ("Embroidered Elechek Headdress", "headwear", KG, "Orun", "textile", 59),
        ("Velvet Chapan Coat", "chapans-vests", KG, "Orun", "national", 179, "featured"),
        ("Embroidered Kemsel Vest", "chapans-vests", KG, "Ala-Too Craft", "national", 79),
        ("Beldemchi Wrap Skirt", "dresses-skirts", KG, "Orun", "national", 65),
        ("Velvet Ornament Dress", "dresses-skirts", KG, "Kelbet", "national", 129),
        ("Shyrdak Felt Slippers", "felt", KG, "Ala-Too Craft", "felt", 19),
        ("Felt Ornament Shoulder Bag", "felt", KG, "Ala-Too Craft", "craft", 35),
        ("Silver Bilerik Bracelet", "jewellery", KG, "Bishkek Atelier", "jewel", 99),
        ("Tumar Amulet Pendant", "jewellery", KG, "Bishkek Atelier", "jewel", 45, "inactive"),
    ),
    "winter-essentials": (
        ("Long Hooded Down Parka", "down-jackets", KG, "Tengri", "outer", 189, "small"),
        ("Short Down Jacket", "down-jackets", KG, "Northline", "outer", 139),
        ("Merino Thermal Base Layer", "thermal", KG, "Issyk Wool", "knit", 59),
        ("Yak Wool Mittens", "warm-accessories", KG, "Issyk Wool", "warm", 29),
        ("Yak Down Scarf", "warm-accessories", KG, "Issyk Wool", "scarf", 49),
    ),
    "activewear": (
        ("Performance Leggings", "leggings", US, "Stride Lab", "active", 68, "featured small"),
        ("Seamless Sports Bra", "sports-tops", US, "Stride Lab", "active", 42),
        ("Fleece Zip Hoodie", "hoodies", US, "Northline", "top", 78),
        ("Brushed Fleece Sweatshirt", "hoodies", US, "Stride Lab", "top", 58),
        ("Lightweight Running Shorts", "running", US, "Stride Lab", "active", 36),
        ("Trail Running Shoes", "running", US, "Stride Lab", "shoe", 135),
    ),
    "denim": (
        ("Straight-Leg Selvedge Jeans", "jeans", US, "Atlas Denim", "denim", 128, "small"),
        ("Relaxed Mom Jeans", "jeans", US, "Atlas Denim", "denim", 89),
        ("Classic Denim Trucker Jacket", "jackets", US, "Atlas Denim", "denim_jacket", 118),
        (
            "Sherpa-Lined Denim Jacket",
            "jackets",
            US,
            "Atlas Denim",
            "denim_jacket",
            148,
            "inactive",
        ),
    ),
    "swimwear": (
        ("Ribbed One-Piece Swimsuit", "women", US, "Saltwater Co.", "swim", 78),
        ("Quick-Dry Swim Trunks", "men", US, "Saltwater Co.", "swim", 45),
    ),
}

PRODUCTS: tuple[ProductSpec, ...] = tuple(
    ProductSpec(name, category, sub, market, brand, kind, usd, frozenset(" ".join(flags).split()))
    for category, rows in _CATALOGUE.items()
    for name, sub, market, brand, kind, usd, *flags in rows
)


_OPENERS = (
    "A wardrobe staple you will reach for again and again.",
    "Cut for comfort and made to last for many seasons.",
    "Designed in small batches with attention to every seam.",
    "An easy piece that dresses up or down.",
    "Our best-seller, back in new colours.",
)
_CLOSERS = (
    "Pair it with denim for the weekend or tailoring for the office.",
    "Finished with tonal stitching and reinforced seams.",
    "Made in {origin} by a partner workshop we visit every season.",
)
_MORE_COLOURS = "Shown in {colour}; also available in other colours."


@dataclass
class _PlannedProduct:
    spec: ProductSpec
    description: str
    colours: list[str]
    skus: list[SKU]
    features: list[tuple[str, str]]
    prices: list[tuple[str, Decimal, Decimal | None]]  # (market, price, original_price)
    gallery_size: int


def _snap(amount: float, step: int, minus: Decimal) -> Decimal:
    """Round to a shop-like price: 2 490.00 som, 59.99 dollars."""
    return Decimal(max(1, round(amount / step)) * step) - minus


def _price_pair(rng: random.Random, market: str, usd: int) -> tuple[str, Decimal, Decimal | None]:
    if market == Market.KG:
        # A local price level, not a currency conversion: 2 490 som, 12 900 som.
        step, minus, low, high = 100, Decimal("10"), KGS_MIN, KGS_MAX
        amount = usd * rng.uniform(68, 80)
    else:
        step, minus, low, high = 5, Decimal("0.01"), USD_MIN, USD_MAX
        amount = usd * rng.uniform(0.95, 1.08)
    price = min(max(_snap(amount, step, minus), low), high)
    original = None
    if rng.random() < 0.3:  # on sale: a "was" price 20-45% above
        original = max(_snap(float(price) * rng.uniform(1.2, 1.45), step, minus), price + step)
        original = original.quantize(CENT)
    return market, price.quantize(CENT), original


def _stock(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.12:
        return 0  # sold out
    if roll < 0.3:
        return rng.randint(1, 3)  # low stock
    return rng.randint(5, 40)


def _plan(spec: ProductSpec) -> _PlannedProduct:
    rng = random.Random(f"{SEED}:{spec.slug}")
    kind = KINDS[spec.kind]

    count = rng.randint(kind.min_sizes, len(kind.sizes))
    start = rng.randint(0, len(kind.sizes) - count)
    sizes = kind.sizes[start : start + count]
    colours = rng.sample(kind.colours, k=min(len(kind.colours), rng.randint(1, 3)))

    skus = []
    code_stem = spec.slug.upper()[:40].rstrip("-")
    for colour in colours:
        colour_code = "".join(word[:3] for word in colour.upper().split())
        for size in sizes:
            size_code = "".join(ch for ch in size.upper() if ch.isalnum()).replace("ONESIZE", "OS")
            skus.append(
                SKU(
                    code=f"{code_stem}-{colour_code}-{size_code}",
                    size=size,
                    color=colour,
                    color_hex=COLOURS[colour],
                    stock=_stock(rng),
                )
            )
    if all(sku.stock == 0 for sku in skus):
        skus[0].stock = rng.randint(2, 12)  # nothing in the demo is entirely sold out
    if len(skus) > 4 and rng.random() < 0.25:
        skus[-1].is_active = False  # a discontinued variant

    material = rng.choice(kind.materials)
    lowered = spec.name.lower()
    material = next((text for word, text in MATERIAL_BY_WORD if word in lowered), material)
    origin = BRAND_ORIGIN.get(spec.brand, "Turkey")
    features = [("Material", material)]
    if kind.fits:
        features.append(("Fit", rng.choice(kind.fits)))
    features.append(("Care", rng.choice(kind.care)))
    features.append(("Made in", origin))
    if spec.kind in {"national", "headwear", "textile", "craft", "felt"}:
        features.append(("Craft", "Handmade by artisans in Kochkor and Naryn"))
    elif rng.random() < 0.4:
        features.append(("Season", rng.choice(("All season", "Spring-summer", "Autumn-winter"))))

    description = " ".join(
        (
            f"{spec.name} by {spec.brand}.",
            rng.choice(_OPENERS),
            f"Made from {material.lower()}.",
            rng.choice((*_CLOSERS, _MORE_COLOURS) if len(colours) > 1 else _CLOSERS).format(
                colour=colours[0].lower(), origin=origin
            ),
        )
    )

    markets = [Market.KG, Market.US] if spec.market == CatalogMarket.ALL else [spec.market]
    prices = [_price_pair(rng, market, spec.usd) for market in markets]

    return _PlannedProduct(
        spec=spec,
        description=description,
        colours=colours,
        skus=skus,
        features=features,
        prices=prices,
        gallery_size=rng.randint(2, 4),
    )


_VIEWS = ("Front", "Back", "Detail", "On model")


def seed_products(categories: dict[str, Category], *, small: bool = False) -> list[Product]:
    """Create the missing demo products, each with its pictures, features, SKUs and prices."""
    specs = [spec for spec in PRODUCTS if "small" in spec.flags or not small]
    existing = Product.objects.in_bulk([spec.slug for spec in specs], field_name="slug")
    subcategories = {
        (sub.category.slug, sub.slug): sub
        for sub in Subcategory.objects.filter(category__in=categories.values()).select_related(
            "category"
        )
    }
    products: list[Product] = []
    skus: list[SKU] = []
    features: list[ProductFeature] = []
    prices: list[ProductPrice] = []
    images: list[ProductImage] = []
    created: list[int] = []
    for spec in specs:
        if spec.slug in existing:
            products.append(existing[spec.slug])
            continue
        plan = _plan(spec)
        product = Product(
            slug=spec.slug,
            name=spec.name,
            brand=spec.brand,
            description=plan.description,
            category=categories[spec.category],
            subcategory=subcategories[(spec.category, spec.subcategory)],
            market=spec.market,
            is_active="inactive" not in spec.flags,
            is_featured="featured" in spec.flags,
        )
        picture = {"size": PRODUCT_PICTURE_SIZE, "title": spec.name, "kicker": spec.brand}
        save_picture(product.main_image, spec.slug, colour=COLOURS[plan.colours[0]], **picture)
        product.save()
        products.append(product)
        created.append(product.pk)

        for index in range(plan.gallery_size):
            colour = plan.colours[index % len(plan.colours)]
            image = ProductImage(
                product=product,
                alt_text=f"{spec.name}, {colour.lower()}",
                color=colour,  # the SKU colour it is drawn in (`SKU.color`, `images[].color`)
                sort_order=index,
            )
            save_picture(
                image.image,
                f"{spec.slug}-{index + 1}",
                colour=COLOURS[colour],
                caption=_VIEWS[index],
                **picture,
            )
            images.append(image)
        for sku in plan.skus:
            sku.product = product
            skus.append(sku)
        features.extend(
            ProductFeature(product=product, name=name, value=value, sort_order=index)
            for index, (name, value) in enumerate(plan.features)
        )
        prices.extend(
            ProductPrice(product=product, market=market, price=price, original_price=original)
            for market, price, original in plan.prices
        )

    ProductImage.objects.bulk_create(images)
    ProductFeature.objects.bulk_create(features)
    SKU.objects.bulk_create(skus)
    ProductPrice.objects.bulk_create(prices)
    listing_refresh(product.pk for product in products)  # bulk_create sends no signals
    # …nor queues renditions: the new gallery pictures get theirs here, inline (the main
    # images, saved one by one, were queued for the worker by their post_save).
    if created:
        renditions_backfill(product_ids=created, main_images=False)
    return products


def seed_catalogue(*, small: bool = False) -> dict[str, Category]:
    """Categories, then products. Returns the demo categories by slug (banners link to them)."""
    categories = seed_categories(small=small)
    seed_products(categories, small=small)
    return categories
