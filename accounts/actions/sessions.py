"""Login sessions and their tokens: starting one, authenticating a request's
token or cookie session, refreshing (with reuse detection), revoking, and the
sockets closed with it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts import tokens
from accounts.models import LoginSession, SessionKind, User, UserStatus
from accounts.rawmodels import UserWithAvatar
from accounts.tokens import TokenPair
from chatsite.errors import (
    AccountDisabled,
    InvalidCredentials,
    NotAuthenticated,
    NotFound,
)
from chatsite.events import close_sockets_on_commit
from chatsite.rawmodels import Columns
from chatsite.wire import parse_uuid

logger = logging.getLogger(__name__)


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


def ensure_active(user: User) -> None:
    if user.status == UserStatus.DISABLED:
        raise AccountDisabled()
    if user.status != UserStatus.ACTIVE:
        raise InvalidCredentials()


def start_session(*, user: User, client: Client, kind: str = SessionKind.API) -> LoginResult:
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

    Checks signature, expiry and type, then the session (`_admit`): revoking
    a session or disabling an account stops its tokens at once. Raises
    NotAuthenticated or AccountDisabled."""
    claims = tokens.decode_access(raw)
    session = _session_with_user(claims.session_uuid)
    if session is not None and str(session.user.uuid) != claims.user_uuid:
        session = None
    return _admit(session)


def authenticate_session_id(session_uuid: object) -> tuple[User, LoginSession]:
    """The same for a web (cookie) session, which stores the LoginSession id."""
    if not isinstance(session_uuid, str):
        raise NotAuthenticated()
    return _admit(_session_with_user(session_uuid))


def _admit(session: LoginSession | None) -> tuple[User, LoginSession]:
    """The one check of a session a request or socket presents: it exists, it
    is live, and its account is active. A disabled account is told why (403
    `account_disabled`, close 4403), before liveness: disabling revokes every
    session, and its holder should learn the reason, not a bare 401."""
    if session is None:
        raise NotAuthenticated(gettext("This login session has ended."))
    if session.user.status == UserStatus.DISABLED:
        raise AccountDisabled()
    if not session.is_live:
        raise NotAuthenticated(gettext("This login session has ended."))
    if session.user.status != UserStatus.ACTIVE:
        raise NotAuthenticated(gettext("This account no longer exists."))
    touch_session(session)
    return session.user, session


def _session_with_user(session_uuid: str) -> LoginSession | None:
    """The session with its user and the user's avatar, in one hand-written
    query (this runs on every request and every WebSocket connect; see
    chatsite.rawmodels)."""

    try:
        key = uuidlib.UUID(str(session_uuid))
    except ValueError:
        return None
    s, u = Columns(LoginSession, "s"), UserWithAvatar("u")
    sql = f"SELECT {s.sql}, {u.sql} FROM {s.table} {u.join('s.user_id')} WHERE s.uuid = %s"
    param = LoginSession._meta.get_field("uuid").get_db_prep_value(key, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [param])
        row = cursor.fetchone()
    if row is None:
        return None
    session = s.load(row)
    session.user = u.load(row, s.width)
    return session


# --------------------------------------------------------------------------- bot keys
#
# A bot signs in with an API key: `Authorization: Bot <key>` on a request,
# the same header, `?token=` or the `bot` subprotocol on a socket. Each key is
# a login session of kind `bot` holding the key's SHA-256 (the key has 256
# random bits, so a fast hash is as safe as a slow one and costs nothing per
# request), so revoking a key is revoking a session: its sockets close at once.

BOT_KEY_PREFIX = "wscb_"
_KEY_NEVER_EXPIRES = datetime(9999, 12, 31, tzinfo=UTC)


def is_bot_key(raw: object) -> bool:
    return isinstance(raw, str) and raw.startswith(BOT_KEY_PREFIX)


def _key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_bot_key(*, bot: User, name: str) -> tuple[LoginSession, str]:
    """A new key for `bot`: (its session, the key). The key is returned once
    and only its hash is stored."""
    raw = BOT_KEY_PREFIX + secrets.token_urlsafe(32)
    session = LoginSession.objects.create(
        user=bot,
        kind=SessionKind.BOT,
        device=name,
        expires_at=_KEY_NEVER_EXPIRES,
        key_hash=_key_hash(raw),
        key_prefix=raw[: len(BOT_KEY_PREFIX) + 6],
    )
    return session, raw


def authenticate_bot_key(raw: object) -> tuple[User, LoginSession]:
    """The bot and key session an API key belongs to. As for a token
    (`_admit`: the key is live, the bot active), and the bot's owner must be
    active too: disabling a person stops their bots. Raises NotAuthenticated
    or AccountDisabled."""
    if not is_bot_key(raw) or len(raw) > 100:
        raise NotAuthenticated(gettext("Not a bot key."))
    session = (
        LoginSession.objects.select_related("user__avatar", "user__bot_owner")
        .filter(key_hash=_key_hash(raw), kind=SessionKind.BOT)
        .first()
    )
    if session is not None and session.user.is_bot:
        owner = session.user.bot_owner
        if owner is None or owner.status == UserStatus.DELETED:
            raise NotAuthenticated(gettext("This bot's owner no longer exists."))
        if owner.status == UserStatus.DISABLED:
            raise AccountDisabled(gettext("This bot's owner is disabled."))
    else:
        session = None
    return _admit(session)


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
        if session is None or str(session.user.uuid) != claims.user_uuid:
            raise NotAuthenticated(gettext("This login session has ended."))
        # Disabling an account ends its sessions: its refresh token says why
        # (403 account_disabled, as its password and access token do), not 401.
        if session.user.status == UserStatus.DISABLED:
            raise AccountDisabled()
        if not session.is_live:
            raise NotAuthenticated(gettext("This login session has ended."))
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
        raise NotAuthenticated(gettext("This refresh token was already used; the session has been ended."))
    return pair


# What else ends with a login session, registered by apps above (notifications:
# its push subscriptions): fn(session_ids=[LoginSession pk]), inside the
# transaction that ends them.
_session_end_hooks: list[Callable[..., object]] = []


def on_sessions_ended(fn: Callable[..., object]) -> None:
    """Called by an app's AppConfig.ready()."""
    if fn not in _session_end_hooks:
        _session_end_hooks.append(fn)


def _ended(session_ids: list[int]) -> None:
    if session_ids:
        for hook in _session_end_hooks:
            hook(session_ids=session_ids)


def _revoke(session: LoginSession, *, reason: str, close_code: int = CLOSE_REVOKED) -> None:
    if session.revoked_at is None:
        session.revoked_at = timezone.now()
        session.revoked_reason = reason[:32]
        session.save(update_fields=["revoked_at", "revoked_reason"])
        _ended([session.pk])
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
    ended_rows = list(live.values_list("pk", "uuid"))
    ended = [sid for _, sid in ended_rows]
    live.update(revoked_at=now, revoked_reason=reason[:32])
    _ended([pk for pk, _ in ended_rows])
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

    sid = parse_uuid(session_id) if isinstance(session_id, str) else None
    session = LoginSession.objects.filter(uuid=sid, user=user).first() if sid else None
    if session is None:
        raise NotFound(gettext("No such session."))
    do_revoke_session(session=session, reason="revoked_by_user")


def do_web_login(*, user: User, client: Client) -> LoginSession:
    """A login session for the server's own web pages (kept in the cookie session)."""
    ensure_active(user)
    with transaction.atomic():
        return start_session(user=user, client=client, kind=SessionKind.WEB).session
