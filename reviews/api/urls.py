"""Review routes (`reviews/`, `products/{slug}/reviews/`), mounted at /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from reviews.api.views import ProductReviewViewSet, ReviewCreateView

router = SimpleRouter()
# Basename "product": the route keeps the name it had on the catalogue router, `product-reviews`.
router.register("products", ProductReviewViewSet, basename="product")

urlpatterns = [
    path("reviews/", ReviewCreateView.as_view(), name="review-create"),
    *router.urls,
]
