"""Abstract model pieces shared by the apps (no tables of its own)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from main.markets import CatalogMarket, Market

ZERO = Decimal("0.00")


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def money_field(**kwargs) -> models.DecimalField:
    """Money is Decimal with two places; 12 digits hold any KGS or USD amount we sell."""
    kwargs.setdefault("max_digits", 12)
    kwargs.setdefault("decimal_places", 2)
    return models.DecimalField(**kwargs)


def market_check(
    name: str, field: str = "market", *, catalog: bool = False
) -> models.CheckConstraint:
    """The database, not only the form, refuses a market outside the choices."""
    values = CatalogMarket.values if catalog else Market.values
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": values}), name=name)


# The catalogue rule: a viewer of a market sees that market's and ALL objects, active
# only. `visible_q` (SQL) and `is_visible_to` (loaded rows) are its only two
# spellings and must agree; products' sellable rule builds on them.


def visible_q(market: str, prefix: str = "") -> models.Q:
    """The catalogue rule as a Q; `prefix` applies it through a relation (`"product__"`)."""
    return models.Q(
        **{f"{prefix}market__in": (market, CatalogMarket.ALL), f"{prefix}is_active": True}
    )


def is_visible_to(obj, market: str, *, as_if_active: bool = False) -> bool:
    """`visible_q` for a loaded catalogue object (the two must agree).

    `as_if_active` judges the market only, for a caller that refuses an inactive
    object in its own way (checkout leaves it to the stock check).
    """
    return (as_if_active or obj.is_active) and obj.market in (market, CatalogMarket.ALL)


class CatalogQuerySet(models.QuerySet):
    """Catalogue objects (categories, products, banners) carry a market in {KG, US, ALL}."""

    def visible_to(self, market: str):
        """What a viewer of `market` may see: that market's and ALL objects, active only."""
        return self.filter(visible_q(market))
