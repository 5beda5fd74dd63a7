#!/usr/bin/env python
"""Schema fuzzing (issue 13): Schemathesis against the running API, as a customer and as a manager.

    .venv/bin/python .ci/schema_fuzz.py          # or: make schema-fuzz
    .venv/bin/python .ci/schema_fuzz.py --max-examples 10 --seed 1 --keep-db

What it does, self-contained, on this machine only (every request goes to 127.0.0.1):

1. A fresh PostgreSQL database `marque_fuzz` on 127.0.0.1:5432 (dropped if it
   exists, created with createdb; the shared server itself is never touched),
   `migrate` and `seed_demo` into it.
2. No Redis: REDIS_URL is set empty (not just unset, so a `.env` cannot fill it
   in), so Celery runs eagerly inside the request and the cache (throttle
   counters, catalogue) is per-process local memory. Settings
   `main.settings.local` with DEBUG off (production error pages, no debug
   views), in-memory SMS and e-mail backends, media in the run's temp dir, the
   per-IP auth throttles raised (every request comes from one IP).
3. Access tokens (simplejwt) for the demo KG customer and the demo store manager
   of role admin (every permission, both markets).
4. gunicorn with the project's gunicorn_config.py (JSON error worker), 2 workers and
   no worker recycling, on a free 127.0.0.1 port; waits for /healthz.
5. Schemathesis twice against /api/schema/: the customer token on every operation
   outside /api/v1/manager/, the manager token on /api/v1/manager/. Checks:
   not_a_server_error and status_code_conformance. Bounded and repeatable:
   --max-examples, --seed, no example database.
6. Prints operations tested, server errors and undocumented status codes (by status
   and by operation, with the server log's traceback for each distinct 5xx), and
   exits 1 if there is any server error, undocumented status, or a run that could
   not test. Reports (JUnit, JSON, NDJSON, CLI output) and the server log stay in
   a temp dir whose path is printed.
7. Stops the server (its PID only) and drops `marque_fuzz` (unless --keep-db).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = BASE_DIR / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
DB_NAME = "marque_fuzz"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"

CUSTOMER_PHONE = "+996700100001"  # demo customer KG (README "Demo store")

# Operations left out of a run because they would sabotage the run itself, not
# because they fail. Everything else is fuzzed, destructive or not.
#   * DELETE /api/v1/users/me/ closes the account of the token's own user
#     (is_active=False): every later request of the customer run would be 401.
# Kept on purpose: POST /auth/logout/ and /auth/token/refresh/ revoke or rotate
# only the refresh token sent in the body; the runs authenticate with an access
# token and never hand their refresh token to Schemathesis, so neither can
# revoke it. The manager API has no operation that ends its own session.
CUSTOMER_EXCLUDED = ("DELETE /api/v1/users/me/",)
MANAGER_PREFIX = "/api/v1/manager/"

CHECKS = "not_a_server_error,status_code_conformance"
DEFAULT_MAX_EXAMPLES = 50  # both runs ~1.6 min on 2 cores (100: ~2.5 min)
DEFAULT_SEED = 13
RUN_TIMEOUT_SECONDS = 300  # a Schemathesis run past this is killed and fails the job
SHOW_FIRST = 8  # undocumented statuses listed with operation and request


def log(message: str) -> None:
    print(f"[schema-fuzz {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(cmd: list[str], env: dict[str, str] | None = None, **kwargs) -> None:
    subprocess.run(cmd, env=env, cwd=BASE_DIR, check=True, **kwargs)  # noqa: S603


def app_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "main.settings.local",
            "DEBUG": "false",
            "DATABASE_URL": DB_URL,
            "REDIS_URL": "",  # empty, not unset: a .env cannot bring Redis back
            "SECURE_SSL_REDIRECT": "false",
            "SMS_BACKEND": "users.sms.LocMemBackend",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "MEDIA_ROOT": str(tmp / "media"),
            # Every request comes from 127.0.0.1: at the real per-IP rates (20 codes an
            # hour, 60 sign-in calls a minute) the auth operations would answer 429 after
            # the first seconds and go untested. The per-phone OTP limits stay as they are;
            # the throttles themselves are covered by the test suite.
            "THROTTLE_OTP_IP": "100000/hour",
            "THROTTLE_AUTH": "100000/min",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def create_database() -> None:
    run(["dropdb", *PG, "--if-exists", "--force", DB_NAME])
    run(["createdb", *PG, DB_NAME])


def drop_database() -> None:
    subprocess.run(["dropdb", *PG, "--if-exists", "--force", DB_NAME], check=False)  # noqa: S603, S607


MINT_TOKENS = f"""
import json
from rest_framework_simplejwt.tokens import RefreshToken
from store_manager.models import StoreManager
from users.models import User
customer = User.objects.get(phone={CUSTOMER_PHONE!r}, is_active=True)
manager = StoreManager.objects.select_related("user").filter(
    role=StoreManager.Role.ADMIN, user__is_active=True
).order_by("pk").first()
print("TOKENS " + json.dumps({{
    "customer": str(RefreshToken.for_user(customer).access_token),
    "manager": str(RefreshToken.for_user(manager.user).access_token),
    "customer_phone": customer.phone,
    "manager_phone": manager.user.phone,
}}))
"""


def mint_tokens(env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "shell", "-c", MINT_TOKENS],
        env=env,
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("TOKENS "))
    return json.loads(line.removeprefix("TOKENS "))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    server = subprocess.Popen(  # noqa: S603
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn_config.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            # No worker recycling: the code and the local-memory cache (throttle
            # counters) a run sees stay the same from its first request to its last.
            "--max-requests",
            "0",
        ],
        env=env,
        cwd=BASE_DIR,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not answer /healthz within 60 s; see {log_path}")


def stop_server(server: subprocess.Popen | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)  # the master stops its own workers
    try:
        server.wait(timeout=35)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def schemathesis_command(
    *, port: int, token: str, who: str, reports: Path, args: argparse.Namespace
) -> list[str]:
    cmd = [
        str(BIN / "schemathesis"),
        "run",
        f"http://127.0.0.1:{port}/api/schema/",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--workers",
        str(args.workers),
        "--continue-on-failure",  # every failing status of an operation, not only the first
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
        "--report",
        "junit,json,ndjson",
        "--report-junit-path",
        str(reports / f"{who}-junit.xml"),
        "--report-json-path",
        str(reports / f"{who}-report.json"),
        "--report-ndjson-path",
        str(reports / f"{who}-events.ndjson"),
    ]
    if who == "manager":
        cmd += ["--include-path-regex", f"^{MANAGER_PREFIX}"]
    else:
        cmd += ["--exclude-path-regex", f"^{MANAGER_PREFIX}"]
        for name in CUSTOMER_EXCLUDED:
            cmd += ["--exclude-name", name]
    return cmd


def printable(cmd: list[str]) -> str:
    shown = [re.sub(r"Bearer \S+", "Bearer $TOKEN", part) for part in cmd]
    return " ".join(f"'{part}'" if re.search(r"[\s^$|(){}*]", part) else part for part in shown)


def run_schemathesis(cmd: list[str], out_path: Path, tmp: Path) -> int:
    env = dict(os.environ)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    with out_path.open("w") as out:
        try:
            proc = subprocess.run(  # noqa: S603
                cmd,
                env=env,
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return -1
    return proc.returncode


# --- Reading the reports -------------------------------------------------------------------


def _decode(body) -> str:
    if isinstance(body, dict) and "$base64" in body:
        return base64.b64decode(body["$base64"]).decode("utf-8", "replace")
    if body is None or isinstance(body, str):
        return body or ""
    return json.dumps(body, ensure_ascii=False, default=str)


def read_events(ndjson: Path) -> dict:
    """Every failed check of every recorded case: (operation, status) → first request."""
    server_errors: dict[tuple[str, int], dict] = {}
    undocumented: dict[tuple[str, int], dict] = {}
    if not ndjson.exists():
        return {"server_errors": {}, "undocumented": {}}
    for line in ndjson.open():
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        recorder = event.get("recorder") or {}
        interactions = recorder.get("interactions") or {}
        for case_id, checks in (recorder.get("checks") or {}).items():
            case = (recorder.get("cases") or {}).get(case_id, {}).get("value", {})
            operation = f"{case.get('method', '?')} {case.get('path', recorder.get('label'))}"
            interaction = interactions.get(case_id) or {}
            response = interaction.get("response") or {}
            status = response.get("status_code", 0)
            for check in checks:
                if check.get("status") != "failure":
                    continue
                target = {
                    "not_a_server_error": server_errors,
                    "status_code_conformance": undocumented,
                }.get(check["name"])
                if check["name"] == "status_code_conformance" and status >= 500:
                    target = None  # counted as a server error, not twice
                if target is None or (operation, status) in target:
                    continue
                request = interaction.get("request") or {}
                target[(operation, status)] = {
                    "phase": event.get("phase"),
                    "uri": request.get("uri", ""),
                    "body": _decode(case.get("body", request.get("body")))[:300],
                    "response": _decode(response.get("content"))[:300],
                }
    return {"server_errors": server_errors, "undocumented": undocumented}


_RECORD_START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} |\[\d{4}-\d\d-\d\d )")
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')


def server_log_errors(log_path: Path) -> tuple[dict[str, int], list[dict]]:
    """500 answers per path, and the distinct tracebacks in the server log.

    Tracebacks are grouped by exception type and innermost project frame (the
    project's error handler logs the traceback, django.request the 500 after it).
    """
    records: list[list[str]] = []
    for line in log_path.read_text(errors="replace").splitlines():
        if _RECORD_START.match(line) or not records:
            records.append([line])
        else:
            records[-1].append(line)
    answers: dict[str, int] = defaultdict(int)
    distinct: dict[tuple[str, str], dict] = {}
    for record in records:
        head = record[0]
        if "Internal Server Error: " in head:
            answers[head.split("Internal Server Error: ", 1)[1].strip()] += 1
        if not any(line.startswith("Traceback") for line in record[1:]):
            continue
        frames = [
            m
            for m in (_FRAME.search(line) for line in record)
            if m and m["file"].startswith(str(BASE_DIR)) and "/.venv/" not in m["file"]
        ]
        where = ""
        if frames:
            last = frames[-1]
            where = f"{os.path.relpath(last['file'], BASE_DIR)}:{last['line']} in {last['func']}"
        exc = next(line for line in reversed(record) if line.strip()).strip()
        key = (exc.split(":")[0], where)
        entry = distinct.setdefault(
            key, {"count": 0, "exception": exc, "where": where, "head": head}
        )
        entry["count"] += 1
    return dict(answers), list(distinct.values())


def summarize(who: str, exit_code: int, reports: Path) -> dict:
    report_path = reports / f"{who}-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    events = read_events(reports / f"{who}-events.ndjson")
    ops = report.get("operations", {})
    problems = []
    if exit_code == -1:
        problems.append(f"killed after {RUN_TIMEOUT_SECONDS} s")
    elif exit_code not in (0, 1):
        problems.append(f"schemathesis exited with {exit_code}")
    if not report:
        problems.append("no JSON report")
    elif not ops.get("tested"):
        problems.append("no operation tested")
    for error in report.get("errors", []):
        problems.append(f"error: {json.dumps(error)[:300]}")
    if ops.get("errored"):
        problems.append(f"{ops['errored']} operation(s) errored")
    return {
        "who": who,
        "selected": ops.get("selected", 0),
        "tested": ops.get("tested", 0),
        "total": ops.get("total", 0),
        "cases": report.get("test_cases", {}).get("generated", 0),
        "seconds": report.get("running_time", 0.0),
        "server_errors": events["server_errors"],
        "undocumented": events["undocumented"],
        "problems": problems,
    }


def print_summary(results: list[dict], log_path: Path) -> bool:
    print("\n================ schema fuzzing summary ================")
    server_errors: dict[tuple[str, int], dict] = {}
    undocumented: dict[tuple[str, int], dict] = {}
    ok = True
    for r in results:
        print(
            f"{r['who']:8} run: {r['tested']}/{r['selected']} selected operations tested "
            f"(schema has {r['total']}), {r['cases']} test cases, {r['seconds']:.0f} s; "
            f"server errors {len(r['server_errors'])}, "
            f"undocumented statuses {len(r['undocumented'])}"
        )
        for problem in r["problems"]:
            ok = False
            print(f"  RUN PROBLEM: {problem}")
        for key, value in r["server_errors"].items():
            server_errors.setdefault(key, {**value, "who": r["who"]})
        for key, value in r["undocumented"].items():
            undocumented.setdefault(key, {**value, "who": r["who"]})

    print(f"\nServer errors (distinct operation + status): {len(server_errors)}")
    for (operation, status), info in sorted(server_errors.items()):
        print(f"  {status} {operation}  [{info['who']}, {info['phase']}]")
        print(f"      request: {info['uri']}" + (f"  body: {info['body']}" if info["body"] else ""))
    answers, tracebacks = server_log_errors(log_path)
    if answers:
        print(
            "  500 answers in the server log: " + ", ".join(f"{n}x {p}" for p, n in answers.items())
        )
    if tracebacks:
        ok = False  # a traceback without a 500 (a worker that failed to boot) fails the job too
        print(f"  distinct tracebacks in the server log: {len(tracebacks)}")
        for tb in sorted(tracebacks, key=lambda t: -t["count"]):
            print(f"    {tb['count']}x {tb['exception'][:200]}")
            print(f"       at {tb['where'] or '?'}; first: {tb['head'][:120]}")

    print(f"\nUndocumented status codes (distinct operation + status): {len(undocumented)}")
    by_status: dict[int, list[str]] = defaultdict(list)
    for operation, status in undocumented:
        by_status[status].append(operation)
    for status in sorted(by_status):
        print(f"  {status} undocumented on {len(by_status[status])} operation(s)")
    by_operation: dict[str, list[int]] = defaultdict(list)
    for operation, status in sorted(undocumented):
        by_operation[operation].append(status)
    if by_operation:
        print("  by operation:")
    for operation, statuses in sorted(by_operation.items(), key=lambda o: o[0].split()[::-1]):
        print(f"    {operation}: {', '.join(map(str, statuses))}")
    for (operation, status), info in sorted(undocumented.items())[:SHOW_FIRST]:
        print(f"  e.g. {status} {operation}: {info['uri']}  → {info['response'][:120]}")
    if len(undocumented) > SHOW_FIRST:
        print(f"  … {len(undocumented) - SHOW_FIRST} more in the reports")
    return ok and not server_errors and not undocumented


def _interrupt(signum, frame):
    """SIGTERM (a CI timeout) cleans up like Ctrl-C does."""
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=DEFAULT_MAX_EXAMPLES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true", help="leave marque_fuzz for a look")
    args = parser.parse_args()

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="marque-schema-fuzz-"))
    reports = tmp / "reports"
    reports.mkdir()
    log_path = tmp / "server.log"
    env = app_env(tmp)
    server = None
    results: list[dict] = []
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        log(f"database {DB_NAME} (PostgreSQL 127.0.0.1:5432), no Redis; work dir {tmp}")
        create_database()
        run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
        log("seed_demo …")
        run([PYTHON, "manage.py", "seed_demo"], env=env, stdout=subprocess.DEVNULL)
        tokens = mint_tokens(env)
        log(f"tokens: customer {tokens['customer_phone']}, manager {tokens['manager_phone']}")
        port = free_port()
        server = start_server(env, port, log_path)
        log(f"gunicorn (pid {server.pid}) on 127.0.0.1:{port}")
        for who in ("customer", "manager"):
            cmd = schemathesis_command(
                port=port, token=tokens[who], who=who, reports=reports, args=args
            )
            log(f"{who} run: {printable(cmd)}")
            out_path = reports / f"{who}-cli.txt"
            code = run_schemathesis(cmd, out_path, tmp)
            results.append(summarize(who, code, reports))
            if server.poll() is not None:
                results[-1]["problems"].append(f"gunicorn exited ({server.returncode})")
            log(f"{who} run finished (exit {code}); CLI output {out_path}")
    finally:
        stop_server(server)
        if args.keep_db:
            log(f"kept database {DB_NAME}")
        else:
            drop_database()
        shutil.rmtree(tmp / "media", ignore_errors=True)

    passed = print_summary(results, log_path)
    print(
        f"\nReports: {reports}  (JUnit, JSON, NDJSON, CLI output per run); server log: {log_path}"
    )
    print(f"Wall time: {time.monotonic() - started:.0f} s")
    print("PASSED" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
