"""Production settings with the server-side cache switched off (bench/catalogue.py --cache off).

Everything else is `main.settings.production`: the cold path this measures is
what a request costs when the catalogue cache misses (every query to PostgreSQL).
DRF throttles, which count in the cache, are inert here too.
"""

from main.settings.production import *

CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
