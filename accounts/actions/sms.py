"""SMS codes: sending one (with its limits) and using it up."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets

from django.conf import settings
from django.utils.translation import gettext

from accounts import sms
from accounts.actions.limits import limit_counter
from accounts.actions.sessions import Client
from accounts.models import User, UserStatus
from accounts.phones import normalize_phone
from chatsite import kv, metrics
from chatsite.errors import (
    Invalid,
    InvalidCredentials,
    RateLimited,
    Unavailable,
)

logger = logging.getLogger(__name__)


SMS_PURPOSES = ("login", "register", "reset")


def _code_digest(*, phone: str, purpose: str, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _code_key(*, phone: str, purpose: str) -> str:
    return f"sms:{purpose}:{phone}"


def _cooldown_key(*, phone: str, purpose: str) -> str:
    # Per purpose: asking for a sign-in code for a number (sent or not) does not
    # hold up the code to register it, and says nothing about the number.
    return f"sms:cd:{purpose}:{phone}"


def sms_cooldown_left(*, phone: object, purpose: str) -> int:
    """Whole seconds before another code for `purpose` may be asked for this
    number (0 when it may now, or when `phone` is not a number)."""
    try:
        number = normalize_phone(phone)
    except Invalid:
        return 0
    return math.ceil(kv.store().cooldown_left(_cooldown_key(phone=number, purpose=purpose)))


def do_send_sms_code(*, phone: object, purpose: object, client: Client) -> int:
    """Send a 6-digit code to `phone` for `purpose`; returns its lifetime (s).

    Limits: one code per phone and purpose per LIMIT_SMS_COOLDOWN_S, LIMIT_SMS_PER_PHONE per
    day, LIMIT_SMS_PER_IP per hour. The answer is the same whether or not the
    phone belongs to an account; a code is only sent where it can be used
    (login/reset: an active account; register: a free number). The code is
    stored hashed, is never returned and never logged."""
    if purpose not in SMS_PURPOSES:
        raise Invalid.field("purpose", gettext("One of login, register, reset."))
    number = normalize_phone(phone)
    store = kv.store()
    limit_counter(
        f"sms:ip:{client.ip}",
        limit=settings.LIMIT_SMS_PER_IP,
        window_s=3600,
        message=gettext("Too many codes requested."),
    )
    wait = (
        store.cooldown(_cooldown_key(phone=number, purpose=purpose), seconds=settings.LIMIT_SMS_COOLDOWN_S)  # type: ignore[arg-type]
        if settings.LIMIT_SMS_COOLDOWN_S
        else 0
    )
    if wait:
        raise RateLimited(gettext("A code was sent to this number a moment ago."), retry_after=wait)
    day_key = f"sms:day:{number}"
    limit_counter(
        day_key,
        limit=settings.LIMIT_SMS_PER_PHONE,
        window_s=86400,
        message=gettext("Too many codes for this number today."),
    )
    holder = User.objects.filter(phone=number).only("status").first()
    usable = (holder is None) if purpose == "register" else (holder is not None and holder.status == UserStatus.ACTIVE)
    if usable:
        code = f"{secrets.randbelow(1_000_000):06d}"
        store.code_put(
            _code_key(phone=number, purpose=purpose),  # type: ignore[arg-type]
            digest=_code_digest(phone=number, purpose=purpose, code=code),  # type: ignore[arg-type]
            ttl_s=settings.SMS_CODE_TTL_S,
        )
        text = f"Your WebsocketChat code is {code}. It expires in {settings.SMS_CODE_TTL_S // 60} minutes."
        try:
            sms.backend().send(phone=number, text=text, purpose=purpose)  # type: ignore[arg-type]
        except Exception as exc:
            # Nothing was sent: no code, and no cooldown saying one was (the
            # next try, once the provider is back, must not be told to wait).
            store.delete(_code_key(phone=number, purpose=purpose), _cooldown_key(phone=number, purpose=purpose))  # type: ignore[arg-type]
            # Nor does it spend one of the number's codes for the day (the
            # caller's hourly count stays: it keeps a failing provider from
            # being hammered).
            store.counter_undo(day_key)
            logger.exception("sms backend failed for purpose %s", purpose)
            raise Unavailable(gettext("The SMS service is unavailable; try again later.")) from exc
        logger.info("sms code sent for purpose %s", purpose)
        metrics.sms_sent.labels(purpose).inc()
    return settings.SMS_CODE_TTL_S


def consume_code(*, phone: str, purpose: str, code: object, client: Client, keep: bool = False) -> None:
    """Use a code once. Five wrong tries burn it. Raises InvalidCredentials.
    With `keep`, a right code is only checked, left for the consuming call
    (a wrong one still counts as a try)."""
    limit_counter(
        f"smsv:ip:{client.ip}",
        limit=settings.LIMIT_SMS_VERIFY_PER_IP,
        window_s=3600,
        message=gettext("Too many attempts."),
    )
    if not isinstance(code, str) or not re.fullmatch(r"\d{6}", code):
        raise InvalidCredentials(gettext("Wrong or expired code."))
    outcome = kv.store().code_consume(
        _code_key(phone=phone, purpose=purpose),
        digest=_code_digest(phone=phone, purpose=purpose, code=code),
        max_tries=settings.SMS_CODE_MAX_TRIES,
        keep=keep,
    )
    if outcome != "ok":
        raise InvalidCredentials(gettext("Wrong or expired code."))
