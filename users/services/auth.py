"""Sign-in by SMS code, JWT rotation and logout, phone change (SPEC §5 Auth; docs/AUTH.md).

One-time codes follow OWASP ASVS V2.7 / NIST 800-63B: six digits from `secrets`,
valid OTP_TTL_SECONDS, single use, stored only as HMAC-SHA256 keyed with the
SECRET_KEY and compared in constant time; per-phone cooldown, window and lock.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable
from rest_framework.exceptions import Throttled
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from main import metrics
from main.exceptions import ApplicationError, InvalidInput
from main.markets import MarketMismatch, parse_phone
from main.throttling import CACHE_ERRORS, CacheUnavailable
from users.models import User, VerificationCode
from users.services.accounts import notify_user
from users.sms import send_sms, send_sms_task

logger = logging.getLogger("marque.auth")

LOGIN = VerificationCode.Purpose.LOGIN
PHONE_CHANGE = VerificationCode.Purpose.PHONE_CHANGE
FAILURE_PERIOD = timedelta(hours=24)


# --- Errors --------------------------------------------------------------------


class OTPInvalid(ApplicationError):
    status_code = 400
    code = "otp_invalid"
    default_detail = "The code is not correct. Check the SMS and try again."


class OTPExpired(ApplicationError):
    status_code = 400
    code = "otp_expired"
    default_detail = "The code has expired. Request a new one."


class OTPLocked(ApplicationError):
    status_code = 400
    code = "otp_locked"
    default_detail = "Too many wrong tries: this code no longer works. Request a new one."


class SMSUnavailable(ApplicationError):
    status_code = 503
    code = "sms_unavailable"
    default_detail = "We could not send the SMS right now. Please try again in a minute."
    retry_after = 60


class AccountInactive(ApplicationError):
    status_code = 403
    code = "permission_denied"
    default_detail = "This account is deactivated."


class PhoneMarketMismatch(MarketMismatch):
    default_detail = "The new number must belong to your account's market."


class PhoneUnavailable(ApplicationError):
    status_code = 400
    code = "phone_unavailable"
    default_detail = "This number cannot be used for your account."


def _throttled(seconds: float) -> Throttled:
    """429 `throttled` with a Retry-After of at least one second."""
    return Throttled(wait=max(1, math.ceil(seconds)))


# --- Codes -----------------------------------------------------------------------


def otp_generate() -> str:
    """Six digits from the OS CSPRNG."""
    return f"{secrets.randbelow(10**6):06d}"


def otp_hash(*, phone: str, code: str) -> str:
    """HMAC-SHA256 of phone and code keyed with SECRET_KEY: a leaked table reveals no code."""
    message = f"{phone}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _cooldown_key(phone: str) -> str:
    return f"otp:cooldown:{phone}"


def _lock_key(phone: str) -> str:
    return f"otp:lock:{phone}"


def _phone_change_key(user_id: int) -> str:
    return f"otp:phone-change:{user_id}"


def _failures(phone: str) -> int:
    """Wrong codes entered for `phone` in the last 24 h (the database keeps them)."""
    since = timezone.now() - FAILURE_PERIOD
    return (
        VerificationCode.objects.filter(phone=phone, created_at__gt=since).aggregate(
            total=Sum("attempts")
        )["total"]
        or 0
    )


def _seconds_until_under_the_limit(phone: str) -> float:
    """While Redis is down: when enough failures leave the 24 h window (the honest Retry-After)."""
    now = timezone.now()
    codes = VerificationCode.objects.filter(
        phone=phone, created_at__gt=now - FAILURE_PERIOD, attempts__gt=0
    ).order_by("created_at")
    remaining = sum(code.attempts for code in codes)
    for code in codes:  # the oldest failures leave the window first
        remaining -= code.attempts
        if remaining < settings.OTP_PHONE_FAILURE_LIMIT:
            return (code.created_at + FAILURE_PERIOD - now).total_seconds()
    return FAILURE_PERIOD.total_seconds()


def _check_phone_lock(phone: str) -> None:
    try:
        until = cache.get(_lock_key(phone))
    except CACHE_ERRORS:
        # Redis is down: the lock is derived again from the failures in the database.
        if _failures(phone) >= settings.OTP_PHONE_FAILURE_LIMIT:
            raise _throttled(_seconds_until_under_the_limit(phone)) from None
        return
    now = timezone.now().timestamp()
    if until and until > now:
        raise _throttled(until - now)


def _login_sms(code: str) -> str:
    minutes = settings.OTP_TTL_SECONDS // 60
    return (
        f"MARQUE: your sign-in code is {code}. It is valid for {minutes} minutes. Never share it."
    )


def _phone_change_sms(code: str) -> str:
    minutes = settings.OTP_TTL_SECONDS // 60
    return (
        f"MARQUE: your code to move your account to this number is {code}. "
        f"It is valid for {minutes} minutes. Never share it."
    )


def _dispatch_sms(*, code_id: int, phone: str, body: str) -> None:
    """Runs after commit: queue the SMS, or send it now when no broker is configured.

    If it cannot go out, the code is deleted (nothing usable remains), the resend
    cooldown is released, and the client gets 503 `sms_unavailable`.
    """
    try:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            send_sms(phone, body)
        else:
            # argsrepr: Celery's own log lines and monitoring never show the phone or code.
            send_sms_task.apply_async((phone, body), argsrepr="('[phone]', '[body]')")
    except BrokerUnavailable as exc:
        logger.error("Broker unreachable, SMS to %s not queued: %s", phone, exc)
        failure: Exception = exc
    except Exception as exc:  # any provider failure is a 503, never a 500
        logger.exception("SMS to %s failed", phone)
        failure = exc
    else:
        return
    VerificationCode.objects.filter(pk=code_id).delete()
    try:
        cache.delete(_cooldown_key(phone))
    except CACHE_ERRORS:
        logger.warning("Cooldown of %s not released: cache unavailable", phone)
    raise SMSUnavailable() from failure


@metrics.counts_otp_requests
def otp_request(
    *,
    phone: str,
    requester_ip: str | None = None,
    purpose: str = LOGIN,
    body_template=_login_sms,
    market: str | None = None,
) -> str:
    """Issue a code for `phone` and send it after commit. Returns the E.164 number.

    `market`: the market the request is in, whose national phone format parses.

    A new code supersedes every earlier unused code of the same phone and
    purpose: only the newest one can ever be used.

    Raises `InvalidPhone` / `UnsupportedMarket`, `PhoneNotMobile` (landline,
    premium rate, toll free…: checked before anything is stored or sent),
    `Throttled` (phone locked, window full, cooldown running), and
    `SMSUnavailable` when sending fails eagerly or the broker cannot be reached.
    Never says whether an account exists.
    """
    e164 = parse_phone(phone, for_sms=True, market=market).e164
    _check_phone_lock(e164)

    now = timezone.now()
    window = timedelta(seconds=settings.OTP_WINDOW_SECONDS)
    recent = list(
        VerificationCode.objects.filter(phone=e164, created_at__gt=now - window)
        .order_by("created_at")
        .values_list("created_at", flat=True)[: settings.OTP_MAX_PER_WINDOW]
    )
    if len(recent) >= settings.OTP_MAX_PER_WINDOW:
        raise _throttled((recent[0] + window - now).total_seconds())

    # Atomic in Redis and in local memory: of two racing requests only one gets the slot.
    # Without the cache the cooldown cannot be enforced: no SMS then (503, fail closed).
    cooldown = settings.OTP_RESEND_COOLDOWN_SECONDS
    try:
        if not cache.add(_cooldown_key(e164), now.timestamp() + cooldown, timeout=cooldown):
            until = cache.get(_cooldown_key(e164)) or now.timestamp() + cooldown
            raise _throttled(until - now.timestamp())
    except CACHE_ERRORS as exc:
        raise CacheUnavailable() from exc

    code = otp_generate()
    with transaction.atomic():
        VerificationCode.objects.filter(
            phone=e164, purpose=purpose, consumed_at__isnull=True
        ).update(consumed_at=now)
        row = VerificationCode.objects.create(
            phone=e164,
            code_hash=otp_hash(phone=e164, code=code),
            purpose=purpose,
            expires_at=now + timedelta(seconds=settings.OTP_TTL_SECONDS),
            requester_ip=requester_ip,
        )
        transaction.on_commit(
            partial(_dispatch_sms, code_id=row.pk, phone=e164, body=body_template(code))
        )
    return e164


def _record_failure(phone: str) -> None:
    """After OTP_PHONE_FAILURE_LIMIT wrong codes in 24 h the phone is locked for a while."""
    failures = _failures(phone)
    if failures >= settings.OTP_PHONE_FAILURE_LIMIT:
        lock = settings.OTP_PHONE_LOCK_SECONDS
        try:
            cache.set(_lock_key(phone), timezone.now().timestamp() + lock, timeout=lock)
        except CACHE_ERRORS:  # _check_phone_lock reads the failures from the database then
            logger.warning("Phone %s lock not stored: cache unavailable", phone)
        logger.warning("Phone %s locked after %s failed codes", phone, failures)


def otp_consume(*, phone: str, code: str, purpose: str = LOGIN) -> None:
    """Check `code` against the latest unused code of `phone` and use it up.

    Only the newest code counts. A wrong code adds an attempt (kept even though
    an error is raised); the OTP_MAX_ATTEMPTS-th wrong try kills the code.
    """
    _check_phone_lock(phone)
    now = timezone.now()
    error: ApplicationError | None = None
    failed = False
    with transaction.atomic():
        row = (
            VerificationCode.objects.select_for_update()
            .filter(phone=phone, purpose=purpose, consumed_at__isnull=True)
            .order_by("-created_at", "-pk")
            .first()
        )
        if row is None:
            error = OTPInvalid()
        elif row.attempts >= settings.OTP_MAX_ATTEMPTS:
            error = OTPLocked()
        elif row.expires_at <= now:
            error = OTPExpired()
        elif not hmac.compare_digest(row.code_hash, otp_hash(phone=phone, code=code)):
            row.attempts += 1
            row.save(update_fields=["attempts"])
            failed = True
            error = OTPLocked() if row.attempts >= settings.OTP_MAX_ATTEMPTS else OTPInvalid()
        else:
            row.consumed_at = now
            row.save(update_fields=["consumed_at"])
    if failed:
        _record_failure(phone)
    if error is not None:
        raise error


def otp_verify(*, phone: str, code: str, market: str | None = None) -> tuple[User, bool]:
    """Sign in with a code: returns (user, is_new_user). The first sign-in creates the user.

    `market`: the market the request is in, whose national phone format parses.
    """
    e164 = parse_phone(phone, market=market).e164
    otp_consume(phone=e164, code=code)
    user = User.objects.filter(phone=e164).first()
    created = False
    if user is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(e164)
                notify_user(
                    user=user,
                    title="Welcome to MARQUE",
                    body="Your account is ready. Add a delivery address to check out faster.",
                )
            created = True
        except IntegrityError:  # created by a parallel sign-in a moment ago
            user = User.objects.get(phone=e164)
    if not user.is_active:
        raise AccountInactive()
    return user, created


# --- Tokens --------------------------------------------------------------------------


def tokens_for_user(*, user: User) -> dict[str, str]:
    """A fresh refresh/access pair (the refresh is recorded as outstanding)."""
    refresh = RefreshToken.for_user(user)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _decode_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc


def token_refresh(*, refresh: str) -> dict[str, Any]:
    """Rotate `refresh`: blacklist it and return a new pair.

    The outstanding-token row is locked before the blacklist is checked, so two
    concurrent refreshes of one token give exactly one new pair; the other gets
    401 `token_invalid`, as does a token of a deactivated or deleted user.
    """
    token = _decode_refresh(refresh)
    jti = token.payload.get(jwt_settings.JTI_CLAIM)
    with transaction.atomic():
        # order_by(): the model's default ordering joins the (nullable) user, and
        # PostgreSQL cannot lock the nullable side of an outer join.
        outstanding = (
            OutstandingToken.objects.select_for_update(of=("self",))
            .filter(jti=jti)
            .order_by()
            .first()
        )
        if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
            raise InvalidToken("Token is blacklisted")
        user_id = token.payload.get(jwt_settings.USER_ID_CLAIM)
        user = User.objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}).first()
        if user is None or not user.is_active:
            raise InvalidToken("No active account found for the given token.")
        BlacklistedToken.objects.create(token=outstanding)
        new = RefreshToken.for_user(user)
    return {"access": str(new.access_token), "refresh": str(new)}


def token_revoke(*, refresh: str) -> None:
    """Logout: blacklist `refresh`. An invalid, expired or already revoked token → 401."""
    token = _decode_refresh(refresh)
    token.blacklist()


# --- Phone change -----------------------------------------------------------------------


def phone_change_request(*, user: User, phone: str, requester_ip: str | None = None) -> str:
    """Send a code to the new number.

    It must be a mobile number (`PhoneNotMobile`, checked before the market) of
    the account's market (orders belong to a market).
    """
    parsed = parse_phone(phone, for_sms=True, market=user.market)
    if parsed.market != user.market:
        raise PhoneMarketMismatch()
    if parsed.e164 == user.phone:
        raise InvalidInput(
            "This is already your number.", errors={"phone": ["This is already your number."]}
        )
    otp_request(
        phone=parsed.e164,
        requester_ip=requester_ip,
        purpose=PHONE_CHANGE,
        body_template=_phone_change_sms,
        market=user.market,
    )
    # The code proves the number; this binds the change to the account that asked for it.
    try:
        cache.set(_phone_change_key(user.pk), parsed.e164, timeout=settings.OTP_TTL_SECONDS)
    except CACHE_ERRORS as exc:
        raise CacheUnavailable() from exc
    return parsed.e164


def phone_change_confirm(*, user: User, phone: str, code: str) -> User:
    """Move the account to the new number once its code is proven.

    A number that belongs to another account is refused with the same answer
    whoever owns it (`phone_unavailable`).
    """
    parsed = parse_phone(phone, market=user.market)
    if parsed.market != user.market:
        raise PhoneMarketMismatch()
    try:
        pending = cache.get(_phone_change_key(user.pk))
    except CACHE_ERRORS as exc:  # which account asked for this number lives in the cache
        raise CacheUnavailable() from exc
    if pending != parsed.e164:
        raise OTPInvalid("Request a code for this number first.")
    otp_consume(phone=parsed.e164, code=code, purpose=PHONE_CHANGE)
    try:
        cache.delete(_phone_change_key(user.pk))
    except CACHE_ERRORS:  # it expires with the code; the code itself is used up
        logger.warning("Pending phone change of user %s not cleared: cache unavailable", user.pk)
    if User.objects.filter(phone=parsed.e164).exclude(pk=user.pk).exists():
        raise PhoneUnavailable()
    try:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(phone=parsed.e164)
    except IntegrityError as exc:  # taken a moment ago
        raise PhoneUnavailable() from exc
    user.refresh_from_db(fields=["phone"])
    return user


# --- Housekeeping ----------------------------------------------------------------------------


def verification_codes_delete_expired() -> int:
    """Delete codes older than the 24 h failure window (all long expired). Idempotent."""
    cutoff = timezone.now() - max(FAILURE_PERIOD, timedelta(seconds=settings.OTP_TTL_SECONDS))
    deleted, _ = VerificationCode.objects.filter(created_at__lt=cutoff).delete()
    return deleted
