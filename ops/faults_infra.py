"""Private PostgreSQL and Redis instances for `make faults` (ops/faults.py).

Each lives in a temporary directory of its own, listens on a spare loopback
port, and is stopped by this module only: PostgreSQL through `pg_ctl` on its
own data directory, Redis by the PID of the `redis-server` child it started.
The shared PostgreSQL (5432) and Redis (6379) are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

from up import free_port

PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A throw-away PostgreSQL cluster: initdb + pg_ctl in a temporary directory.

    Run as the `postgres` OS user when this process is root (PostgreSQL refuses
    to run as root); trust authentication, 127.0.0.1 only. `fsync=off`: a drill
    restarts it cleanly (a checkpoint), the machine does not crash, so nothing is
    lost and the disk is spared.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="marque-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgresql.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.started = False

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout: float = 90) -> str:
        command = [str(PG_BIN / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(
                f"{tool} {' '.join(args[:3])} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout)[-1500:]}"
            )
        return done.stdout

    def init(self) -> None:
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"),
            *("--locale=C.UTF-8", "--no-sync"),
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.dir} -c fsync=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        self._run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options),
            "start",
        )
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.started = False

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def create_database(self, name: str) -> None:
        connection = psycopg2.connect(self.url("postgres"), connect_timeout=5)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()

    def cleanup(self) -> None:
        """Stop it if it runs (fast, then immediate, then its postmaster by PID); remove it."""
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                try:
                    self.stop(mode)
                    break
                except (RuntimeError, subprocess.TimeoutExpired):
                    continue
            else:
                pid = self.pid()
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A `redis-server` child process on a spare port, no persistence: restarts empty."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"marque-faults-{name}-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 15) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "no"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.dir)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        client = self.client()
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server {self.name} did not start") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM to the process this object started, by PID; SIGKILL after 10 s."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, socket_timeout=2
        )

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def broker_backlog(broker: PrivateRedis) -> dict[str, int] | None:
    """Messages queued in the broker's lists and reserved by workers (`unacked`)."""
    client = broker.client()
    try:
        queued = 0
        for key in client.scan_iter(count=500):
            if client.type(key) == b"list" and not key.startswith(b"_kombu"):
                queued += client.llen(key)
        return {"queued": queued, "unacked": client.hlen("unacked")}
    except redis.exceptions.RedisError:
        return None
    finally:
        client.close()
