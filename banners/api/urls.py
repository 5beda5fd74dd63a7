"""Banner routes (banners/), mounted at /api/v1/."""

from rest_framework.routers import SimpleRouter

from banners.api.views import BannerViewSet

router = SimpleRouter()
router.register("banners", BannerViewSet, basename="banner")

urlpatterns = router.urls
