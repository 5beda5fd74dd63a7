"""Cart and wishlist routes (cart/, wishlist/), mounted at /api/v1/.

Ids are matched as strings so a non-integer id answers 400 `invalid` (JSON),
not Django's HTML 404.
"""

from django.urls import path

from products.api import cart_views

urlpatterns = [
    path("cart/", cart_views.CartView.as_view(), name="cart"),
    path("cart/items/", cart_views.CartItemListView.as_view(), name="cart-items"),
    path(
        "cart/items/<str:item_id>/",
        cart_views.CartItemDetailView.as_view(),
        name="cart-item-detail",
    ),
    path("wishlist/", cart_views.WishlistView.as_view(), name="wishlist"),
    path("wishlist/items/", cart_views.WishlistItemListView.as_view(), name="wishlist-items"),
    path(
        "wishlist/items/<str:product_id>/",
        cart_views.WishlistItemDetailView.as_view(),
        name="wishlist-item-detail",
    ),
]
