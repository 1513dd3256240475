"""Signing up and signing in: by password, by SMS code, and resetting a
forgotten password by SMS code."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from accounts.actions.fields import clean_nickname, clean_password, clean_username
from accounts.actions.limits import account_failures_key, check_not_limited, limit_counter
from accounts.actions.sessions import Client, LoginResult, do_revoke_user_sessions, ensure_active, start_session
from accounts.actions.sms import consume_code
from accounts.models import PASSWORD_MAX, SessionKind, User
from accounts.phones import normalize_phone
from accounts.selectors import LoginName, parse_login
from chatsite import kv
from chatsite.errors import (
    Conflict,
    Invalid,
    InvalidCredentials,
)

logger = logging.getLogger(__name__)


def check_registration(
    *, username: object, password: object, nickname: object = None, phone: object = None, sms_code: object = None
) -> tuple[str, str, str, str | None]:
    """Every field of a sign-up, each by its rule; all that are wrong are
    reported together (one `invalid` with a message per field), so a form can
    show them at once. Writes nothing. Returns (username, password, nickname,
    phone or None) as they would be stored."""
    problems: dict[str, list[str]] = {}

    def check(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Invalid as err:
            for field, messages in (err.fields or {}).items():
                problems.setdefault(field, []).extend(messages)
            return None

    name = check(clean_username, username)
    secret = check(clean_password, password, username=name)
    nick = check(clean_nickname, nickname) if nickname is not None else ""
    number = None
    if phone not in (None, ""):
        number = check(normalize_phone, phone)
        if sms_code in (None, ""):
            problems.setdefault("sms_code", []).append(gettext("Required when a phone number is given."))
    if problems:
        summary = "; ".join(f"{field}: {messages[0]}" for field, messages in problems.items())
        raise Invalid(summary, fields=problems)
    return name, secret, nick, number  # type: ignore[return-value]


def do_register(
    *,
    username: object,
    password: object,
    nickname: object = None,
    phone: object = None,
    sms_code: object = None,
    client: Client,
    session_kind: str = SessionKind.API,
) -> LoginResult:
    """Create an account (and its first login session).

    With a phone number, an SMS code for purpose `register` must be given.
    Username and phone are unique (409); checks run before the code is used,
    so a taken name does not burn it."""
    name, secret, nick, number = check_registration(
        username=username, password=password, nickname=nickname, phone=phone, sms_code=sms_code
    )
    limit_counter(
        f"register:ip:{client.ip}",
        limit=settings.LIMIT_REGISTER_PER_IP,
        window_s=3600,
        message=gettext("Too many sign-ups from this address."),
    )
    if User.objects.filter(username=name).exists():
        raise Conflict(gettext("This username is taken."))
    if number and User.objects.filter(phone=number).exists():
        raise Conflict(gettext("This phone number is already registered."))
    if number:
        consume_code(phone=number, purpose="register", code=sms_code, client=client)
    try:
        with transaction.atomic():
            user = User(username=name, nickname=nick, phone=number)
            user.set_password(secret)
            user.save()
            result = start_session(user=user, client=client, kind=session_kind)
    except IntegrityError:
        raise Conflict(gettext("This username or phone number is taken.")) from None
    logger.info("user %s registered", user.pk)
    return result


# A real hash to check against when the login names nobody, so that known and
# unknown logins take about the same time.


_DUMMY_HASH: str | None = None


def _dummy_check(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = make_password("dummy-password-for-timing")
    check_password(password, _DUMMY_HASH)


def _find_login(name: LoginName) -> User | None:
    if name.phone:
        user = User.objects.filter(phone=name.phone).first()
        if user is not None:
            return user
    if name.username:
        return User.objects.filter(username=name.username).first()
    return None


def do_login_password(
    *, login: object, password: object, client: Client, session_kind: str = SessionKind.API
) -> LoginResult:
    """Log in with username or phone and password (`session_kind` "web" for the
    server's own pages, whose cookie session holds the LoginSession).

    Same answer and about the same time whether the account exists or not.
    LIMIT_LOGIN_FAILURES_PER_ACCOUNT failures per account (however its
    username or phone number is spelt; per normalised login for names of no
    account) and LIMIT_LOGIN_FAILURES_PER_IP per address in
    LIMIT_LOGIN_WINDOW_S → 429."""
    if not isinstance(login, str) or not login.strip() or len(login) > 64:
        raise Invalid.field("login", gettext("Enter your username or phone number."))
    if not isinstance(password, str) or not password or len(password) > PASSWORD_MAX:
        raise Invalid.field("password", gettext("Enter your password."))
    name = parse_login(login)
    user = _find_login(name)
    account_key = account_failures_key(user) if user is not None else f"loginfail:login:{name.key}"
    ip_key = f"loginfail:ip:{client.ip}"
    check_not_limited(
        account_key,
        limit=settings.LIMIT_LOGIN_FAILURES_PER_ACCOUNT,
        message=gettext("Too many failed logins; wait a while."),
    )
    check_not_limited(
        ip_key, limit=settings.LIMIT_LOGIN_FAILURES_PER_IP, message=gettext("Too many failed logins; wait a while.")
    )
    if user is None:
        _dummy_check(password)
        ok = False
    else:
        ok = user.check_password(password)
    if not ok or user is None:
        store = kv.store()
        store.counter_incr(account_key, window_s=settings.LIMIT_LOGIN_WINDOW_S)
        store.counter_incr(ip_key, window_s=settings.LIMIT_LOGIN_WINDOW_S)
        raise InvalidCredentials(gettext("Wrong login or password."))
    ensure_active(user)
    kv.store().delete(account_key)
    with transaction.atomic():
        result = start_session(user=user, client=client, kind=session_kind)
    logger.info("user %s logged in (password)", user.pk)
    return result


def do_login_sms(*, phone: object, code: object, client: Client, session_kind: str = SessionKind.API) -> LoginResult:
    """Log in with an SMS code (purpose `login`), used once."""
    number = normalize_phone(phone)
    consume_code(phone=number, purpose="login", code=code, client=client)
    user = User.objects.filter(phone=number).first()
    if user is None:
        raise InvalidCredentials(gettext("Wrong or expired code."))
    ensure_active(user)
    with transaction.atomic():
        result = start_session(user=user, client=client, kind=session_kind)
    logger.info("user %s logged in (sms)", user.pk)
    return result


def do_reset_password(*, phone: object, code: object, new_password: object, client: Client) -> None:
    """Set a new password with an SMS code (purpose `reset`); every session ends."""
    number = normalize_phone(phone)
    # Only the rules that say nothing about the account come before the code:
    # "not the username" checked earlier would tell anyone, without a code and
    # without a limit, which username a phone number belongs to.
    clean_password(new_password, username=None, field="new_password")
    # The code is checked, then the rules that name the account, then used:
    # a password refused for being the username leaves the code for the next try.
    consume_code(phone=number, purpose="reset", code=code, client=client, keep=True)
    user = User.objects.filter(phone=number).first()
    if user is None:
        raise InvalidCredentials(gettext("Wrong or expired code."))
    ensure_active(user)
    clean_password(new_password, username=user.username, field="new_password")
    consume_code(phone=number, purpose="reset", code=code, client=client)
    # A new password ends the lockout that wrong ones started: those locked
    # out are the people who reset.
    kv.store().delete(account_failures_key(user))
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        do_revoke_user_sessions(user=user, reason="password_reset")
    logger.info("user %s reset the password", user.pk)
