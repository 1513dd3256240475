"""The WebSocket gateway at /ws/ (shared/spec/websocket.md).

One consumer per socket. It authenticates, registers the socket with the
real-time hub under its user's id, sends `hello`, and then turns each client
frame into a call of the registered handler for its type. Every error is
caught per frame and becomes an `error` frame: a bad frame never closes the
socket (only a flood does, with 4429) and never touches another socket.

Layer messages never come from a client frame: the hub delivers envelopes to
`on_envelope`, and a client's `type` only ever selects a handler from the
registry.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chatsite import kv, metrics, realtime, wire
from chatsite.db import run_in_db_thread
from chatsite.errors import AccountDisabled, BadFrame, ChatError, Invalid, NotAuthenticated, TooLarge, Unavailable
from chatsite.gateway import registry
from chatsite.gateway.origin import origin_allowed
from chatsite.logging import request_id_var
from chatsite.net import scope_ip

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_DISABLED = 4403
CLOSE_IDLE = 4408
CLOSE_FLOOD = 4429
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN = 1012
REF_MAX = 64


class Connection(AsyncWebsocketConsumer):
    """A client socket. Handlers use: `user`, `user_id`, `session_id`,
    `socket_id`, `state` (a dict apps may keep per-socket data in),
    `send_frame()`, `push_text()` and `run_sync()`."""

    # Fan-out goes through chatsite.realtime, not a per-socket layer channel.
    channel_layer_alias = "__no_layer__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = None
        self.user_id: int = 0
        self.session_id: str | None = None
        self.socket_id = uuid.uuid4().hex
        self.state: dict[str, Any] = {}
        # Topics this socket listens to (presence of some users).
        self.topics: set[str] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.attached = False
        self.closing = False
        self.connected_at = time.monotonic()
        self.last_frame_at = self.connected_at
        self.strikes = 0
        self._outbox: list[str] = []
        self._flushing = False
        self.close_code: int | None = None

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch first runs close_old_connections() in the database
        # thread for every ASGI message: a thread hop per frame, and it re-arms
        # Django's health check so that the frame's first query pings MySQL.
        # Our database calls (chatsite.db.run_in_db_thread) keep the connection
        # up themselves: they replace a dropped one and retry, and do Django's
        # upkeep every few seconds.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # ------------------------------------------------------------------ handshake

    async def websocket_connect(self, message: dict) -> None:
        self.loop = asyncio.get_running_loop()
        if not origin_allowed(self.scope):
            # Before accept: the server answers the handshake with HTTP 403.
            self._log_refusal("origin not allowed", 403)
            await self.close()
            return
        token, subprotocol = self._token_from_scope()
        await self.accept(subprotocol)
        try:
            user, session = await self._authenticate(token)
        except AccountDisabled:
            self._log_refusal("account disabled", CLOSE_DISABLED)
            await self.close(CLOSE_DISABLED)
            return
        except ChatError:
            self._log_refusal("not authenticated", CLOSE_UNAUTHENTICATED)
            await self.close(CLOSE_UNAUTHENTICATED)
            return
        except Exception:
            logger.exception("websocket authentication failed unexpectedly")
            await self.close(CLOSE_TRY_AGAIN)
            return
        self.user, self.user_id, self.session_id = user, user.pk, str(session.uuid)
        try:
            allowed = await kv.store().atoken_bucket(
                f"wsconn:{self.user_id}",
                rate=settings.LIMIT_WS_CONNECTS_PER_USER / 60,
                burst=settings.LIMIT_WS_CONNECTS_PER_USER,
            )
        except Unavailable:
            allowed = kv.Decision(True)
        if not allowed.allowed:
            await self.close(CLOSE_FLOOD)
            return
        try:
            await realtime.hub().attach(self)
        except Unavailable:
            logger.warning("websocket of user %s refused: realtime unavailable", self.user_id)
            await self.close(CLOSE_TRY_AGAIN)
            return
        self.attached = True
        metrics.websockets_open.inc()
        _sweeper_for(self.loop).add(self)
        await self.send_frame(self._hello())
        for hook in registry.connect_hooks():
            try:
                await hook(self)
            except Exception:
                logger.exception("connect hook %s failed", getattr(hook, "__name__", hook))
        logger.info(
            "ws connect user=%s socket=%s",
            self.user_id,
            self.socket_id,
            extra={"event": "ws.connect", "user_id": self.user_id, "socket": self.socket_id},
        )

    def _log_refusal(self, reason: str, code: int) -> None:
        # The access log's line for a socket that never got its hello (never the token).
        logger.info(
            "ws refused %s: %s (%s)",
            self.client_ip or "-",
            reason,
            code,
            extra={"event": "ws.refused", "client_ip": self.client_ip, "code": code},
        )

    def _token_from_scope(self) -> tuple[str | None, str | None]:
        subprotocols = self.scope.get("subprotocols") or []
        if len(subprotocols) >= 2 and subprotocols[0] == "bearer":
            return subprotocols[1], "bearer"
        query = parse_qs((self.scope.get("query_string") or b"").decode("latin-1"))
        tokens = query.get("token")
        if tokens:
            return tokens[-1], None
        return None, None

    async def _authenticate(self, token: str | None):
        from accounts.middleware import SESSION_KEY
        from accounts.services import authenticate_access_token, authenticate_session_id

        if token is not None:
            return await run_in_db_thread(authenticate_access_token, raw=token)
        session = self.scope.get("session")
        sid = None
        if session is not None:
            sid = await run_in_db_thread(session.get, key=SESSION_KEY)
        if sid is None:
            raise NotAuthenticated()
        return await run_in_db_thread(authenticate_session_id, session_uuid=sid)

    def _hello(self) -> dict:
        from accounts.serializers import user_to_wire

        return {
            "type": "hello",
            "user": user_to_wire(self.user, with_phone=True),
            "server_time": wire.now_iso(),
            "heartbeat_s": settings.HEARTBEAT_S,
            "limits": {
                "max_text": settings.MAX_TEXT,
                "max_file": settings.MAX_FILE_BYTES,
                "messages_per_s": settings.LIMIT_MESSAGES_PER_S,
                "messages_burst": settings.LIMIT_MESSAGES_BURST,
            },
        }

    # ------------------------------------------------------------------ frames in

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user is None or self.closing:
            return
        self.last_frame_at = time.monotonic()
        token = request_id_var.set(f"ws-{self.socket_id[:12]}")
        try:
            await self._receive(text_data, bytes_data)
        finally:
            request_id_var.reset(token)

    async def _receive(self, text: str | None, data: bytes | None) -> None:
        ref = None
        try:
            # Parse first (cheap, bounded): a frame with a budget of its own
            # (message.send) is then checked against both in one call.
            frame, spec, problem = self._parse(text)
            if frame is not None:
                ref = frame.get("ref")
            if not await self._within_rate(spec.budget if spec is not None and problem is None else None, ref):
                return
            if problem is not None:
                raise problem
            await spec.handler(self, frame)  # type: ignore[union-attr]
        except ChatError as err:
            await self.send_error(err, ref)
        except Exception:
            logger.exception("frame handler failed for user %s", self.user_id)
            await self.send_error(Unavailable("The server could not handle this frame; retry later."), ref)

    def _parse(self, text: str | None) -> tuple[dict | None, registry.FrameSpec | None, ChatError | None]:
        """(frame, its spec, the error to answer instead of handling it)."""
        if text is None:
            return None, None, BadFrame("Frames are JSON text, not binary.")
        if (
            len(text) * 4 > settings.MAX_FRAME_BYTES
            and len(text.encode("utf-8", "surrogatepass")) > settings.MAX_FRAME_BYTES
        ):
            return None, None, TooLarge(f"A frame may be at most {settings.MAX_FRAME_BYTES} bytes.")
        try:
            frame = wire.loads(text)
        except ValueError:
            return None, None, BadFrame("The frame is not valid JSON.")
        if not isinstance(frame, dict):
            return None, None, BadFrame("A frame must be a JSON object.")
        ftype = frame.get("type")
        spec = registry.get(ftype) if isinstance(ftype, str) else None
        ref = frame.get("ref")
        if ref is not None and (not isinstance(ref, str) or len(ref) > REF_MAX):
            frame["ref"] = None
            return frame, spec, Invalid.field("ref", f"A string of at most {REF_MAX} characters.")
        if spec is None:
            metrics.frames_in.labels("unknown").inc()
            frame["ref"] = ref
            return (
                frame,
                None,
                BadFrame("Unknown frame type." if isinstance(ftype, str) else "A frame needs a string `type`."),
            )
        metrics.frames_in.labels(ftype).inc()
        if ref is None and spec.ref_field:
            default = frame.get(spec.ref_field)
            ref = default if isinstance(default, str) and len(default) <= REF_MAX else None
        frame["ref"] = ref
        return frame, spec, None

    async def _within_rate(self, budget, ref: str | None) -> bool:
        """The per-user frame budget (and the frame's own budget, if any).
        Flooding past the frame budget earns strikes and, in the end, 4429."""
        from chatsite.errors import RateLimited

        frames = (f"frames:{self.user_id}", settings.LIMIT_FRAMES_PER_S, settings.LIMIT_FRAMES_BURST)
        try:
            if budget is None:
                decision = await kv.store().atoken_bucket(frames[0], rate=frames[1], burst=frames[2])
                which, retry = (0, 0.0) if decision.allowed else (1, decision.retry_after)
            else:
                prefix, rate, burst = budget()
                which, retry = await kv.store().atoken_bucket_pair(frames, (f"{prefix}:{self.user_id}", rate, burst))
        except Unavailable:
            return True  # chat limits fail open; security limits (login, SMS) fail closed
        if which == 0:
            self.strikes = 0
            return True
        if which == 2:
            self.strikes = 0
            await self.send_error(RateLimited("You are sending messages too fast.", retry_after=retry), ref)
            return False
        self.strikes += 1
        if self.strikes >= settings.LIMIT_FRAMES_STRIKES:
            logger.warning("closing flooding socket of user %s", self.user_id)
            await self.close_with(CLOSE_FLOOD)
            return False
        # Echo the frame's ref like every other error: a client that cannot
        # tell which send was refused never resends it.
        await self.send_error(RateLimited("Too many frames; slow down.", retry_after=retry), ref)
        return False

    # ------------------------------------------------------------------ frames out

    async def send_frame(self, frame: dict) -> None:
        self.push_text(wire.dumps(frame))

    async def send_error(self, err: ChatError, ref: str | None) -> None:
        frame: dict[str, Any] = {"type": "error", **err.as_dict(), "ref": ref}
        if err.retry_after is not None:
            frame["retry_after"] = err.retry_after
        await self.send_frame(frame)

    def push_text(self, text: str) -> None:
        """Queue a frame for this socket (never blocks; a socket that falls
        too far behind is closed with 1012 so that its client resyncs)."""
        if self.closing:
            return
        self._outbox.append(text)
        metrics.frames_out.inc()
        if len(self._outbox) > settings.REALTIME_SOCKET_QUEUE:
            logger.warning("socket of user %s too slow: closing with 1012", self.user_id)
            self._outbox.clear()
            self.close_soon(CLOSE_TRY_AGAIN)
            return
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._outbox and not self.closing:
                batch, self._outbox = self._outbox, []
                for text in batch:
                    await self.send(text_data=text)
        except Exception:
            logger.debug("send failed on socket %s", self.socket_id, exc_info=True)
        finally:
            self._flushing = False

    def on_envelope(self, envelope: bytes) -> None:
        """An event from the hub for this socket's user (see chatsite.realtime)."""
        if self.closing:
            return
        kind = envelope[:1]
        if kind == b"F":
            self.push_text(envelope[1:].decode())
        elif kind == b"S":
            head, _, rest = envelope[1:].partition(b"|")
            own, _, other = rest.partition(b"\0")
            if head.decode() == self.socket_id:
                self._own_frame(own.decode())
            elif other:
                self.push_text(other.decode())
        elif kind == b"T":
            name, _, text = envelope[1:].partition(b"|")
            if name.decode() in self.topics:
                self.push_text(text.decode())
        elif kind == b"C":
            control = realtime.decode_control(envelope)
            if control.get("op") == "close":
                session, socket = control.get("session"), control.get("socket")
                if (session is None or session == self.session_id) and (socket is None or socket == self.socket_id):
                    self.close_soon(int(control.get("code") or CLOSE_UNAUTHENTICATED))

    def _own_frame(self, text: str) -> None:
        """A frame meant for this very socket; apps may intercept it (the
        message pipeline orders `accepted` before `stored` this way)."""
        hook = self.state.get("own_frame_hook")
        if hook is not None:
            hook(self, text)
        else:
            self.push_text(text)

    # ------------------------------------------------------------------ closing

    def close_soon(self, code: int) -> None:
        if self.closing or self.loop is None:
            return
        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.close_with(code)))

    async def close_with(self, code: int) -> None:
        if self.closing:
            return
        # Frames already queued (an error, the last group event) go out first.
        if self._outbox and not self._flushing:
            await self._flush()
        self.closing = True
        self.close_code = code
        try:
            await self.close(code)
        except Exception:
            # Never leave a socket open but deaf: close it some way.
            logger.exception("closing socket %s with %s failed; closing with 1000", self.socket_id, code)
            self.close_code = 1000
            await self.close()

    async def websocket_disconnect(self, message: dict) -> None:
        code = message.get("code")
        self.closing = True
        if self.attached:
            self.attached = False
            metrics.websockets_open.dec()
            metrics.websocket_closes.labels(str(self.close_code or code)).inc()
            if self.loop is not None:
                _sweeper_for(self.loop).discard(self)
            try:
                await realtime.hub().detach(self)
            except Exception:
                logger.exception("detach failed for socket %s", self.socket_id)
            for hook in registry.disconnect_hooks():
                try:
                    await hook(self)
                except Exception:
                    logger.exception("disconnect hook %s failed", getattr(hook, "__name__", hook))
            logger.info(
                "ws close user=%s socket=%s code=%s duration=%.1fs",
                self.user_id,
                self.socket_id,
                self.close_code or code,
                time.monotonic() - self.connected_at,
                extra={
                    "event": "ws.close",
                    "user_id": self.user_id,
                    "socket": self.socket_id,
                    "code": self.close_code or code,
                    "duration_s": round(time.monotonic() - self.connected_at, 3),
                },
            )
        await super().websocket_disconnect(message)

    # ------------------------------------------------------------------ helpers for handlers

    async def run_sync(self, fn, /, **kwargs: Any) -> Any:
        """Run a (database) service function off the event loop (see chatsite.db)."""
        return await run_in_db_thread(fn, **kwargs)

    @property
    def client_ip(self) -> str | None:
        return scope_ip(self.scope)


class _Sweeper:
    """Closes sockets that sent nothing for 2 × heartbeat_s (one task per loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sockets: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.task = loop.create_task(self._run())

    def add(self, conn: Connection) -> None:
        self.sockets.add(conn)

    def discard(self, conn: Connection) -> None:
        self.sockets.discard(conn)

    async def _run(self) -> None:
        while True:
            interval = max(0.5, settings.HEARTBEAT_S / 4)
            await asyncio.sleep(interval)
            deadline = time.monotonic() - 2 * settings.HEARTBEAT_S
            for conn in list(self.sockets):
                if conn.last_frame_at < deadline and not conn.closing:
                    asyncio.ensure_future(conn.close_with(CLOSE_IDLE))


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweeper] = weakref.WeakKeyDictionary()


def _sweeper_for(loop: asyncio.AbstractEventLoop) -> _Sweeper:
    sweeper = _sweepers.get(loop)
    if sweeper is None or sweeper.task.done():
        sweeper = _Sweeper(loop)
        _sweepers[loop] = sweeper
    return sweeper


def local_connections() -> list[Connection]:
    return [c for sweeper in list(_sweepers.values()) for c in list(sweeper.sockets)]
