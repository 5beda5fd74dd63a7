"""The deployment files describe one topology: Procfile, compose.yaml, Dockerfile, Celery routes.

`make up` runs the Procfile; containers run compose.yaml. A command changed in
one and not the other would make production differ from what `make smoke` proved.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from main.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ("web", "asgi", "worker", "beat")
PROJECT_APPS = ("main", "outbox", "users", "products", "banners", "orders", "reviews")
PROJECT_APPS += ("store_manager", "realtime", "demo")


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in entries}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def worker_queues(command: str) -> set[str]:
    argv = shlex.split(command)
    flag = next(i for i, arg in enumerate(argv) if arg in ("-Q", "--queues"))
    return set(argv[flag + 1].split(","))


def test_the_procfile_names_the_four_processes_of_the_spec():
    assert tuple(procfile()) == PROCESSES


def test_compose_runs_each_procfile_process_with_the_same_command(compose):
    services = compose["services"]
    for name, command in procfile().items():
        assert services[name]["command"] == command, f"{name}: compose and Procfile differ"


def test_every_process_runs_the_one_image_after_its_database_redis_and_migrations(compose):
    services = compose["services"]
    images = {services[name]["image"] for name in PROCESSES}
    assert len(images) == 1
    for name in PROCESSES:
        assert services[name]["build"] == "."
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
        }
        environment = services[name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "main.settings.production"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert services["migrate"]["command"] == "python manage.py migrate --noinput"
    assert {"postgres", "redis"} <= set(services)
    # The web and WebSocket ports are published; worker and beat listen on nothing.
    # Published on the host's loopback only, for the proxy in front.
    assert services["web"]["ports"] == ["127.0.0.1:${PORT:-8000}:8000"]
    assert "ports" not in services["worker"] and "ports" not in services["beat"]


def test_compose_takes_its_settings_from_dotenv_and_never_holds_a_secret(compose):
    text = (ROOT / "compose.yaml").read_text()
    assert "POSTGRES_PASSWORD:?" in text  # required, from .env: no default password
    secrets = {"SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "TWILIO_AUTH_TOKEN"}
    for name in PROCESSES:
        service = compose["services"][name]
        assert service["env_file"] == [{"path": ".env", "required": False}]
        assert not secrets & set(service["environment"])


def test_the_dockerfile_is_multi_stage_slim_non_root_with_static_files_and_a_health_check():
    text = dockerfile()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, flags=re.MULTILINE)
    assert len(stages) >= 2
    assert all("slim" in base for base, _ in stages)
    assert re.search(r"^COPY --from=build ", text, flags=re.MULTILINE)
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"manage\.py collectstatic --noinput", text)
    assert "ENV PATH=/opt/venv/bin" in text
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (.*?)$", text, flags=re.MULTILINE | re.DOTALL)
    assert healthcheck and "/healthz" in healthcheck.group(1)
    # The image's default command is the Procfile's web process.
    default = re.search(r"^CMD (\[.*\])$", text, flags=re.MULTILINE).group(1)
    assert yaml.safe_load(default) == shlex.split(procfile()["web"])


def test_the_image_leaves_out_local_state_and_secrets():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env*", "!.env.example", ".git", ".venv", "db.sqlite3*", "media"} <= ignored


def test_every_project_task_is_routed_to_a_queue_the_worker_consumes():
    celery_app.loader.import_default_modules()
    tasks = {
        name
        for name, task in celery_app.tasks.items()
        if name.split(".")[0] in PROJECT_APPS and ".tests" not in type(task).__module__
    }
    routes = settings.CELERY_TASK_ROUTES
    assert tasks, "no project task registered"
    assert tasks == set(routes), "a task without a route, or a route for no task"
    queues = {route["queue"] for route in routes.values()}
    assert queues == set(settings.WORKER_QUEUES)
    assert worker_queues(procfile()["worker"]) == set(settings.WORKER_QUEUES)
    makefile = (ROOT / "Makefile").read_text()
    make_worker = re.search(r"^worker:.*\n\t(.*)$", makefile, flags=re.MULTILINE).group(1)
    assert worker_queues(make_worker) == set(settings.WORKER_QUEUES)


def test_a_routed_task_is_published_to_its_queue():
    route = celery_app.amqp.router.route({}, "store_manager.tasks.recompute_order_periods")
    assert route["queue"].name == "analytics"
    route = celery_app.amqp.router.route({}, "realtime.tasks.push_order_created")
    assert route["queue"].name == "realtime"
    assert celery_app.amqp.router.route({}, "users.tasks.send_sms_task")["queue"].name == (
        "notifications"
    )
