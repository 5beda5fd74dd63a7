"""Sign-in by SMS code: request, verify, limits (SPEC §5 Auth; docs/AUTH.md).

These tests are transactional: codes are sent after the commit, as in production.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from users import sms
from users.api.auth_views import AuthIPThrottle, OTPRequestIPThrottle
from users.models import User, VerificationCode
from users.tasks import delete_expired_verification_codes

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST = "/api/v1/auth/otp/request/"
VERIFY = "/api/v1/auth/otp/verify/"
KG_PHONE = "+996700123456"
US_PHONE = "+12025550188"


def request_code(client, phone=KG_PHONE):
    return client.post(REQUEST, {"phone": phone})


def sent_code(phone=KG_PHONE) -> str:
    """The code of the last SMS sent to `phone` (read from the outbox, never the database)."""
    bodies = [message.body for message in sms.outbox if message.to == phone]
    assert bodies, f"no SMS was sent to {phone}"
    return re.search(r"\b(\d{6})\b", bodies[-1]).group(1)


def verify(client, code, phone=KG_PHONE):
    return client.post(VERIFY, {"phone": phone, "code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def pass_cooldown(phone=KG_PHONE):
    # The cooldown lives in the cache with a real-time TTL: "a minute later" = key gone.
    cache.delete(f"otp:cooldown:{phone}")


@pytest.fixture
def clock(monkeypatch):
    """Move time forward: `clock(seconds)`."""
    offset = timedelta()
    real_now = timezone.now

    def now():
        return real_now() + offset

    monkeypatch.setattr(timezone, "now", now)

    def advance(seconds: float):
        nonlocal offset
        offset += timedelta(seconds=seconds)

    return advance


class FailingBackend(sms.BaseSMSBackend):
    def send(self, to, body):
        raise sms.SMSError("provider down")


# --- request ------------------------------------------------------------------


def test_request_sends_a_six_digit_code_and_stores_only_its_hash(api_client):
    response = request_code(api_client, "+996 700 12-34-56")

    assert response.status_code == 202
    assert response.json()["expires_in"] == 300
    code = sent_code()
    assert re.fullmatch(r"\d{6}", code)
    row = VerificationCode.objects.get(phone=KG_PHONE)
    assert row.requester_ip == "127.0.0.1"
    stored = [str(value) for value in VerificationCode.objects.values_list().get()]
    assert not any(code in value for value in stored)
    assert len(row.code_hash) == 64
    assert timedelta(seconds=299) < row.expires_at - row.created_at <= timedelta(seconds=300)


def test_request_answers_the_same_for_known_and_unknown_phones(api_client, customer):
    known = request_code(api_client, customer.phone)
    unknown = request_code(api_client, "+996700999888")

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert {message.to for message in sms.outbox} == {customer.phone, "+996700999888"}


@pytest.mark.parametrize(
    "phone",
    [
        "+79123456789",
        "+447911123456",
        "+8613800138000",
        # +1 but not the US: Canada and Jamaica share the code (SMS-pumping targets).
        "+14165550123",
        "+18762345678",
    ],
)
def test_request_refuses_other_countries(api_client, phone):
    response = request_code(api_client, phone)

    assert response.status_code == 400
    assert response.json()["code"] == "unsupported_market"
    assert sms.outbox == []
    assert not VerificationCode.objects.exists()


def test_request_refuses_a_malformed_number(api_client):
    response = request_code(api_client, "12345")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert sms.outbox == []


def test_second_request_within_the_cooldown_is_throttled(api_client):
    assert request_code(api_client).status_code == 202
    response = request_code(api_client)

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert len(sms.outbox) == 1


def test_racing_requests_for_one_phone_send_one_code():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; real concurrency needs PostgreSQL (DATABASE_URL)")
    threads_count = 5
    barrier = threading.Barrier(threads_count)
    statuses: list[int] = []

    def worker():
        try:
            client = APIClient()
            barrier.wait()
            statuses.append(request_code(client).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [202] + [429] * (threads_count - 1)
    assert len(sms.outbox) == 1
    assert VerificationCode.objects.count() == 1


def test_at_most_three_codes_per_ten_minutes(api_client, clock):
    for _ in range(3):
        assert request_code(api_client).status_code == 202
        clock(61)
        pass_cooldown()

    response = request_code(api_client)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    # The first code was sent 183 s ago: the window frees up in 600 - 183 s.
    assert int(response["Retry-After"]) == 417
    assert len(sms.outbox) == 3

    clock(417)
    assert request_code(api_client).status_code == 202


def test_per_ip_throttle(api_client, monkeypatch):
    monkeypatch.setattr(OTPRequestIPThrottle, "THROTTLE_RATES", {"otp_ip": "2/hour"})
    assert request_code(api_client, "+996700000001").status_code == 202
    assert request_code(api_client, "+996700000002").status_code == 202

    response = request_code(api_client, "+996700000003")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert len(sms.outbox) == 2


def test_a_forged_forwarded_for_header_does_not_escape_the_ip_limit(api_client, monkeypatch):
    monkeypatch.setattr(OTPRequestIPThrottle, "THROTTLE_RATES", {"otp_ip": "2/hour"})
    for n in range(1, 3):
        forged = {"HTTP_X_FORWARDED_FOR": f"10.0.0.{n}"}
        assert request_code_from(api_client, f"+99670000000{n}", **forged).status_code == 202
    response = request_code_from(api_client, "+996700000003", HTTP_X_FORWARDED_FOR="10.0.0.3")
    assert response.status_code == 429
    assert len(sms.outbox) == 2
    assert set(VerificationCode.objects.values_list("requester_ip", flat=True)) == {"127.0.0.1"}


def request_code_from(client, phone, **headers):
    return client.post(REQUEST, {"phone": phone}, **headers)


def test_provider_failure_is_503_and_leaves_no_usable_code(api_client, settings):
    settings.SMS_BACKEND = "users.tests.test_auth_otp.FailingBackend"
    response = request_code(api_client)

    assert response.status_code == 503
    assert response.json()["code"] == "sms_unavailable"
    assert not VerificationCode.objects.exists()
    assert verify(api_client, "000000").json()["code"] == "otp_invalid"

    # Once the provider is back the customer may retry at once.
    settings.SMS_BACKEND = "users.sms.LocMemBackend"
    assert request_code(api_client).status_code == 202


def test_unreachable_broker_is_503(api_client, settings, monkeypatch):
    from users import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis")

    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(tasks.send_sms_task, "apply_async", broker_down)
    response = request_code(api_client)

    assert response.status_code == 503
    assert response.json()["code"] == "sms_unavailable"
    assert not VerificationCode.objects.exists()


def test_with_a_broker_the_sms_is_queued_after_commit(api_client, settings, monkeypatch):
    from users import tasks

    queued = []
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(
        tasks.send_sms_task, "apply_async", lambda args, **options: queued.append((args, options))
    )
    response = request_code(api_client)

    assert response.status_code == 202
    assert sms.outbox == []
    (((to, body), options),) = queued
    assert to == KG_PHONE
    # Celery's own log lines and monitoring show the arguments by this: no phone, no code.
    assert options["argsrepr"] == "('[phone]', '[body]')"
    code = re.search(r"\b(\d{6})\b", body).group(1)
    assert verify(api_client, code).status_code == 200


def test_the_sms_task_retries_provider_failures():
    from users.tasks import send_sms_task

    assert sms.SMSError in send_sms_task.autoretry_for
    assert send_sms_task.max_retries >= 1


# --- verify -----------------------------------------------------------------------


def test_first_sign_in_creates_a_kg_user(api_client):
    request_code(api_client)
    response = verify(api_client, sent_code())

    assert response.status_code == 200
    body = response.json()
    assert body["is_new_user"] is True
    assert body["access"] and body["refresh"]
    user = User.objects.get(phone=KG_PHONE)
    assert body["user"] == {
        "id": user.id,
        "phone": KG_PHONE,
        "market": "KG",
        "first_name": "",
        "last_name": "",
        "email": "",
        "language": "ru",
    }
    assert user.has_usable_password() is False
    assert list(user.notifications.values_list("title", flat=True)) == ["Welcome to MARQUE"]


def test_a_us_number_gives_a_us_account(api_client):
    request_code(api_client, US_PHONE)
    body = verify(api_client, sent_code(US_PHONE), US_PHONE).json()

    assert body["user"]["market"] == "US"
    assert body["user"]["language"] == "en"


def test_returning_customer_is_not_new(api_client, customer):
    request_code(api_client, customer.phone)
    body = verify(api_client, sent_code(customer.phone), customer.phone).json()

    assert body["is_new_user"] is False
    assert body["user"]["id"] == customer.id
    assert User.objects.count() == 1
    assert not customer.notifications.exists()  # welcomed once, on the first sign-in only


def test_the_access_token_lives_15_minutes_and_the_refresh_7_days(api_client):
    from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

    request_code(api_client)
    body = verify(api_client, sent_code()).json()

    access = AccessToken(body["access"])
    refresh = RefreshToken(body["refresh"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600


def test_wrong_code_is_refused_and_counted(api_client):
    request_code(api_client)
    response = verify(api_client, wrong(sent_code()))

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"
    assert VerificationCode.objects.get().attempts == 1
    assert not User.objects.exists()


def test_five_wrong_tries_kill_the_code(api_client):
    request_code(api_client)
    code = sent_code()
    answers = [verify(api_client, wrong(code)).json()["code"] for _ in range(5)]

    assert answers == ["otp_invalid"] * 4 + ["otp_locked"]
    response = verify(api_client, code)
    assert response.status_code == 400
    assert response.json()["code"] == "otp_locked"
    assert not User.objects.exists()


def test_expired_code_is_refused(api_client, clock):
    request_code(api_client)
    clock(301)
    response = verify(api_client, sent_code())

    assert response.status_code == 400
    assert response.json()["code"] == "otp_expired"


def test_code_works_until_it_expires(api_client, clock):
    request_code(api_client)
    clock(299)
    assert verify(api_client, sent_code()).status_code == 200


def test_code_is_single_use(api_client):
    request_code(api_client)
    code = sent_code()
    assert verify(api_client, code).status_code == 200

    response = verify(api_client, code)
    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"


def test_only_the_newest_code_works(api_client):
    request_code(api_client)
    first = sent_code()
    pass_cooldown()
    request_code(api_client)
    second = sent_code()

    if first != second:
        assert verify(api_client, first).json()["code"] == "otp_invalid"
    assert verify(api_client, second).status_code == 200


def test_an_older_code_stays_dead_after_the_newer_one_is_used(api_client):
    request_code(api_client)
    first = sent_code()
    pass_cooldown()
    request_code(api_client)
    second = sent_code()
    if first == second:  # one chance in a million: nothing to tell apart
        return
    assert verify(api_client, second).status_code == 200
    response = verify(api_client, first)
    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"


def test_verify_without_a_requested_code(api_client):
    response = verify(api_client, "123456")

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"


def test_verify_validates_the_code_shape(api_client):
    request_code(api_client)
    response = verify(api_client, "12ab")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "code" in response.json()["errors"]


def test_ten_failures_in_a_day_lock_the_phone(api_client, clock):
    for _ in range(2):
        request_code(api_client)
        code = sent_code()
        for _ in range(5):
            verify(api_client, wrong(code))
        clock(61)
        pass_cooldown()

    response = request_code(api_client)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 3000
    assert len(sms.outbox) == 2
    assert verify(api_client, code).status_code == 429


def test_verify_is_throttled_per_ip(api_client, monkeypatch):
    monkeypatch.setattr(AuthIPThrottle, "THROTTLE_RATES", {"auth": "2/min"})
    verify(api_client, "111111", "+996700000001")
    verify(api_client, "111111", "+996700000002")

    response = verify(api_client, "111111", "+996700000003")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_deactivated_user_cannot_sign_in(api_client, customer):
    customer.is_active = False
    customer.save()
    request_code(api_client, customer.phone)
    response = verify(api_client, sent_code(customer.phone), customer.phone)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "access" not in response.json()


def test_a_stale_access_token_does_not_block_sign_in(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.garbage")
    assert request_code(api_client).status_code == 202
    assert verify(api_client, sent_code()).status_code == 200


def test_daily_clean_up_deletes_old_codes_only(api_client, clock):
    request_code(api_client, "+996700000001")
    clock(25 * 3600)
    request_code(api_client, "+996700000002")

    assert delete_expired_verification_codes() == 1
    assert list(VerificationCode.objects.values_list("phone", flat=True)) == ["+996700000002"]
