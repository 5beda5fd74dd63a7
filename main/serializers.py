"""Serializer pieces shared by the apps' API layers."""

from __future__ import annotations

from django.core.files.storage import default_storage
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from main.markets import CatalogMarket, Currency, Market


def absolute_media_url(request, name: str | None) -> str | None:
    """The absolute URL of a stored file, or None when there is no file."""
    if not name:
        return None
    url = default_storage.url(name)
    return request.build_absolute_uri(url) if request is not None else url


@extend_schema_field({"type": "string", "format": "uri", "nullable": True})
class AbsoluteMediaField(serializers.Field):
    """A file or image field, read-only, as an absolute URL (null when empty)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value) -> str | None:
        return absolute_media_url(self.context.get("request"), getattr(value, "name", value))


def currency_field(**kwargs) -> serializers.ChoiceField:
    """A currency code, `KGS` or `USD` (the schema's `CurrencyEnum`)."""
    return serializers.ChoiceField(choices=Currency.choices, **kwargs)


def market_field(**kwargs) -> serializers.ChoiceField:
    """A market, `KG` or `US` (the schema's `MarketEnum`)."""
    return serializers.ChoiceField(choices=Market.choices, **kwargs)


def catalog_market_field(**kwargs) -> serializers.ChoiceField:
    """Where a catalogue object is shown: `KG`, `US` or `ALL` (`CatalogMarketEnum`)."""
    return serializers.ChoiceField(choices=CatalogMarket.choices, **kwargs)


def json_field(schema, **kwargs) -> serializers.JSONField:
    """A JSONField whose stored value the schema documents as `schema` (a serializer or a dict).

    The value goes out as stored; only its documentation changes. The annotation
    lives on a subclass because serializers re-create field instances from their
    arguments.
    """
    field_class = type("DocumentedJSONField", (serializers.JSONField,), {})
    return extend_schema_field(schema)(field_class)(**kwargs)


class PercentField(serializers.DecimalField):
    """A change in percent as a decimal string with two places; negative for a fall.

    `signed` lets the schema's pattern allow the sign (main/schema.py): every
    other decimal string is money, never negative.
    """

    signed = True
    schema_example = "12.50"

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(**kwargs)
