"""Everything under /api/v1/. Each app adds its routes through its `api/urls.py`."""

from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from main.exceptions import NotFound, error_response
from main.views import MarketsView

app_name = "api"


@csrf_exempt  # a 404 for every method: no CSRF check (the API is JWT, never cookies)
def api_not_found(request, *args, **kwargs):
    return error_response(NotFound())


urlpatterns = [
    path("markets/", MarketsView.as_view(), name="markets"),
    path("auth/", include("users.api.auth_urls")),
    path("users/me/phone/", include("users.api.phone_urls")),
    path("users/", include("users.api.urls")),
    path("", include("products.api.urls")),
    path("", include("products.api.cart_urls")),
    path("", include("orders.api.urls")),
    path("", include("reviews.api.urls")),
    path("", include("banners.api.urls")),
    path("manager/", include("store_manager.api.urls")),
    path("realtime/", include("realtime.api.urls")),
    # Last: any other /api/v1/ URL is the JSON 404, with DEBUG on too (Django's debug
    # page would otherwise answer a frontend developer's typo in HTML).
    re_path(r"^.*/$", api_not_found, name="not-found"),
]
