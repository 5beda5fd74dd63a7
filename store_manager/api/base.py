"""The one base view of the manager API: access and market scoping nobody can skip.

Every manager view subclasses `ManagerAPIView` and declares only
`manager_permissions` (named classes from `store_manager.permissions`). The base
class always checks, in this order: authenticated (401), an active
StoreManager (403), the active market is one it may manage (403, unless the
view is `market_scoped = False`: profile, settings, notifications), then the
view's own permissions (403). Views read the market from `self.market` only, and
every selector of an order, report or figure takes it, so an object of another
market is a 404. Subclasses may not set `permission_classes` or override
`get_permissions` (checked when the class is defined).
"""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from main.pagination import PageNumberPagination
from store_manager.models import StoreManager
from store_manager.permissions import IsActiveStoreManager, ManagesActiveMarket
from store_manager.services.activity import RequestMeta


def request_meta(request) -> RequestMeta:
    """Client IP and user agent for the audit log.

    The IP is the one the throttles count: REMOTE_ADDR, or the address
    `NUM_PROXIES` trusted proxies put in X-Forwarded-For (never a value the
    client chose when NUM_PROXIES is 0).
    """
    return RequestMeta.of(BaseThrottle().get_ident(request), request.headers.get("User-Agent"))


def parsed_query(serializer_class, request):
    """The query string through `serializer_class`, valid (else 400 `invalid`)."""
    data = serializer_class(data=request.query_params.dict())
    data.is_valid(raise_exception=True)
    return data


def parsed_body(serializer_class, request):
    """The body through `serializer_class`, valid (else 400 `invalid`)."""
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data


class ManagerAPIView(APIView):
    manager_permissions: tuple[type, ...] = ()
    market_scoped: bool = True
    pagination_class = PageNumberPagination

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "permission_classes" in cls.__dict__ or "get_permissions" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__}: declare manager_permissions; the base class owns access checks."
            )

    def get_permissions(self):
        checks = [IsActiveStoreManager()]
        if self.market_scoped:
            checks.append(ManagesActiveMarket())
        return checks + [permission() for permission in self.manager_permissions]

    @property
    def manager(self) -> StoreManager:
        return self.request.store_manager

    @property
    def market(self) -> str:
        """The manager's active market: the only market any query of this view may read."""
        return self.request.store_manager.active_market

    @property
    def meta(self) -> RequestMeta:
        return request_meta(self.request)
