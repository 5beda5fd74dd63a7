"""Routes; filled in by the orders API."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
