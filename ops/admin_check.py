"""The admin in a real browser (`make admin-check`, run by CI): the pages staff use most.

    .venv/bin/python ops/admin_check.py          # PostgreSQL 127.0.0.1:5432, Debian chromium

What a store's staff would do, on this machine only: a fresh database
`marque_admincheck` (dropped and created again) with the small demo store,
Django's development server on a spare 127.0.0.1 port (local settings, no
Redis), and headless Chromium (Debian's `/usr/bin/chromium`, driven by
Playwright) at 1400 x 900. It signs in as the README's staff account and opens
the index, the order, return, product, snapshot and report lists and a change
page of each, and confirms a pending order with its page's button and a
note. Every page must answer 200 with its heading, fit the 1,400 px
width (no horizontal scrolling), show no raw UTC where the market's time is
meant, and the order list must name the market's zone. A screenshot of each
page is kept in the run's folder, whose path is printed.

The server is stopped by its PID at the end, pass or fail. Exit status 0 only
if every page passed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import requests
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from up import BIN, ROOT, free_port, manage

DB_URL = "postgres://postgres@127.0.0.1:5432/marque_admincheck"
STAFF_PHONE = "+996700000001"  # README "Demo store"
STAFF_PASSWORD = "marque-admin"  # noqa: S105 (the demo superuser's documented password)
WIDTH, HEIGHT = 1400, 900
CHROMIUM = "/usr/bin/chromium"

# (name, list path, heading the page must show, text the page must contain or None)
LISTS = (
    ("index", "/admin/", "Site administration", None),
    ("orders", "/admin/orders/order/", "Select order to change", "(market time)"),
    ("returns", "/admin/orders/returnrequest/", "Select return request to change", None),
    ("products", "/admin/products/product/", "Select product to change", None),
    ("snapshots", "/admin/store_manager/revenuesnapshot/", "revenue snapshot", None),
    ("reports", "/admin/store_manager/dailyreport/", "daily report", None),
)


def fresh_database() -> None:
    maintenance = psycopg2.connect(DB_URL.rsplit("/", 1)[0] + "/postgres")
    maintenance.autocommit = True
    name = DB_URL.rsplit("/", 1)[1]
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    maintenance.close()


def environment(run_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "main.settings.local",
            "DATABASE_URL": DB_URL,
            "REDIS_URL": "",
            "DEBUG": "true",
            "MEDIA_ROOT": str(run_dir / "media"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def check_page(page, base: str, name: str, path: str, heading: str, must: str | None, shots: Path):
    """Open `path`; the problems found (an empty list when the page passed)."""
    response = page.goto(base + path)
    problems = []
    if response is None or response.status != 200:
        problems.append(f"status {response.status if response else 'none'}")
    body = page.content()
    if heading.lower() not in body.lower():
        problems.append(f"no {heading!r}")
    if must and must not in body:
        problems.append(f"no {must!r}")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        problems.append(f"{overflow} px wider than {WIDTH}")
    # A list's table scrolls inside its own box: clipped columns do not widen the page.
    clipped = page.evaluate(
        "(() => { const box = document.querySelector('.results');"
        " return box ? box.scrollWidth - box.clientWidth : 0; })()"
    )
    if clipped > 0:
        problems.append(f"list clipped by {clipped} px")
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    return problems


def first_change_link(page) -> str | None:
    """The change page of the list's first row, if the list has one."""
    link = page.query_selector("#result_list tbody tr th a")
    return link.get_attribute("href") if link else None


NOTE = "We will call you before delivery (browser check)"


def check_status_button(page, base: str, shots: Path) -> tuple[str, str, list[str]]:
    """Confirm a pending order with its page's button and a note, as the order desk would."""
    page.goto(f"{base}/admin/orders/order/?status__exact=pending")
    change = first_change_link(page)
    if not change:
        return ("order (confirm button)", "-", ["no pending order in the demo store"])
    page.goto(base + change)
    problems = []
    if page.query_selector("input[name=_save]"):
        problems.append("a Save button on a page that saves nothing")
    page.fill("#status-panel textarea[name=note]", NOTE)
    with page.expect_navigation():
        page.click("#status-panel button[value=confirmed]")
    body = page.content()
    for must in ("is now confirmed", "Status: Confirmed", NOTE):
        if must not in body:
            problems.append(f"no {must!r} after pressing Confirm")
    if not page.query_selector("#status-panel button[value=processing]"):
        problems.append("no 'Mark processing' button after confirming")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        problems.append(f"{overflow} px wider than {WIDTH}")
    page.screenshot(path=str(shots / "order-confirmed.png"), full_page=True)
    return ("order (confirm button)", change, problems)


def run(base: str, shots: Path) -> list[tuple[str, str, list[str]]]:
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(f"{base}/admin/login/")
        page.fill("input[name=username]", STAFF_PHONE)
        page.fill("input[name=password]", STAFF_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        for name, path, heading, must in LISTS:
            problems = check_page(page, base, name, path, heading, must, shots)
            results.append((name, path, problems))
            change = first_change_link(page) if path != "/admin/" else None
            if change:
                problems = check_page(page, base, f"{name}-change", change, "Change", None, shots)
                results.append((f"{name} (change)", change, problems))
        results.append(check_status_button(page, base, shots))
        browser.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"admin-check: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    run_dir = Path(tempfile.mkdtemp(prefix="marque-admin-check-"))
    shots = run_dir / "screenshots"
    shots.mkdir()
    env = environment(run_dir)
    print(f"admin-check: preparing (fresh database, small demo store) in {run_dir}", flush=True)
    fresh_database()
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    manage(env, "seed_demo", "--small")
    port = free_port()
    log = (run_dir / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "python"), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz")
        results = run(base, shots)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    failed = [r for r in results if r[2]]
    for name, path, problems in results:
        print(f"  {'FAIL' if problems else 'ok  '} {name:<22} {path:<48} {'; '.join(problems)}")
    print(f"admin-check: {len(results) - len(failed)}/{len(results)} pages passed at {WIDTH} px; "
          f"screenshots in {shots}")  # fmt: skip
    if failed:
        print((run_dir / "server.log").read_text()[-3000:], file=sys.stderr)
        return 1
    shutil.rmtree(run_dir / "media", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
