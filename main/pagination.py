"""Pagination of every list endpoint (docs/API.md): one paginator, one way to answer a page."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rest_framework.pagination import BasePagination
from rest_framework.pagination import PageNumberPagination as DRFPageNumberPagination
from rest_framework.response import Response


class PageNumberPagination(DRFPageNumberPagination):
    """`?page=&page_size=` → `{count, next, previous, results}`; 20 by default, 100 at most."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def _paginator(view) -> BasePagination:
    """The view's paginator: a generic view's own, else one made now and kept on the view.

    Kept as `view.paginator`, as on a generic view, because the browsable API
    reads its page links from there.
    """
    if not hasattr(view, "paginator"):
        view.paginator = view.pagination_class()
    return view.paginator


def _serializer_context(view) -> dict[str, Any]:
    """A generic view's serializer context (the market included); the same keys for any view.

    Generic views are told by `get_serializer`, not by class: DRF's settings import
    this module while `rest_framework.generics` is being imported.
    """
    if hasattr(view, "get_serializer"):
        return view.get_serializer_context()
    return {"request": view.request, "format": view.format_kwarg, "view": view}


def paginated_response(view, queryset, serializer_class, **context: Any) -> Response:
    """One page of `queryset` (`?page=&page_size=`), each row shaped by `serializer_class`.

    The one way a view answers a paginated list: `{count, next, previous,
    results}`, or 404 `not_found` past the last page. The rows get the view's
    serializer context plus `context`.
    """
    paginator = _paginator(view)
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    rows = serializer_class(page, many=True, context={**_serializer_context(view), **context})
    return paginator.get_paginated_response(rows.data)


class CountedRows:
    """Rows for Django's paginator whose total comes from `count()` given by the caller.

    A view that knows its total another way (a memoised count) pages a
    queryset without the paginator's own `COUNT(*)`; slicing still runs one
    query for the page.
    """

    ordered = True  # the caller orders the rows (the paginator warns otherwise)

    def __init__(self, rows, count: Callable[[], int]):
        self.rows = rows
        self._count = count

    def count(self) -> int:
        return self._count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        return self.rows[index]


def paginated_rows(
    view, rows, *, count: Callable[[], int], shape: Callable[[Any], Any]
) -> Response:
    """`paginated_response` for plain rows: the page of `rows`, each made into output by `shape`.

    The same answer and errors as `paginated_response` (`{count, next,
    previous, results}`, 404 `not_found` past the last page); `count()` gives
    the total.
    """
    paginator = _paginator(view)
    page: Iterable = paginator.paginate_queryset(CountedRows(rows, count), view.request, view=view)
    return paginator.get_paginated_response([shape(row) for row in page])
