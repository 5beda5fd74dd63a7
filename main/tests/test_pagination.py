import pytest
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.serializers import IntegerField, Serializer
from rest_framework.test import APIRequestFactory

from main.pagination import PageNumberPagination


class _Number(Serializer):
    n = IntegerField()


class _Numbers(ListAPIView):
    permission_classes = (AllowAny,)
    authentication_classes = ()
    pagination_class = PageNumberPagination
    serializer_class = _Number
    queryset = [{"n": i} for i in range(250)]


def _get(**params):
    response = _Numbers.as_view()(APIRequestFactory().get("/api/v1/numbers/", params))
    response.render()
    return response


def test_default_page_is_20_with_count_and_links():
    body = _get().data
    assert body["count"] == 250
    assert len(body["results"]) == 20
    assert "page=2" in body["next"] and body["previous"] is None


@pytest.mark.parametrize(("asked", "given"), [(5, 5), (100, 100), (1000, 100)])
def test_page_size_is_capped_at_100(asked, given):
    assert len(_get(page_size=asked).data["results"]) == given


def test_page_past_the_end_is_404_not_found():
    response = _get(page=99)
    assert response.status_code == 404
    assert response.data["code"] == "not_found"
