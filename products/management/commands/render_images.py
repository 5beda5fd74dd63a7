"""`manage.py render_images`: renditions for catalogue images stored without them (IMAGES.md)."""

from django.core.management.base import BaseCommand

from products.services.images import BACKFILL_WORKERS, renditions_backfill


class Command(BaseCommand):
    help = (
        "Make the renditions of product main images and gallery images that have no record "
        "for their current file (rows written around the models: bulk_create, raw SQL, a "
        "restored database). Inline by default; --queue hands them to the Celery worker "
        "through the outbox; --all makes them again for every image."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all",
            action="store_true",
            dest="redo",
            help="Make them again even for images whose record is current.",
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue one worker task per image (through the outbox) instead of rendering here.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=BACKFILL_WORKERS,
            help=f"Images encoded at once, inline (default {BACKFILL_WORKERS}: CPUs, at most 4)",
        )

    def handle(
        self,
        *args,
        redo: bool = False,
        queue: bool = False,
        workers: int = BACKFILL_WORKERS,
        **options,
    ):
        done = renditions_backfill(redo=redo, queue=queue, workers=workers)
        if done.queued:
            self.stdout.write(
                f"queued {done.main_images} main images, {done.gallery_images} gallery images "
                "for the worker"
            )
        else:
            self.stdout.write(
                f"rendered {done.main_images} main images, {done.gallery_images} gallery images, "
                f"{done.unreadable} unreadable"
            )
