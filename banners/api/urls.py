"""Banner routes (banners/), mounted at /api/v1/."""

urlpatterns: list = []
