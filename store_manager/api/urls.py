"""Routes; filled in by the manager API."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
