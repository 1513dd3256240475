"""JWT access and refresh tokens bound to a LoginSession.

Access tokens are short-lived and carry the session id (`sid`); every use
checks that the session is live, so revoking a session stops its access tokens
at once. Refresh tokens rotate: a session remembers the one refresh token id
(`jti`) that may still be used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import gettext
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import LoginSession
from chatsite.errors import NotAuthenticated


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    refresh_jti: str
    expires_in: int

    def as_wire(self) -> dict:
        return {"access": self.access, "refresh": self.refresh, "expires_in": self.expires_in}


@dataclass(frozen=True)
class Claims:
    user_uuid: str
    session_uuid: str
    jti: str


def issue(session: LoginSession) -> TokenPair:
    """A new access + refresh pair for `session` (the caller stores `refresh_jti`)."""
    refresh = RefreshToken()
    refresh["uid"] = str(session.user.uuid)
    refresh["sid"] = str(session.uuid)
    access = refresh.access_token
    return TokenPair(
        access=str(access),
        refresh=str(refresh),
        refresh_jti=str(refresh["jti"]),
        expires_in=settings.JWT_ACCESS_TTL_S,
    )


def _claims(token: AccessToken | RefreshToken) -> Claims:
    uid, sid, jti = token.get("uid"), token.get("sid"), token.get("jti")
    if not (isinstance(uid, str) and isinstance(sid, str) and isinstance(jti, str)):
        raise NotAuthenticated(gettext("The token is malformed."))
    return Claims(user_uuid=uid, session_uuid=sid, jti=jti)


# Access tokens this process has verified, until their expiry: a client sends
# the same token with every request for its lifetime, and checking it again
# (base64, JSON, HMAC, the claims) was a tenth of a small request's CPU. Keyed
# by the whole token, so only the very bytes that were verified hit; the
# session behind it is still checked on every use (accounts.actions.sessions),
# so revoking stays immediate. Cleared when the JWT settings change.
_VERIFIED: dict[str, tuple[Claims, float]] = {}
VERIFIED_MAX = 4096
_now = time.time


def decode_access(raw: object) -> Claims:
    """Signature, algorithm, expiry and type (`access`); raises NotAuthenticated."""
    if not isinstance(raw, str) or not raw or len(raw) > 4096:
        raise NotAuthenticated(gettext("A valid access token is required."))
    hit = _VERIFIED.get(raw)
    # Within its `exp` (the check itself allows LEEWAY more: past `exp`, check again).
    if hit is not None and _now() < hit[1]:
        return hit[0]
    try:
        token = AccessToken(raw)
        claims = _claims(token)
    except TokenError:
        _VERIFIED.pop(raw, None)
        raise NotAuthenticated(gettext("The access token is invalid or expired.")) from None
    if len(_VERIFIED) >= VERIFIED_MAX:
        # Drop the oldest half (dicts keep insertion order); threads may race here harmlessly.
        for key in list(_VERIFIED)[: VERIFIED_MAX // 2]:
            _VERIFIED.pop(key, None)
    _VERIFIED[raw] = (claims, float(token["exp"]))
    return claims


@receiver(setting_changed)
def _forget_verified(*, setting: str, **kwargs) -> None:
    if setting in ("SIMPLE_JWT", "SECRET_KEY"):
        _VERIFIED.clear()


def decode_refresh(raw: object) -> Claims:
    if not isinstance(raw, str) or not raw or len(raw) > 4096:
        raise NotAuthenticated(gettext("A valid refresh token is required."))
    try:
        return _claims(RefreshToken(raw))
    except TokenError:
        raise NotAuthenticated(gettext("The refresh token is invalid or expired.")) from None
