"""gunicorn settings of the API: pass them with `-c`.

    .venv/bin/gunicorn -c gunicorn_config.py                  # main.wsgi, production settings
    PORT=9000 WEB_CONCURRENCY=4 .venv/bin/gunicorn -c gunicorn_config.py

Not named `gunicorn.conf.py` on purpose: gunicorn loads a file of that name
from its working directory by itself, so any other gunicorn started here (the
peer benchmark's, a tool's) would load this project's code and worker class.

Command-line flags override what is set here. Requests gunicorn refuses before
Django (over-long request line, too many or too large headers, malformed) are
answered in the API's JSON error shape by main/gunicorn_worker.py.
"""

import contextlib
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from main.env import env_int, env_str  # reads .env like the settings do

wsgi_app = "main.wsgi:application"
worker_class = "main.gunicorn_worker.JsonErrorSyncWorker"

# $BIND_HOST:$PORT, every interface by default (`--bind` on the command line overrides it).
bind = [f"{env_str('BIND_HOST', '0.0.0.0')}:{env_int('PORT', 8000)}"]  # noqa: S104 (a container)


# Sync workers, one request at a time each: 2 per core + 1 by default, because a
# worker mostly waits on PostgreSQL and Redis. WEB_CONCURRENCY (what PaaS hosts set)
# overrides it; mind PostgreSQL's max_connections (workers x CONN_MAX_AGE connections).
def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota (a container's
    `--cpus`), not the host's count, which may be far more."""
    count = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    return count


workers = env_int("WEB_CONCURRENCY", available_cpus() * 2 + 1)
# A worker silent this long (a stuck request) is killed and replaced.
timeout = env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = 30
# Recycle a worker after this many requests, plus up to half as many again at random:
# memory a worker kept from one large request is given back. Workers start together,
# so with a narrow jitter (10 %) they all restarted within seconds of each other and
# p95 tripled for that window (make loadtest, docs/PERFORMANCE.md); half spreads them.
max_requests = env_int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 2

# Request head limits (gunicorn's maximum line length is 8190).
limit_request_line = 8190  # method + URL + version → 414 uri_too_long
limit_request_fields = 100  # header count → 431 headers_too_large
limit_request_field_size = 8190  # one header line → 431 headers_too_large


def child_exit(server, worker):
    """A worker exited: with PROMETHEUS_MULTIPROC_DIR, its live gauges leave /metrics.

    Its counters and histograms stay (they are totals); only gauges that count
    what is open now are removed (docs/OBSERVABILITY.md).
    """
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
