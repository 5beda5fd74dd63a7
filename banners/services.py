"""Writes of banners: the view and click counters (SPEC §5 `banners/{id}/view|click/`).

Counters are only ever changed here, with one `UPDATE … SET n = n + 1` (`F()`),
so concurrent requests never lose an increment and no stale in-memory banner can
overwrite them. The click-through rate stays derived (`Banner.ctr`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import models, transaction

from banners.models import Banner
from main.exceptions import NotFound


def _banner_increment(*, banner_id: int, market: str, field: str, now: datetime | None) -> None:
    updated = (
        Banner.objects.live(market, now=now)
        .filter(pk=banner_id)
        .update(**{field: models.F(field) + 1})
    )
    if not updated:
        # Unknown, inactive, outside its window or of another market: all look alike.
        raise NotFound()


@transaction.atomic
def banner_record_view(*, banner_id: int, market: str, now: datetime | None = None) -> None:
    """Count one impression of a banner live in `market`; `NotFound` otherwise."""
    _banner_increment(banner_id=banner_id, market=market, field="view_count", now=now)


@transaction.atomic
def banner_record_click(*, banner_id: int, market: str, now: datetime | None = None) -> None:
    """Count one click on a banner live in `market`; `NotFound` otherwise."""
    _banner_increment(banner_id=banner_id, market=market, field="click_count", now=now)
