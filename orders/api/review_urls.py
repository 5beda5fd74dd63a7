"""Review routes (`reviews/`), mounted at /api/v1/."""

from django.urls import path

from orders.api.review_views import ReviewCreateView

urlpatterns = [
    path("reviews/", ReviewCreateView.as_view(), name="review-create"),
]
