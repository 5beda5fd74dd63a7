#!/usr/bin/env python
"""Body-limits benchmark (issue 12): a gunicorn worker's memory under oversized posts.

    .venv/bin/python bench/body_limits.py                 # 50 posts, limits as configured
    .venv/bin/python bench/body_limits.py --baseline      # also a pass with the limits lifted

An operator's drill sent 200 MB JSON bodies to `auth/otp/verify/` and watched
a worker grow from 97 MB to 311 MB and stay there. One run:

1. Migrates a SQLite database in a temporary directory (deleted afterwards).
2. Starts gunicorn with the project's gunicorn_config.py, 1 sync worker, on a
   free port on 127.0.0.1 only, settings `main.settings.test` (DEBUG off, no
   Redis: local-memory cache; sign-in throttles raised so none answers 429).
3. Warms the worker up with 20 ordinary sign-in attempts, then reads its RSS
   from /proc/<pid>/status.
4. Sends --requests oversized posts (default 50) to /api/v1/auth/otp/verify/:
   most declare `Content-Length: 200 MB` and send --send-mb (default 4 MB) of
   JSON before waiting for the answer; every 5th has no Content-Length
   (`Transfer-Encoding: chunked`) and sends --send-mb the same way. The
   server answers from the headers and closes, so a client still pushing its
   megabytes may see the connection reset rather than the 413 (counted as
   "reset"); --stop-at-answer stops sending as soon as the answer is there.
5. Reads the worker's RSS (and its peak, VmHWM) again, checks it is the same
   process (not killed and replaced), and stops gunicorn by its PID.

With --baseline a second gunicorn runs with API_MAX_BODY_BYTES lifted to 1 GiB
and receives --baseline-requests complete bodies of --baseline-mb (default
5 posts of 50 MB): the behaviour before issue 12. Figures go to stdout and to
bench/results/body_limits.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"
PATH = "/api/v1/auth/otp/verify/"
MIB = 1024 * 1024
PIECE = 64 * 1024


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of `pid`, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected 1 gunicorn worker, found {children}")
    return int(children[0])


def read_status(conn: socket.socket, timeout: float) -> str:
    """The status code of the answer, or what happened instead."""
    conn.settimeout(timeout)
    received = b""
    try:
        while b"\r\n" not in received:
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return "reset" if not received else received.split()[1].decode()
    except TimeoutError:
        return "timeout"
    return received.split()[1].decode() if received.startswith(b"HTTP/") else "closed"


def post(
    port: int, *, declared: int | None, send: int, stop_at_answer: bool, timeout: float = 20
) -> tuple[str, int]:
    """POST a JSON body to PATH: declare `declared` bytes (None: chunked), send `send` bytes.

    The server answers (and closes) without reading the body; with `stop_at_answer`
    the client stops sending as soon as the answer is there, else it pushes all
    `send` bytes first and may then see the connection reset instead of the answer.
    Returns (status, body bytes the kernel accepted from us).
    """
    head = f"POST {PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    head += (
        f"Content-Length: {declared}\r\n"
        if declared is not None
        else ("Transfer-Encoding: chunked\r\n")
    )
    body = b'{"phone": "+996700123456", "code": "123456", "padding": "'
    sent = 0
    with socket.create_connection((HOST, port), timeout=timeout) as conn:
        try:
            conn.sendall((head + "\r\n").encode())
            while sent < send:
                piece = body if sent == 0 else b"x" * PIECE
                if declared is None:
                    piece = b"%x\r\n%s\r\n" % (len(piece), piece)
                conn.sendall(piece)
                sent += len(piece)
                if stop_at_answer and select.select([conn], [], [], 0)[0]:
                    break  # the answer is there: stop sending
            if declared is None and sent >= send:
                conn.sendall(b'2\r\n"}\r\n0\r\n\r\n')  # close the JSON, last chunk
        except (ConnectionResetError, BrokenPipeError):
            pass  # answered and closed while we were sending
        return read_status(conn, timeout), sent


def full_post(port: int, size: int, timeout: float = 120) -> tuple[str, int]:
    """A complete JSON body of `size` bytes, honest Content-Length (the pre-limit behaviour)."""
    prefix = b'{"phone": "+996700123456", "code": "123456", "padding": "'
    suffix = b'"}'
    padding = size - len(prefix) - len(suffix)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    with socket.create_connection((HOST, port), timeout=timeout) as conn:
        try:
            conn.sendall(head + prefix)
            block = b"x" * MIB
            while padding > 0:
                conn.sendall(block[: min(padding, MIB)])
                padding -= MIB
            conn.sendall(suffix)
        except (ConnectionResetError, BrokenPipeError):
            pass
        return read_status(conn, timeout), size


def honest_small(port: int) -> str:
    body = b'{"phone": "+996700123456", "code": "123456"}'
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((HOST, port), timeout=20) as conn:
        conn.sendall(head + body)
        return read_status(conn, 20)


def start_gunicorn(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn_config.py",
        "--bind", f"{HOST}:{port}", "--workers", "1", "--timeout", "60",
    ]  # fmt: skip
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            cmd,
            cwd=BASE_DIR,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches this script, which stops gunicorn itself
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(process: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=2) as conn:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                if read_status(conn, 5) == "200":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz (see {log_path})")


def run_pass(name: str, env: dict[str, str], log_path: Path, send_requests) -> dict:
    port = free_port()
    process = start_gunicorn(port, env, log_path)
    try:
        wait_healthy(process, port, log_path)
        pid = worker_pid(process.pid)
        warm = [honest_small(port) for _ in range(20)]
        before = proc_memory(pid)
        started = time.monotonic()
        answers = send_requests(port)
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        after_pid = worker_pid(process.pid)
        after = proc_memory(after_pid)
    finally:
        stop(process)
    counts: dict[str, int] = {}
    for status, _ in answers:
        counts[status] = counts.get(status, 0) + 1
    sent_mb = sum(sent for _, sent in answers) / MIB
    result = {
        "pass": name,
        "warm_up_statuses": sorted(set(warm)),
        "worker_pid": pid,
        "same_worker_after": after_pid == pid,
        "rss_before_kb": before["VmRSS"],
        "rss_after_kb": after["VmRSS"],
        "rss_growth_kb": after["VmRSS"] - before["VmRSS"],
        "peak_rss_kb": after["VmHWM"],
        "requests": len(answers),
        "body_mb_sent": round(sent_mb, 1),
        "statuses": counts,
        "seconds": round(elapsed, 2),
    }
    log(
        f"{name}: RSS {before['VmRSS'] / 1024:.1f} MB → {after['VmRSS'] / 1024:.1f} MB "
        f"(peak {after['VmHWM'] / 1024:.1f} MB) after {len(answers)} posts "
        f"({sent_mb:.0f} MB of body sent) in {elapsed:.1f} s; "
        f"answers {counts}; same worker: {after_pid == pid}"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--declared-mb", type=int, default=200)
    parser.add_argument("--send-mb", type=float, default=4)
    parser.add_argument(
        "--stop-at-answer", action="store_true", help="stop sending once the server answers"
    )
    parser.add_argument("--baseline", action="store_true", help="also run with limits lifted")
    parser.add_argument("--baseline-requests", type=int, default=5)
    parser.add_argument("--baseline-mb", type=int, default=50)
    args = parser.parse_args()
    if not 1 <= args.requests <= 500 or not 1 <= args.baseline_requests <= 20:
        parser.error("--requests is 1..500 and --baseline-requests 1..20 (the run is bounded)")
    if args.baseline_mb > 200:
        parser.error("--baseline-mb is at most 200")

    RESULTS_DIR.mkdir(exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="marque-bench-body-") as tmp:
        tmp_path = Path(tmp)
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL", "API_MAX_BODY_BYTES")
        }
        env.update(
            DJANGO_SETTINGS_MODULE="main.settings.test",
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
            THROTTLE_AUTH="100000/min",
            THROTTLE_OTP_IP="100000/hour",
        )
        log("migrating a SQLite database in a temporary directory…")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=BASE_DIR, env=env, check=True,
        )  # fmt: skip

        declared = args.declared_mb * MIB
        send = int(args.send_mb * MIB)

        def oversized(port: int) -> list[tuple[str, int]]:
            return [
                post(
                    port,
                    declared=None if i % 5 == 4 else declared,
                    send=send,
                    stop_at_answer=args.stop_at_answer,
                )
                for i in range(args.requests)
            ]

        results.append(run_pass("limits on", env, tmp_path / "gunicorn-on.log", oversized))

        if args.baseline:
            lifted = {**env, "API_MAX_BODY_BYTES": str(1024 * MIB)}

            def complete(port: int) -> list[tuple[str, int]]:
                return [
                    full_post(port, args.baseline_mb * MIB) for _ in range(args.baseline_requests)
                ]

            log_path = tmp_path / "gunicorn-off.log"
            results.append(run_pass("limits lifted", lifted, log_path, complete))

    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/body_limits.py", *sys.argv[1:]]),
        "declared_mb": args.declared_mb,
        "sent_mb_per_request": args.send_mb,
        "stop_at_answer": args.stop_at_answer,
        "passes": results,
    }
    out = RESULTS_DIR / "body_limits.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
