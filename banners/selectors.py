"""Reads of banners for the storefront (SPEC §5 `banners/`)."""

from __future__ import annotations

from datetime import datetime

from django.db import models

from banners.models import Banner
from main.markets import CatalogMarket

# The homepage shows every live banner at once, so the list is not paginated;
# this cap only protects the response if an admin creates far too many.
BANNER_LIST_LIMIT = 50

# Types in the order a page draws them (hero on top), not alphabetical.
TYPE_RANK = {Banner.Type.HERO: 0, Banner.Type.PROMO: 1, Banner.Type.CATEGORY: 2}


def banner_list_live(
    *, market: str, banner_type: str | None = None, now: datetime | None = None
) -> models.QuerySet[Banner]:
    """Live banners of `market` (its own and ALL), hero → promo → category, then sort_order.

    Each row carries `category_slug`: the linked category's slug only when that
    category is itself visible in `market`, so a banner never links to a 404.
    One query, whatever the number of banners.
    """
    queryset = Banner.objects.live(market, now=now)
    if banner_type:
        queryset = queryset.filter(banner_type=banner_type)
    category_visible = models.Q(
        category__is_active=True,
        category__market__in=(market, CatalogMarket.ALL),
    )
    return queryset.annotate(
        type_rank=models.Case(
            *(models.When(banner_type=kind, then=rank) for kind, rank in TYPE_RANK.items()),
            default=len(TYPE_RANK),
            output_field=models.IntegerField(),
        ),
        category_slug=models.Case(
            models.When(category_visible, then=models.F("category__slug")),
            default=None,
            output_field=models.CharField(),
        ),
    ).order_by("type_rank", "sort_order", "-created_at", "id")[:BANNER_LIST_LIMIT]
