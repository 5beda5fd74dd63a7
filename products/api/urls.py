"""Catalogue routes (categories/, products/), mounted at /api/v1/."""

urlpatterns: list = []
