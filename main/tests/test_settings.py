"""Production settings, checked in a fresh interpreter as a server would load them."""

import os
import subprocess
import sys

import pytest

from main.env import BASE_DIR

pytestmark = pytest.mark.slow

PRODUCTION_ENV = {
    "SECRET_KEY": "prod-" + "k3y-!x" * 10,
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/marque",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "api.marque.example",
    "SMS_BACKEND": "users.sms.TwilioBackend",
    "STRIPE_SECRET_KEY": "sk_test_placeholder",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_placeholder",
    "STRIPE_WEBHOOK_SECRET": "whsec_placeholder",
}
STRIPE_KEYS = ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")


def _run(args, env_overrides, unset=()):
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith("PYTEST")}
    env.update(env_overrides, DJANGO_SETTINGS_MODULE="main.settings.production")
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SMS_BACKEND"])
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _run(["manage.py", "check"], env, unset=(missing,))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


@pytest.mark.parametrize("missing", STRIPE_KEYS)
def test_production_refuses_card_payments_without_the_stripe_keys(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _run(["manage.py", "check"], env, unset=(missing,))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_production_refuses_a_stripe_api_base_without_tls():
    env = PRODUCTION_ENV | {"STRIPE_API_BASE": "http://127.0.0.1:12111"}
    result = _run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "STRIPE_API_BASE must be an https://" in result.stderr


def test_production_without_card_needs_no_stripe_keys():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in STRIPE_KEYS}
    env["PAYMENT_METHODS_US"] = "cash_on_delivery"
    result = _run(["manage.py", "check"], env, unset=STRIPE_KEYS)
    assert result.returncode == 0, result.stderr


def test_production_refuses_the_console_sms_backend():
    result = _run(
        ["manage.py", "check"], PRODUCTION_ENV | {"SMS_BACKEND": "users.sms.ConsoleBackend"}
    )
    assert result.returncode != 0
    assert "development and tests only" in result.stderr


@pytest.mark.parametrize("backend", ["users.sms.ConsoleBackend", "users.sms.FileBackend"])
def test_local_sms_backends_need_an_explicit_local_run_on_loopback_only(backend, tmp_path):
    local = {"SMS_BACKEND": backend, "SMS_FILE_PATH": str(tmp_path / "sms.jsonl")}
    refused = _run(["manage.py", "check"], PRODUCTION_ENV | local)
    assert refused.returncode != 0
    assert "LOCAL_RUN=true" in refused.stderr

    on_a_server = _run(["manage.py", "check"], PRODUCTION_ENV | local | {"LOCAL_RUN": "true"})
    assert on_a_server.returncode != 0
    assert "ALLOWED_HOSTS must name nothing but" in on_a_server.stderr

    listening = {"LOCAL_RUN": "true", "ALLOWED_HOSTS": "localhost,127.0.0.1", "BIND_HOST": ""}
    on_every_interface = _run(["manage.py", "check"], PRODUCTION_ENV | local | listening)
    assert on_every_interface.returncode != 0
    assert "BIND_HOST=127.0.0.1" in on_every_interface.stderr

    here = {**listening, "BIND_HOST": "127.0.0.1"}
    accepted = _run(["manage.py", "check"], PRODUCTION_ENV | local | here)
    assert accepted.returncode == 0, accepted.stderr


def test_the_in_memory_sms_backend_is_refused_even_for_a_local_run():
    local = {"SMS_BACKEND": "users.sms.LocMemBackend", "LOCAL_RUN": "true"}
    here = {"ALLOWED_HOSTS": "localhost", "BIND_HOST": "127.0.0.1"}
    result = _run(["manage.py", "check"], PRODUCTION_ENV | local | here)
    assert result.returncode != 0
    assert "development and tests only" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
