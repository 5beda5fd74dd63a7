"""The transactional outbox: work for a worker, written in the same transaction as the change."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """One Celery task to run because something was committed.

    Written by `outbox.services.outbox_publish` inside the transaction of the
    change it follows, so it exists if and only if the change does. `sent_at`
    is set once the broker has accepted it; until then the relay keeps trying.
    """

    task = models.CharField(max_length=200, help_text="Registered Celery task name.")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ("pk",)
        indexes = [
            # The relay reads only what is still waiting: a small partial index.
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbox_unsent_idx",
            ),
            models.Index(
                fields=["sent_at"],
                condition=models.Q(sent_at__isnull=False),
                name="outbox_sent_idx",
            ),
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else f"waiting ({self.attempts} tries)"
        return f"{self.task}{tuple(self.args)} {state}"
