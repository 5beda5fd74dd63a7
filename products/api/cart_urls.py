"""Cart and wishlist routes (cart/, wishlist/), mounted at /api/v1/."""

urlpatterns: list = []
