"""Accounts: sign-up, login (password and SMS code), tokens and sessions, profile.

Every rule about accounts lives here; the REST views, the web pages, the
gateway and the admin call these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import sms, tokens
from accounts.models import LoginSession, SessionKind, User, UserStatus
from accounts.phones import normalize_phone
from accounts.selectors import LoginName, canonical_username, parse_login
from accounts.tokens import TokenPair
from chatsite import kv, metrics
from chatsite.errors import (
    AccountDisabled,
    Conflict,
    Invalid,
    InvalidCredentials,
    NotAuthenticated,
    RateLimited,
    Unavailable,
)
from chatsite.events import close_sockets_on_commit, send_event_on_commit

logger = logging.getLogger(__name__)

SMS_PURPOSES = ("login", "register", "reset")
PASSWORD_MAX = 128
NICKNAME_MAX = 64
SIGNATURE_MAX = 200
LAST_SEEN_RESOLUTION = timedelta(minutes=5)

CLOSE_REVOKED = 4401
CLOSE_DISABLED = 4403


@dataclass(frozen=True)
class LoginResult:
    user: User
    session: LoginSession
    tokens: TokenPair


@dataclass(frozen=True)
class Client:
    """Where a request comes from, for limits and the session list."""

    ip: str | None = None
    device: str = ""


# --------------------------------------------------------------------------- field rules


def _clean_text(value: object, *, field: str, max_len: int, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise Invalid.field(field, "Must be a string.")
    text = unicodedata.normalize("NFC", value).strip()
    if not text and not allow_empty:
        raise Invalid.field(field, "Must not be empty.")
    if len(text) > max_len:
        raise Invalid.field(field, f"At most {max_len} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise Invalid.field(field, "Must not contain control characters.")
    if any(ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" for ch in text):
        raise Invalid.field(field, "Must not contain text-direction override characters.")
    return text


def clean_username(value: object) -> str:
    """The username to store (see accounts.selectors.USERNAME_RE for the rule)."""
    name = canonical_username(value)
    if name is None:
        raise Invalid.field("username", "3 to 32 letters (a-z), digits or underscores.")
    return name


def clean_password(value: object, *, username: str | None, field: str = "password") -> str:
    if not isinstance(value, str):
        raise Invalid.field(field, "Must be a string.")
    if len(value) < 8:
        raise Invalid.field(field, "At least 8 characters.")
    if len(value) > PASSWORD_MAX:
        raise Invalid.field(field, f"At most {PASSWORD_MAX} characters.")
    if value.isdigit():
        raise Invalid.field(field, "Must not be all digits.")
    if username and value.lower() == username.lower():
        raise Invalid.field(field, "Must not be the username.")
    if "\x00" in value:
        raise Invalid.field(field, "Must not contain NUL characters.")
    return value


def clean_nickname(value: object) -> str:
    return _clean_text(value, field="nickname", max_len=NICKNAME_MAX, allow_empty=True)


def clean_signature(value: object) -> str:
    return _clean_text(value, field="signature", max_len=SIGNATURE_MAX, allow_empty=True)


def _ensure_active(user: User) -> None:
    if user.status == UserStatus.DISABLED:
        raise AccountDisabled()
    if user.status != UserStatus.ACTIVE:
        raise InvalidCredentials()


# --------------------------------------------------------------------------- limits


def _limit_counter(key: str, *, limit: int, window_s: int, message: str) -> None:
    """Count one more event in a fixed window; refuse when over `limit`."""
    count, ttl = kv.store().counter_incr(key, window_s=window_s)
    if count > limit:
        raise RateLimited(message, retry_after=ttl)


def _check_not_limited(key: str, *, limit: int, message: str) -> None:
    count, ttl = kv.store().counter_get(key)
    if count >= limit:
        raise RateLimited(message, retry_after=ttl or 1)


# --------------------------------------------------------------------------- sessions and tokens


def _start_session(*, user: User, client: Client, kind: str = SessionKind.API) -> LoginResult:
    now = timezone.now()
    session = LoginSession(
        user=user,
        kind=kind,
        device=client.device[:200],
        ip=client.ip,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.JWT_REFRESH_TTL_S),
    )
    pair = tokens.issue(session)
    session.refresh_jti = pair.refresh_jti
    session.save()
    return LoginResult(user=user, session=session, tokens=pair)


def authenticate_access_token(raw: object) -> tuple[User, LoginSession]:
    """The user and login session an access token belongs to.

    Checks signature, expiry and type, then that the session is live and the
    account active: revoking a session or disabling an account stops its
    tokens at once. Raises NotAuthenticated or AccountDisabled."""
    claims = tokens.decode_access(raw)
    session = _session_with_user(claims.session_uuid)
    if session is None or str(session.user.uuid) != claims.user_uuid:
        raise NotAuthenticated("This login session has ended.")
    # Before liveness: disabling revokes every session, and the holder of one
    # of its tokens is told why (403 account_disabled, close 4403), not 401.
    if session.user.status == UserStatus.DISABLED:
        raise AccountDisabled()
    if not session.is_live:
        raise NotAuthenticated("This login session has ended.")
    if session.user.status != UserStatus.ACTIVE:
        raise NotAuthenticated("This account no longer exists.")
    touch_session(session)
    return session.user, session


def authenticate_session_id(session_uuid: object) -> tuple[User, LoginSession]:
    """The same checks for a web (cookie) session, which stores the LoginSession id."""
    if not isinstance(session_uuid, str):
        raise NotAuthenticated()
    session = _session_with_user(session_uuid)
    if session is None:
        raise NotAuthenticated("This login session has ended.")
    if session.user.status == UserStatus.DISABLED:
        raise AccountDisabled()
    if not session.is_live:
        raise NotAuthenticated("This login session has ended.")
    if session.user.status != UserStatus.ACTIVE:
        raise NotAuthenticated()
    touch_session(session)
    return session.user, session


def _session_with_user(session_uuid: str) -> LoginSession | None:
    """The session with its user and the user's avatar, in one hand-written
    query (this runs on every request and every WebSocket connect; see
    chatsite.rawmodels)."""
    import uuid as uuidlib

    from django.db import connection

    from chatsite.rawmodels import Columns
    from files.models import File

    try:
        key = uuidlib.UUID(str(session_uuid))
    except ValueError:
        return None
    s, u, a = Columns(LoginSession, "s"), Columns(User, "u"), Columns(File, "a")
    sql = (
        f"SELECT {s.sql}, {u.sql}, {a.sql} FROM {s.table} JOIN {u.table} ON u.id = s.user_id "
        f"LEFT JOIN {a.table} ON a.id = u.avatar_id WHERE s.uuid = %s"
    )
    param = LoginSession._meta.get_field("uuid").get_db_prep_value(key, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [param])
        row = cursor.fetchone()
    if row is None:
        return None
    session = s.load(row)
    user = u.load(row, s.width)
    user.avatar = a.load(row, s.width + u.width)
    session.user = user
    return session


def touch_session(session: LoginSession) -> None:
    """Record activity, at most once per LAST_SEEN_RESOLUTION (no write per request)."""
    now = timezone.now()
    if now - session.last_seen_at > LAST_SEEN_RESOLUTION:
        LoginSession.objects.filter(pk=session.pk).update(last_seen_at=now)
        session.last_seen_at = now


def do_refresh(*, refresh_token: object) -> TokenPair:
    """Rotate: a new pair for the session; the presented refresh token stops working.

    A refresh token that was already rotated is treated as stolen: the whole
    session is revoked (its newer tokens too) and its sockets close with 4401."""
    claims = tokens.decode_refresh(refresh_token)
    with transaction.atomic():
        session = (
            LoginSession.objects.select_for_update().select_related("user").filter(uuid=claims.session_uuid).first()
        )
        if session is None or str(session.user.uuid) != claims.user_uuid or not session.is_live:
            raise NotAuthenticated("This login session has ended.")
        if not hmac.compare_digest(session.refresh_jti, claims.jti):
            logger.warning("refresh token reuse on session %s of user %s: revoking", session.uuid, session.user_id)
            # Committed with this block; the caller gets the error afterwards.
            _revoke(session, reason="refresh_reuse")
            revoked = True
        else:
            revoked = False
            if session.user.status == UserStatus.DISABLED:
                raise AccountDisabled()
            if session.user.status != UserStatus.ACTIVE:
                raise NotAuthenticated()
            pair = tokens.issue(session)
            session.refresh_jti = pair.refresh_jti
            session.last_seen_at = timezone.now()
            session.save(update_fields=["refresh_jti", "last_seen_at"])
    if revoked:
        raise NotAuthenticated("This refresh token was already used; the session has been ended.")
    return pair


def _revoke(session: LoginSession, *, reason: str, close_code: int = CLOSE_REVOKED) -> None:
    if session.revoked_at is None:
        session.revoked_at = timezone.now()
        session.revoked_reason = reason[:32]
        session.save(update_fields=["revoked_at", "revoked_reason"])
    close_sockets_on_commit(user_ids=[session.user_id], code=close_code, session_id=str(session.uuid))


@transaction.atomic
def do_revoke_session(*, session: LoginSession, reason: str) -> None:
    """End one login session: its tokens stop working and its sockets close with 4401."""
    locked = LoginSession.objects.select_for_update().get(pk=session.pk)
    _revoke(locked, reason=reason)


@transaction.atomic
def do_revoke_user_sessions(
    *, user: User, reason: str, keep: LoginSession | None = None, close_code: int = CLOSE_REVOKED
) -> int:
    """End every live session of `user` except `keep`. With no session kept the
    user's sockets all close with `close_code` (4401, or 4403 when disabled)."""
    now = timezone.now()
    live = LoginSession.objects.filter(user=user, revoked_at__isnull=True)
    if keep is not None:
        live = live.exclude(pk=keep.pk)
    ended = list(live.values_list("uuid", flat=True))
    live.update(revoked_at=now, revoked_reason=reason[:32])
    if keep is None:
        close_sockets_on_commit(user_ids=[user.pk], code=close_code)
    else:
        for sid in ended:
            close_sockets_on_commit(user_ids=[user.pk], code=close_code, session_id=str(sid))
    return len(ended)


def do_logout(*, refresh_token: object) -> None:
    """Revoke the session the refresh token belongs to (signature checked; an
    expired or rotated token of the same session still identifies it)."""
    claims = tokens.decode_refresh(refresh_token)
    session = LoginSession.objects.filter(uuid=claims.session_uuid).first()
    if session is None or str(session.user.uuid) != claims.user_uuid:
        raise NotAuthenticated()
    do_revoke_session(session=session, reason="logout")


def do_revoke_own_session(*, user: User, session_id: object) -> None:
    """`DELETE /me/sessions/{id}`: only the user's own sessions (else not found)."""
    from chatsite.errors import NotFound
    from chatsite.wire import parse_uuid

    sid = parse_uuid(session_id) if isinstance(session_id, str) else None
    session = LoginSession.objects.filter(uuid=sid, user=user).first() if sid else None
    if session is None:
        raise NotFound("No such session.")
    do_revoke_session(session=session, reason="revoked_by_user")


# --------------------------------------------------------------------------- SMS codes


def _code_digest(*, phone: str, purpose: str, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _code_key(*, phone: str, purpose: str) -> str:
    return f"sms:{purpose}:{phone}"


def do_send_sms_code(*, phone: object, purpose: object, client: Client) -> int:
    """Send a 6-digit code to `phone` for `purpose`; returns its lifetime (s).

    Limits: one code per phone per LIMIT_SMS_COOLDOWN_S, LIMIT_SMS_PER_PHONE per
    day, LIMIT_SMS_PER_IP per hour. The answer is the same whether or not the
    phone belongs to an account; a code is only sent where it can be used
    (login/reset: an active account; register: a free number). The code is
    stored hashed, is never returned and never logged."""
    if purpose not in SMS_PURPOSES:
        raise Invalid.field("purpose", "One of login, register, reset.")
    number = normalize_phone(phone)
    store = kv.store()
    _limit_counter(
        f"sms:ip:{client.ip}", limit=settings.LIMIT_SMS_PER_IP, window_s=3600, message="Too many codes requested."
    )
    wait = (
        store.cooldown(f"sms:cd:{number}", seconds=settings.LIMIT_SMS_COOLDOWN_S)
        if settings.LIMIT_SMS_COOLDOWN_S
        else 0
    )
    if wait:
        raise RateLimited("A code was sent to this number a moment ago.", retry_after=wait)
    _limit_counter(
        f"sms:day:{number}",
        limit=settings.LIMIT_SMS_PER_PHONE,
        window_s=86400,
        message="Too many codes for this number today.",
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
            store.delete(_code_key(phone=number, purpose=purpose))  # type: ignore[arg-type]
            logger.exception("sms backend failed for purpose %s", purpose)
            raise Unavailable("The SMS service is unavailable; try again later.") from exc
        logger.info("sms code sent for purpose %s", purpose)
        metrics.sms_sent.labels(purpose).inc()
    return settings.SMS_CODE_TTL_S


def _consume_code(*, phone: str, purpose: str, code: object, client: Client) -> None:
    """Use a code once. Five wrong tries burn it. Raises InvalidCredentials."""
    _limit_counter(
        f"smsv:ip:{client.ip}",
        limit=settings.LIMIT_SMS_VERIFY_PER_IP,
        window_s=3600,
        message="Too many attempts.",
    )
    if not isinstance(code, str) or not re.fullmatch(r"\d{6}", code):
        raise InvalidCredentials("Wrong or expired code.")
    outcome = kv.store().code_consume(
        _code_key(phone=phone, purpose=purpose),
        digest=_code_digest(phone=phone, purpose=purpose, code=code),
        max_tries=settings.SMS_CODE_MAX_TRIES,
    )
    if outcome != "ok":
        raise InvalidCredentials("Wrong or expired code.")


# --------------------------------------------------------------------------- sign-up and login


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
    name = clean_username(username)
    secret = clean_password(password, username=name)
    nick = clean_nickname(nickname) if nickname is not None else ""
    number = None
    if phone not in (None, ""):
        number = normalize_phone(phone)
        if sms_code in (None, ""):
            raise Invalid.field("sms_code", "Required when a phone number is given.")
    _limit_counter(
        f"register:ip:{client.ip}",
        limit=settings.LIMIT_REGISTER_PER_IP,
        window_s=3600,
        message="Too many sign-ups from this address.",
    )
    if User.objects.filter(username=name).exists():
        raise Conflict("This username is taken.")
    if number and User.objects.filter(phone=number).exists():
        raise Conflict("This phone number is already registered.")
    if number:
        _consume_code(phone=number, purpose="register", code=sms_code, client=client)
    try:
        with transaction.atomic():
            user = User(username=name, nickname=nick, phone=number)
            user.set_password(secret)
            user.save()
            result = _start_session(user=user, client=client, kind=session_kind)
    except IntegrityError:
        raise Conflict("This username or phone number is taken.") from None
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
        raise Invalid.field("login", "Enter your username or phone number.")
    if not isinstance(password, str) or not password or len(password) > PASSWORD_MAX:
        raise Invalid.field("password", "Enter your password.")
    name = parse_login(login)
    user = _find_login(name)
    account_key = f"loginfail:user:{user.pk}" if user is not None else f"loginfail:login:{name.key}"
    ip_key = f"loginfail:ip:{client.ip}"
    _check_not_limited(
        account_key, limit=settings.LIMIT_LOGIN_FAILURES_PER_ACCOUNT, message="Too many failed logins; wait a while."
    )
    _check_not_limited(
        ip_key, limit=settings.LIMIT_LOGIN_FAILURES_PER_IP, message="Too many failed logins; wait a while."
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
        raise InvalidCredentials("Wrong login or password.")
    _ensure_active(user)
    kv.store().delete(account_key)
    with transaction.atomic():
        result = _start_session(user=user, client=client, kind=session_kind)
    logger.info("user %s logged in (password)", user.pk)
    return result


def do_login_sms(*, phone: object, code: object, client: Client, session_kind: str = SessionKind.API) -> LoginResult:
    """Log in with an SMS code (purpose `login`), used once."""
    number = normalize_phone(phone)
    _consume_code(phone=number, purpose="login", code=code, client=client)
    user = User.objects.filter(phone=number).first()
    if user is None:
        raise InvalidCredentials("Wrong or expired code.")
    _ensure_active(user)
    with transaction.atomic():
        result = _start_session(user=user, client=client, kind=session_kind)
    logger.info("user %s logged in (sms)", user.pk)
    return result


def do_reset_password(*, phone: object, code: object, new_password: object, client: Client) -> None:
    """Set a new password with an SMS code (purpose `reset`); every session ends."""
    number = normalize_phone(phone)
    # Only the rules that say nothing about the account come before the code:
    # "not the username" checked earlier would tell anyone, without a code and
    # without a limit, which username a phone number belongs to.
    clean_password(new_password, username=None, field="new_password")
    _consume_code(phone=number, purpose="reset", code=code, client=client)
    user = User.objects.filter(phone=number).first()
    if user is None:
        raise InvalidCredentials("Wrong or expired code.")
    _ensure_active(user)
    clean_password(new_password, username=user.username, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        do_revoke_user_sessions(user=user, reason="password_reset")
    logger.info("user %s reset the password", user.pk)


def do_web_login(*, user: User, client: Client) -> LoginSession:
    """A login session for the server's own web pages (kept in the cookie session)."""
    _ensure_active(user)
    with transaction.atomic():
        return _start_session(user=user, client=client, kind=SessionKind.WEB).session


# --------------------------------------------------------------------------- profile


def do_change_password(*, user: User, session: LoginSession | None, old_password: object, new_password: object) -> None:
    """Change the password; every other session of the user ends (this one stays)."""
    if not isinstance(old_password, str) or not user.check_password(old_password):
        raise InvalidCredentials("The current password is wrong.")
    clean_password(new_password, username=user.username, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        do_revoke_user_sessions(user=user, reason="password_changed", keep=session)
    logger.info("user %s changed the password", user.pk)


_UNSET = object()


def do_update_profile(
    *, user: User, nickname: object = _UNSET, avatar: object = _UNSET, signature: object = _UNSET
) -> User:
    """Edit nickname, avatar (a File id the user uploaded, or null) and signature.
    The user's contacts get `user.updated`."""
    fields: list[str] = []
    if nickname is not _UNSET:
        user.nickname = clean_nickname(nickname)
        fields.append("nickname")
    if signature is not _UNSET:
        user.signature = clean_signature(signature)
        fields.append("signature")
    if avatar is not _UNSET:
        from files.selectors import resolve_avatar_file

        user.avatar = resolve_avatar_file(user=user, file_id=avatar)
        fields.append("avatar")
        if user.avatar is not None:
            from files.services import mark_attached

            mark_attached(file=user.avatar)
    if not fields:
        return user
    with transaction.atomic():
        user.save(update_fields=[*fields, "updated_at"])
        _announce_profile(user)
    return user


def _announce_profile(user: User) -> None:
    from accounts.serializers import user_to_wire
    from contacts.selectors import contact_user_ids

    send_event_on_commit(
        user_ids=[user.pk, *contact_user_ids(user=user)],
        frame={"type": "user.updated", "user": user_to_wire(user)},
    )
