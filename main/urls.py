from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from main.health import healthz, readyz
from main.metrics import metrics_view

admin.site.site_header = "MARQUE administration"
admin.site.site_title = "MARQUE admin"
# Lists get the whole width of a 1400 px screen (the index and breadcrumbs navigate).
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("main.api_router")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Django's error pages, JSON in the one error shape for every URL (main/exceptions.py).
handler400 = "main.exceptions.bad_request"
handler403 = "main.exceptions.permission_denied"
handler404 = "main.exceptions.page_not_found"
handler500 = "main.exceptions.server_error"
