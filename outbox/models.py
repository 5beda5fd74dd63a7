"""The transactional outbox: work for a worker, written in the same transaction as the change."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """One Celery task to run because something was committed.

    Written by `outbox.services.outbox_publish` inside the transaction of the
    change it follows, so it exists if and only if the change does. `sent_at`
    is set each time the broker accepts it, `started_at` when a worker begins
    it, `completed_at` once the task has run successfully. Until then the relay
    keeps trying: a message the broker never took is sent again, so is one the
    broker took but no worker ever began (a Redis restarted without
    persistence lost it), and so is one begun but never finished once it can
    no longer be running (past the hard time limit).
    """

    task = models.CharField(max_length=200, help_text="Registered Celery task name.")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="A worker began the task.")
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Tries to hand it to the broker.")
    deliveries = models.PositiveIntegerField(default=0, help_text="Times the broker took it.")
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ("pk",)
        indexes = [
            # The relay reads only what is not done yet: a small partial index.
            models.Index(
                fields=["created_at"],
                condition=models.Q(completed_at__isnull=True),
                name="outbox_pending_idx",
            ),
            models.Index(
                fields=["completed_at"],
                condition=models.Q(completed_at__isnull=False),
                name="outbox_completed_idx",
            ),
        ]

    def __str__(self) -> str:
        if self.completed_at:
            state = "done"
        elif self.sent_at:
            state = f"sent {self.deliveries}x, not done yet"
        else:
            state = f"waiting ({self.attempts} tries)"
        return f"{self.task}{tuple(self.args)} {state}"
