"""Helpers for tests of any app."""

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest
import redis
from django.db import IntegrityError, connection, transaction

from main.celery import app


@contextmanager
def violates_constraint(name: str):
    """The block must be refused by the database with constraint `name`.

    Runs in a savepoint so the test can go on. PostgreSQL names every
    constraint in its message; SQLite names CHECK constraints but reports
    unique violations by column, so there only the refusal itself is checked.
    """
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    message = str(excinfo.value)
    if connection.vendor == "postgresql" or message.startswith("CHECK"):
        assert name in message, message


class PrivateRedis:
    """A `redis-server` of the test's own on a spare loopback port, to stop mid-test.

    Fault tests point the cache or the Celery broker at it and stop it to play
    an outage; the shared Redis of CI and of other test processes is never
    touched. No persistence, no daemon: the process is this test's child and is
    stopped by its PID.
    """

    def __init__(self, tmp_path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own arguments
            [
                REDIS_SERVER or "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.dir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)


REDIS_SERVER = shutil.which("redis-server")
needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None, reason="no redis-server binary: fault tests need a private Redis"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def celery_on_broker(url: str):
    """Tasks go through the broker at `url` (not eagerly) inside the block.

    Celery reads Django's settings under the CELERY_ namespace, so the override
    uses those names (an unprefixed `task_always_eager` would be shadowed). The
    producer pool is dropped on the way in and out, so no connection to the
    other broker is reused.
    """
    keys = ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(CELERY_BROKER_URL=url, CELERY_TASK_ALWAYS_EAGER=False)
    app.amqp._producer_pool = None
    try:
        yield app
    finally:
        app.conf.update(saved)
        app.amqp._producer_pool = None
