"""The one registry of WebSocket frame handlers, filled by each app's `ws_handlers`.

    from chatsite.gateway.registry import frame_handler

    @frame_handler("typing")
    async def handle_typing(conn, frame): ...

A handler gets the connection and the parsed frame (a dict with a known
`type`); it raises ChatError subclasses for the client's mistakes. Apps can
also register connect/disconnect hooks (presence, calls).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import autodiscover_modules

if TYPE_CHECKING:
    from chatsite.gateway.consumer import Connection

logger = logging.getLogger(__name__)

Handler = Callable[["Connection", dict[str, Any]], Awaitable[None]]
Hook = Callable[["Connection"], Awaitable[None]]


@dataclass(frozen=True)
class FrameSpec:
    type: str
    handler: Handler
    # The frame field `ref` defaults to, when the client sends none.
    ref_field: str | None
    # A budget of its own on top of the frame budget, checked in the same
    # shared-store call: (key prefix, rate per s, burst) for the socket's
    # user, read at call time.
    budget: Callable[[Any], tuple[str, float, int]] | None = None


@dataclass(frozen=True)
class Identity:
    """Who a socket belongs to, as the authenticator found them."""

    user: Any
    user_id: int
    session_id: str
    # The User object of the `hello` frame.
    profile: dict


# The app that knows users answers who a handshake belongs to (accounts'
# ws_handlers registers it); it raises NotAuthenticated or AccountDisabled.
Authenticator = Callable[..., Awaitable[Identity]]
_authenticator: Authenticator | None = None


def authenticator(fn: Authenticator) -> Authenticator:
    global _authenticator
    _authenticator = fn
    return fn


async def authenticate(*, scope: dict, token: str | None) -> Identity:
    if _authenticator is None:
        raise RuntimeError("no WebSocket authenticator is registered")
    return await _authenticator(scope=scope, token=token)


_frames: dict[str, FrameSpec] = {}
_connect_hooks: list[Hook] = []
_disconnect_hooks: list[Hook] = []


def frame_handler(
    frame_type: str, *, ref_field: str | None = None, budget: Callable[[Any], tuple[str, float, int]] | None = None
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if frame_type in _frames and _frames[frame_type].handler is not fn:
            raise RuntimeError(f"two handlers for frame type {frame_type!r}")
        _frames[frame_type] = FrameSpec(frame_type, fn, ref_field, budget)
        return fn

    return register


def on_connect(fn: Hook) -> Hook:
    if fn not in _connect_hooks:
        _connect_hooks.append(fn)
    return fn


def on_disconnect(fn: Hook) -> Hook:
    if fn not in _disconnect_hooks:
        _disconnect_hooks.append(fn)
    return fn


def get(frame_type: str) -> FrameSpec | None:
    return _frames.get(frame_type)


def connect_hooks() -> list[Hook]:
    return list(_connect_hooks)


def disconnect_hooks() -> list[Hook]:
    return list(_disconnect_hooks)


def known_types() -> list[str]:
    return sorted(_frames)


def autodiscover() -> None:
    """Import `ws_handlers` of every installed app (and the gateway's own)."""
    importlib.import_module("chatsite.gateway.handlers")
    autodiscover_modules("ws_handlers")
