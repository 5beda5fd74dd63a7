"""Demo banners for `manage.py seed_demo`: hero, promo and category banners per market.

A banner is found again by (title, market); an existing one is left as it is.
Date windows are counted from the day the banner is first created, so a fresh
demo always has live banners, one that has ended and one that is scheduled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django.utils.text import slugify

from banners.models import Banner
from demo.catalogue import save_picture
from main.markets import CatalogMarket
from products.models import Category

BANNER_PICTURE_SIZE = (1600, 600)
MOBILE_PICTURE_SIZE = (750, 900)

ALL, KG, US = CatalogMarket.ALL, CatalogMarket.KG, CatalogMarket.US
HERO, PROMO, CATEGORY = Banner.Type.HERO, Banner.Type.PROMO, Banner.Type.CATEGORY


@dataclass(frozen=True)
class BannerSpec:
    title: str
    subtitle: str
    banner_type: str
    market: str
    colour: str
    link_url: str
    category: str = ""  # category slug, for category banners
    # Days from today (UTC midnight); None is an open end.
    starts_in: int | None = None
    ends_in: int | None = None
    small: bool = False  # part of the `--small` set


BANNERS: tuple[BannerSpec, ...] = (
    # Hero
    BannerSpec(
        "New Season Edit",
        "Fresh layers for every day",
        HERO,
        ALL,
        "#3D405B",
        "/products?ordering=-created_at",
        small=True,
    ),
    BannerSpec(
        "Made in Kyrgyzstan",
        "Felt, wool and national craft from Ala-Too workshops",
        HERO,
        KG,
        "#9B2226",
        "/categories/traditional",
        starts_in=-14,
    ),
    BannerSpec(
        "Denim Days",
        "Selvedge and everyday fits from Atlas Denim",
        HERO,
        US,
        "#1D3557",
        "/categories/denim",
        starts_in=-3,
        ends_in=45,
    ),
    # Promo
    BannerSpec(
        "Free delivery in Bishkek",
        "On every order over 5 000 som",
        PROMO,
        KG,
        "#2A9D8F",
        "/delivery",
        small=True,
    ),
    BannerSpec(
        "Season Sale: up to 40% off",
        "While stocks last",
        PROMO,
        US,
        "#E76F51",
        "/sale",
        starts_in=-7,
        ends_in=21,
    ),
    BannerSpec(
        "Sign in with your phone",
        "Track orders and save your favourites",
        PROMO,
        ALL,
        "#6D597A",
        "/account",
        ends_in=90,
    ),
    BannerSpec(
        "Winter Clearance",
        "The season's last pieces",
        PROMO,
        ALL,
        "#264653",
        "/sale",
        starts_in=-90,
        ends_in=-30,  # ended: hidden from customers
    ),
    BannerSpec(
        "Nooruz Collection",
        "Spring colours and national ornament, coming soon",
        PROMO,
        KG,
        "#BC6C25",
        "/categories/traditional",
        starts_in=20,
        ends_in=50,  # scheduled: not shown yet
    ),
    # Category
    BannerSpec(
        "Activewear that moves",
        "Leggings, hoodies and running gear",
        CATEGORY,
        US,
        "#E76F51",
        "/categories/activewear",
        category="activewear",
        small=True,
    ),
    BannerSpec(
        "Women: new arrivals",
        "Dresses, knitwear and coats",
        CATEGORY,
        ALL,
        "#B5838D",
        "/categories/women",
        category="women",
    ),
    BannerSpec(
        "Kids' essentials",
        "Soft cotton for school and play",
        CATEGORY,
        KG,
        "#F2CC8F",
        "/categories/kids",
        category="kids",
        starts_in=-30,
    ),
    BannerSpec(
        "Ready for winter",
        "Down parkas and yak-wool warmers",
        CATEGORY,
        KG,
        "#264653",
        "/categories/winter-essentials",
        category="winter-essentials",
    ),
)


def seed_banners(
    categories: dict[str, Category], *, small: bool = False, now: dt.datetime | None = None
) -> list[Banner]:
    """Create the demo banners that are missing. `categories` are the demo categories by slug."""
    today = (now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    specs = [spec for spec in BANNERS if spec.small or not small]
    existing = {
        (banner.title, banner.market): banner
        for banner in Banner.objects.filter(title__in=[spec.title for spec in specs])
    }
    banners = []
    for spec in specs:
        banner = existing.get((spec.title, spec.market))
        if banner is None:
            banner = Banner(
                title=spec.title,
                subtitle=spec.subtitle,
                banner_type=spec.banner_type,
                market=spec.market,
                link_url=spec.link_url,
                category=categories.get(spec.category),
                sort_order=BANNERS.index(spec) * 10,
                starts_at=None if spec.starts_in is None else today + dt.timedelta(spec.starts_in),
                ends_at=None if spec.ends_in is None else today + dt.timedelta(spec.ends_in),
            )
            picture = {"title": spec.title, "colour": spec.colour, "caption": spec.subtitle}
            save_picture(banner.image, slugify(spec.title), size=BANNER_PICTURE_SIZE, **picture)
            save_picture(
                banner.mobile_image, slugify(spec.title), size=MOBILE_PICTURE_SIZE, **picture
            )
            banner.save()
        banners.append(banner)
    return banners
