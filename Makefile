# Two commands for a fresh clone: `make run` and `make test`. Both create or
# reuse .venv and install what they need from the requirements files.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint format migrations-check migrate seed asgi worker beat bench clean bench-checkout bench-manager

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(RUN_STAMP)

## Install, migrate, seed the demo store and serve the API on http://$(HOST):$(PORT) and
## WebSocket events on ws://$(HOST):$(PORT)/ws/v1/events/ (daphne's runserver: one ASGI process)
run: migrate seed
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

migrate: $(RUN_STAMP)
	$(BIN)/python manage.py migrate --noinput

seed: $(RUN_STAMP)
	$(BIN)/python manage.py seed_demo

## The production topology of the Procfile (web, asgi, worker, beat) with production settings
## against the local PostgreSQL and Redis (DATABASE_URL, REDIS_URL); Ctrl-C stops it (docs/OPERATIONS.md)
.PHONY: up smoke
up: $(RUN_STAMP)
	$(BIN)/python ops/up.py $(UP_ARGS)

## The production smoke test: `make up`'s topology on spare ports, one scripted journey over HTTP and WebSocket
smoke: $(DEV_STAMP)
	$(BIN)/python ops/smoke.py $(SMOKE_ARGS)

## The admin in a real browser: headless Debian chromium (Playwright) at 1400 px, the pages staff
## use most on a fresh small demo store (ops/admin_check.py); needs `apt-get install chromium`
.PHONY: admin-check
admin-check: $(DEV_STAMP)
	$(BIN)/python ops/admin_check.py

## The read replica, proved against a real one: a streaming standby of the local PostgreSQL on
## port 5433 (ops/replica.sh, pg_basebackup), the routing tests against it, the standby removed
.PHONY: replica-check
REPLICA_DB ?= marque_replica_t
replica-check: $(DEV_STAMP)
	bash ops/replica.sh up
	status=0; \
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/$(REPLICA_DB) \
	TEST_REPLICA_URL=postgres://postgres@127.0.0.1:5433/$(REPLICA_DB) \
	REDIS_URL=redis://127.0.0.1:6379/0 \
	$(BIN)/pytest -q main/tests/test_replica_live.py || status=$$?; \
	bash ops/replica.sh down; exit $$status

## Load test: Locust's weighted mix against make up's topology on spare ports (127.0.0.1 only,
## time-bounded); LOADTEST_ARGS="--find-capacity" steps the rate (docs/PERFORMANCE.md). Locust comes
## from requirements-load.txt, never installed by `make test`.
LOAD_STAMP := $(VENV)/.installed-load
$(LOAD_STAMP): requirements.txt requirements-load.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-load.txt
	@touch $@

.PHONY: loadtest faults
loadtest: $(LOAD_STAMP)
	$(BIN)/python ops/loadtest.py $(LOADTEST_ARGS)

## Fault drills on a private PostgreSQL and Redis it starts itself: Redis stopped, PostgreSQL
## restarted, the worker killed -9, the broker down at checkout; invariants checked by SQL (OPERATIONS.md)
faults: $(DEV_STAMP)
	$(BIN)/python ops/faults.py $(FAULTS_ARGS)

## Install the dev requirements and run the whole test suite (PYTEST_ARGS=... to narrow it)
test: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations-check: $(DEV_STAMP)
	DJANGO_SETTINGS_MODULE=main.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

## The ASGI server alone (HTTP and WebSocket), as production runs it beside gunicorn (ASGI_PORT)
ASGI_PORT ?= 8001
asgi: $(RUN_STAMP)
	$(BIN)/daphne -b $(HOST) -p $(ASGI_PORT) main.asgi:application

## Celery worker (every queue, as the Procfile's) and beat (need REDIS_URL)
worker: $(RUN_STAMP)
	$(BIN)/celery -A main worker --loglevel=INFO -Q realtime,notifications,payments,analytics,default

beat: $(RUN_STAMP)
	$(BIN)/celery -A main beat --loglevel=INFO

## Catalogue benchmark, side_by_side.sh's protocol for MARQUE alone (PostgreSQL + Redis on 127.0.0.1,
## wrk on loopback); never part of `make test`. BENCH_ARGS="--cache off", "--products 100000",
## "--explain", "--endpoints list,facets" (bench/README.md)
bench: $(RUN_STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/catalogue.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles

## Checkout benchmark: SQL per checkout and checkouts/s with concurrent clients (PostgreSQL)
bench-checkout: $(RUN_STAMP)
	$(BIN)/python bench/checkout.py $(BENCH_ARGS)

## Manager API benchmark: p50/p99 of dashboard, orders, revenue and export rate at 1M orders
bench-manager: $(RUN_STAMP)
	$(BIN)/python bench/manager_api.py $(BENCH_ARGS)

## Analytics benchmark: 1M orders on PostgreSQL (127.0.0.1), snapshot backfill and reads; never part of `make test`
.PHONY: bench-analytics
bench-analytics: $(RUN_STAMP)
	$(BIN)/python bench/analytics.py $(BENCH_ARGS)

## TypeScript client check: schema → openapi-typescript → tsc on a sample Next.js client (needs Node 20 + npm; docs/FRONTEND.md)
.PHONY: ts-check
ts-check: $(RUN_STAMP)
	bash clients/typescript/check.sh

## Schema fuzzing: Schemathesis on a live server (PostgreSQL 127.0.0.1, no Redis), customer and manager tokens; 0 server errors, 0 undocumented statuses
.PHONY: schema-fuzz
schema-fuzz: $(DEV_STAMP)
	$(BIN)/python .ci/schema_fuzz.py $(FUZZ_ARGS)

## Real-time benchmark: 1,000 sockets, commit → frame latency on 100 manager sockets (PostgreSQL + Redis)
.PHONY: bench-realtime
bench-realtime: $(DEV_STAMP)
	$(BIN)/python bench/realtime.py $(BENCH_ARGS)
