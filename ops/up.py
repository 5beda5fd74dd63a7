"""Run the production topology of the Procfile on this machine (`make up`).

    .venv/bin/python ops/up.py                 # web :8000, asgi :8001, worker, beat
    PORT=9000 ASGI_PORT=9001 .venv/bin/python ops/up.py --no-seed

Each Procfile line runs as its own process group with production settings
(`main.settings.production`) against the local PostgreSQL and Redis, after
`migrate`, `collectstatic` and (unless `--no-seed`) the demo seed. Sign-in codes
go to a local file (`SMS_FILE_PATH`, printed at start) through
`users.sms.FileBackend`, which production settings accept only with
`LOCAL_RUN=true` and loopback-only `ALLOWED_HOSTS`. Ctrl-C (or SIGTERM) stops
every process gracefully, by PID, then kills what is left after
`--stop-timeout` seconds; if one process dies, the others are stopped too and
the exit status is 1.

`Topology` is also the library of `make smoke`, `make loadtest` and
`make faults`: they start the same processes on spare ports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PROCFILE = ROOT / "Procfile"
STOP_ORDER = ("web", "asgi", "beat", "worker")  # take no new work first, finish tasks last

_LINE = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*):\s*(?P<command>\S.*)$")


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    """`name: command` lines, in order; comments and blank lines skipped."""
    processes: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"{path.name}:{number}: not a `name: command` line: {raw!r}")
        processes[match["name"]] = match["command"]
    return processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def local_environment(run_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a local production run: the caller's, plus safe local defaults.

    Whatever the caller's environment sets wins over the defaults (a real Twilio
    backend, Stripe keys, another database), except `overrides`, which win over both.
    """
    env = dict(os.environ)
    defaults = {
        "DJANGO_SETTINGS_MODULE": "main.settings.production",
        "LOCAL_RUN": "true",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/marque",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        # A fresh key per run: tokens of an earlier run are not accepted.
        "SECRET_KEY": secrets.token_urlsafe(48),
        "SMS_BACKEND": "users.sms.FileBackend",
        "SMS_FILE_PATH": str(run_dir / "sms.jsonl"),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "BIND_HOST": "127.0.0.1",
        "PORT": "8000",
        "ASGI_PORT": "8001",
        # Plain HTTP on this machine: no TLS proxy in front.
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "CELERY_BEAT_SCHEDULE_FILE": str(run_dir / "celerybeat-schedule"),
        "METRICS_TOKEN": secrets.token_urlsafe(24),
    }
    if not env.get("STRIPE_SECRET_KEY"):
        # No Stripe account here: US takes cash on delivery (production refuses card
        # without keys, and refuses the development fake's plain-HTTP address).
        defaults["PAYMENT_METHODS_US"] = "cash_on_delivery"
    for name, value in defaults.items():
        env.setdefault(name, value)
    # Emptied at every start (prepare): always this run's own folder, never the caller's.
    env["PROMETHEUS_MULTIPROC_DIR"] = str(run_dir / "metrics")
    env.update(overrides)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(env: dict[str, str], *args: str, **overrides: str) -> None:
    """`manage.py <args>` with `env` (`overrides` replace variables); raises on failure."""
    run_env = {**env, **overrides}
    subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=run_env, check=True)


LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}  # "" : a Unix socket


def require_loopback(env: dict[str, str]) -> None:
    """This machine's services only: the demo seed makes a superuser with a known password."""
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DATABASE_REPLICA_URL"):
        url = env.get(name)
        if url and (urllib.parse.urlsplit(url).hostname or "") not in LOOPBACK:
            raise SystemExit(f"up: {name} is not on this machine ({url}); refusing to run.")


def prepare(env: dict[str, str], *, seed: bool = True, small: bool = False) -> None:
    """What a deploy runs before the processes start (docs/OPERATIONS.md)."""
    require_loopback(env)
    # An empty multiprocess metrics directory at every start (prometheus_client's rule).
    metrics = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    if seed:
        # The demo store (idempotent). Production settings refuse the demo seed on
        # purpose (its superuser has a documented password), so it runs with the
        # local settings against the same database.
        # `small` (the smoke test): a tiny store, its tasks run in the seeding process
        # (no REDIS_URL: eager), so the worker starts with an empty queue.
        if small:
            local = {"DJANGO_SETTINGS_MODULE": "main.settings.local", "REDIS_URL": ""}
            manage(env, "seed_demo", "--small", **local)
        else:
            manage(env, "seed_demo", DJANGO_SETTINGS_MODULE="main.settings.local")


class Process:
    def __init__(self, name: str, command: str, popen: subprocess.Popen) -> None:
        self.name = name
        self.command = command
        self.popen = popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int, *, group: bool = False) -> None:
        """`signum` to the process this runner started (`group`: and all its children)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum) if group else os.kill(self.pid, signum)


class Topology:
    """The Procfile's processes, started and stopped by PID.

    `log_dir` given: each process writes `<name>.log` there; otherwise every line goes
    to this process's stdout prefixed with the process name, as `make up` shows it.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        procfile: Path = PROCFILE,
        log_dir: Path | None = None,
    ) -> None:
        self.env = env
        self.commands = read_procfile(procfile)
        self.log_dir = log_dir
        self.processes: dict[str, Process] = {}
        self._width = max(map(len, self.commands))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    @property
    def asgi_url(self) -> str:
        return f"http://127.0.0.1:{self.env['ASGI_PORT']}"

    def start(self, names: Iterable[str] | None = None) -> None:
        for name in names or self.commands:
            self.processes[name] = self._spawn(name, self.commands[name])

    def _spawn(self, name: str, command: str) -> Process:
        if self.log_dir is not None:
            output = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (the child owns it)
        else:
            output = subprocess.PIPE
        popen = subprocess.Popen(
            # bash expands ${VAR:-default} as a Procfile runner does.
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches us, we stop it
        )
        if self.log_dir is not None:
            output.close()
        else:
            threading.Thread(target=self._pump, args=(name, popen), daemon=True).start()
        return Process(name, command, popen)

    def _pump(self, name: str, popen: subprocess.Popen) -> None:
        prefix = f"{name:<{self._width}} | ".encode()
        for line in iter(popen.stdout.readline, b""):
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.buffer.flush()

    def wait_ready(self, timeout: float = 90) -> None:
        """Until /readyz of web and /healthz of asgi answer 200; raises if a process dies."""
        deadline = time.monotonic() + timeout
        pending = {}
        if "web" in self.processes:
            pending["web"] = f"{self.base_url}/readyz"
        if "asgi" in self.processes:
            pending["asgi"] = f"{self.asgi_url}/healthz"
        while pending:
            self.check_alive()
            for name, url in list(pending.items()):
                if http_status(url) == 200:
                    del pending[name]
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
            time.sleep(0.25)

    def check_alive(self) -> None:
        dead = [p for p in self.processes.values() if not p.alive()]
        if dead:
            codes = ", ".join(f"{p.name} (pid {p.pid}) exit {p.popen.returncode}" for p in dead)
            raise RuntimeError(f"process ended: {codes}")

    def stop(self, timeout: float = 30, names: Iterable[str] | None = None) -> None:
        """SIGTERM to each (graceful: gunicorn and Celery finish what they run and stop
        their own children), then SIGKILL to the process group of any still running."""
        chosen = [n for n in (*STOP_ORDER, *self.processes) if n in self.processes]
        chosen = list(dict.fromkeys(n for n in chosen if names is None or n in names))
        for name in chosen:
            self.processes[name].signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in chosen:
            process = self.processes[name]
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.signal(signal.SIGKILL, group=True)
                process.popen.wait(timeout=10)
            # Children a process left behind in its group (a Celery pool child, say).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def restart(self, name: str, timeout: float = 30) -> None:
        self.stop(timeout, names=[name])
        self.processes[name] = self._spawn(name, self.commands[name])


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 2) -> int | None:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-seed", action="store_true", help="skip the demo seed")
    parser.add_argument("--stop-timeout", type=float, default=30)
    parser.add_argument(
        "--run-dir", type=Path, help="folder for the SMS file, metrics and beat schedule"
    )
    args = parser.parse_args()

    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()
        if not topology_started.is_set():
            raise KeyboardInterrupt  # during migrate/seed: subprocess.run ends its child

    topology_started = threading.Event()
    # Installed first, whatever the parent left (a background job ignores SIGINT).
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="marque-up-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    env = local_environment(run_dir)
    try:
        prepare(env, seed=not args.no_seed)
    except KeyboardInterrupt:
        print("up: interrupted before the processes started", file=sys.stderr)
        return 130

    topology = Topology(env)
    topology_started.set()
    topology.start()
    pids = ", ".join(f"{p.name} {p.pid}" for p in topology.processes.values())
    status = 0
    try:
        topology.wait_ready()
        print(
            f"\nMARQUE is up (production settings, LOCAL_RUN): pids {pids}\n"
            f"  API         {topology.base_url}/api/v1/  (docs {topology.base_url}/api/docs/)\n"
            f"  WebSocket   ws://127.0.0.1:{env['ASGI_PORT']}/ws/v1/events/\n"
            f"  sign-in codes   tail -f {env['SMS_FILE_PATH']}\n"
            f"  metrics     curl -H 'Authorization: Bearer {env['METRICS_TOKEN']}' "
            f"{topology.base_url}/metrics\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping.wait(0.5):
            topology.check_alive()
    except RuntimeError as error:
        print(f"up: {error}; stopping the others", file=sys.stderr, flush=True)
        status = 1
    finally:
        topology.stop(args.stop_timeout)
        print(f"up: stopped ({pids})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
