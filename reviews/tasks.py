"""Celery tasks of the reviews app: the fit summary follows the returns (SPEC §10).

`refresh_fit_from_returns` subscribes to `return.status_changed`
(`ReviewsConfig.ready`), runs after the change committed and recomputes from
the return lines, so a redelivery or a late run changes nothing.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from orders.services.returns import DEAD
from reviews.selectors import return_sized_product_ids
from reviews.services import product_fit_refresh


@shared_task(acks_late=True)
def refresh_fit_from_returns(
    return_id: int, event_id: int, to_status: str, from_status: str | None = None, **event: Any
) -> int:
    """return.status_changed: the size-return counts of the return's products; how many moved.

    Only a request, a rejection or a cancellation changes whether the return
    counts; the other steps (approved, received, refunded, exchanged) leave the
    counts as they were and skip the product locks.
    """
    if from_status is not None and (from_status in DEAD) == (to_status in DEAD):
        return 0
    product_ids = return_sized_product_ids(return_id=return_id)
    return len(product_fit_refresh(product_ids=product_ids))
