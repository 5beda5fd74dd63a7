"""Serializer pieces shared by the apps' API layers."""

from __future__ import annotations

from django.core.files.storage import default_storage
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


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
