"""Who a WebSocket belongs to: the gateway asks this at the handshake.

The token comes from `?token=` or the `bearer` subprotocol; the server's own
pages rely on the cookie session instead. A bot presents its API key the same
ways (`?token=`, the `bot` subprotocol) or in `Authorization: Bot <key>`.
All pass the same check as a REST request (accounts.actions.sessions)."""

from __future__ import annotations

from accounts.actions.sessions import (
    authenticate_access_token,
    authenticate_bot_key,
    authenticate_session_id,
    is_bot_key,
)
from accounts.middleware import SESSION_KEY
from accounts.serializers import user_to_wire
from chatsite.db import run_in_db_thread
from chatsite.errors import NotAuthenticated
from chatsite.gateway.registry import Identity, authenticator


@authenticator
async def authenticate_socket(*, scope: dict, token: str | None) -> Identity:
    if token is None:
        token = _bot_key_header(scope)
    if is_bot_key(token):
        user, session = await run_in_db_thread(authenticate_bot_key, raw=token)
    elif token is not None:
        user, session = await run_in_db_thread(authenticate_access_token, raw=token)
    else:
        cookie = scope.get("session")
        sid = await run_in_db_thread(cookie.get, key=SESSION_KEY) if cookie is not None else None
        if sid is None:
            raise NotAuthenticated()
        user, session = await run_in_db_thread(authenticate_session_id, session_uuid=sid)
    return Identity(
        user=user, user_id=user.pk, session_id=str(session.uuid), profile=user_to_wire(user, with_phone=True)
    )


def _bot_key_header(scope: dict) -> str | None:
    """The key of `Authorization: Bot <key>` on the handshake, if any."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bot" and key.strip():
                return key.strip()
    return None
