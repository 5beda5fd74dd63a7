#!/usr/bin/env python
"""CPU cost of validating and re-encoding one review image (issue 12, point 8).

    .venv/bin/python bench/review_images.py             # 5 runs per image, median
    .venv/bin/python bench/review_images.py --runs 9

Builds five uploads in memory and times `reviews.services.review_image_clean`
(open, pixel ceiling, verify, decode, EXIF orientation, downscale, re-encode) with
`time.process_time()`:

- a 12 MP JPEG (4032x3024, what a phone camera saves by default),
- a 12 MP PNG (4032x3024),
- a 16 MP PNG (4608x3456, `REVIEW_IMAGE_MAX_PIXELS` by default: the largest that passes),
- a 16 MP JPEG (4608x3456: libjpeg decodes it at half scale, see `draft()`),
- a 49 MP PNG (8064x6048, a phone's full-resolution mode) of about 190 KB: refused from
  its header, so it should cost about nothing.

The pictures are gradients with a fractal; the JPEG adds sensor-like grain so that it
weighs about 3 MB like a phone photo, the PNGs have none so that they stay under the
5 MB upload limit. No database, no
files written; the settings are `main.settings.test`. Not part of `make test`, and it
asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings.test")
    import django

    django.setup()


def _picture(size: tuple[int, int], *, noise: float):
    """A photo-like RGB picture: gradients, a fractal and some grain."""
    from PIL import Image

    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    fractal = Image.effect_mandelbrot((width // 4, height // 4), (-2.2, -1.2, 0.8, 1.2), 64)
    blue = fractal.resize(size, Image.Resampling.BILINEAR)
    if noise:
        grain = Image.effect_noise(size, noise)
        red, blue = Image.blend(red, grain, 0.3), Image.blend(blue, grain, 0.3)
    return Image.merge("RGB", (red, green, blue))


def _encoded(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def build_cases() -> list[tuple[str, str, bytes]]:
    """(label, file name, bytes) for each upload."""
    from PIL import Image

    twelve = (4032, 3024)
    sixteen = (4608, 3456)  # 15,925,248 pixels
    photo = _encoded(_picture(twelve, noise=40), "JPEG", quality=90)
    cases = [
        ("12 MP JPEG 4032x3024", "p12.jpg", photo),
        ("12 MP PNG 4032x3024", "p12.png", _encoded(_picture(twelve, noise=0), "PNG")),
        ("16 MP PNG 4608x3456", "p16.png", _encoded(_picture(sixteen, noise=0), "PNG")),
        ("16 MP JPEG 4608x3456", "p16.jpg", _encoded(_picture(sixteen, noise=40), "JPEG")),
    ]
    # The case: a smooth 49 MP picture that compresses to about 190 KB.
    huge = Image.linear_gradient("L").resize((8064, 6048)).convert("RGB")
    cases.append(("49 MP PNG 8064x6048", "p49.png", _encoded(huge, "PNG", compress_level=9)))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per image (median)")
    args = parser.parse_args()

    _setup_django()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from main.exceptions import ApplicationError
    from main.images import image_clean as review_image_clean
    from PIL import Image

    print(
        f"REVIEW_IMAGE_MAX_PIXELS={getattr(settings, 'REVIEW_IMAGE_MAX_PIXELS', '-')} "
        f"REVIEW_IMAGE_MAX_SIDE={getattr(settings, 'REVIEW_IMAGE_MAX_SIDE', '-')} "
        f"runs={args.runs}"
    )
    print(f"{'image':<22} {'upload':>9} {'CPU ms (median)':>16} {'min':>8}  result")
    for label, name, data in build_cases():
        timings = []
        for _ in range(args.runs):
            upload = SimpleUploadedFile(name, data)
            started = time.process_time()
            try:
                clean = review_image_clean(upload)
                with Image.open(io.BytesIO(clean.content)) as stored:
                    width, height = stored.size
                size_kb = len(clean.content) // 1024
                outcome = f"stored {width}x{height} .{clean.extension}, {size_kb} KB"
            except ApplicationError as refused:
                outcome = f"refused {refused.status_code} {refused.code}"
            timings.append((time.process_time() - started) * 1000)
        print(
            f"{label:<22} {len(data) // 1024:>6} KB {statistics.median(timings):>16.0f} "
            f"{min(timings):>8.0f}  {outcome}"
        )


if __name__ == "__main__":
    main()
