"""The WebSocket gateway at /ws/ (docs/protocol/websocket.md).

One consumer per socket. It asks the registered authenticator who the
socket belongs to, joins its user's group on the channel layer
(chatsite.realtime), sends `hello`, and then turns each client frame into a
call of the registered handler for its type. Every error is caught per frame
and becomes an `error` frame: a bad frame never closes the socket (only a
flood does, with 4429) and never touches another socket.

Layer messages (`chat.frame`, `chat.after`, `chat.split`, `chat.topic`, `ws.close`,
`layer.*`) have handlers here; they never come from a client frame, whose
`type` only ever selects a handler from the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from chatsite import i18n, kv, lifespan, metrics, realtime, wire
from chatsite.asgi_server import SEND_BATCH
from chatsite.db import run_in_db_thread
from chatsite.errors import AccountDisabled, BadFrame, ChatError, Invalid, RateLimited, TooLarge, Unavailable
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
# How long a closing socket waits for its queued frames to go out.
CLOSE_DRAIN_S = 2.0
REF_MAX = 64
SEND_BATCH_MAX = 64  # frames handed to the server at once (see _flush)


class Connection(AsyncWebsocketConsumer):
    """A client socket. Handlers use: `user`, `user_id`, `session_id`,
    `socket_id`, `state` (a dict apps may keep per-socket data in),
    `grants` (see below), `send_frame()`, `push_text()` and `run_sync()`.

    `grants` holds what a handler found this socket's user may do, so that the
    next frame of the kind skips the database: apps put entries in it only
    after a full check, and it is emptied whenever the user's access changes
    (`chat.access`, chatsite.events.access_changed_on_commit). A handler that
    checks in the database reads `grants_epoch` before and stores its grant
    only if it is unchanged after, so a change that lands during the check is
    not papered over."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = None
        self.user_id: int = 0
        self.session_id: str | None = None
        self.language = settings.LANGUAGE_CODE  # of its texts: the handshake's (chatsite.i18n)
        self.socket_id = uuid.uuid4().hex
        self.state: dict[str, Any] = {}
        self.grants: dict[Any, Any] = {}
        self.grants_epoch = 0
        # Topics this socket listens to (presence of some users).
        self.topics: set[str] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.joined = False
        self.closing = False
        self.connected_at = time.monotonic()
        self.last_frame_at = self.connected_at
        self.strikes = 0
        self._outbox: list[str] = []
        self._flushing = False
        self._flush_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        # `chat.after` frames held while this socket runs something they may
        # answer (see answers_after).
        self._running = 0
        self._held: list[str] = []
        # Nothing goes out before `hello` (see _greet).
        self.greeted = False
        self.close_code: int | None = None

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop, except that layer messages have a task of
        their own. Channels dispatches the socket's frames and the layer's
        messages from one loop, one at a time, so an event for this socket
        would wait behind a frame being handled (a long `sync`, a send waiting
        on the bus); here it goes out at once, as the client expects."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        # Our layer calls the consumer for each message (its `listen`
        # extension): no task wake-up per event, which a 500-member group's
        # fan-out pays 500 times. Other layers are read by a task.
        listening = realtime.has_extension(self.channel_layer, "listen")
        if listening:
            self.channel_layer.listen(self.channel_name, self._on_layer_message)
        else:
            events = asyncio.ensure_future(self._dispatch_layer())
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            if listening:
                self.channel_layer.unlisten(self.channel_name)
            else:
                events.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await events

    def _on_layer_message(self, message: dict) -> None:
        """A layer message, on this socket's loop (the `listen` extension):
        frames are queued at once, the rest handled in a task."""
        immediate = _IMMEDIATE.get(message.get("type"))
        if immediate is not None:
            immediate(self, message)
            return
        task = asyncio.ensure_future(self._dispatch_safely(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch_safely(self, message: dict) -> None:
        try:
            await self.dispatch(message)
        except Exception:
            logger.exception("layer message %r failed on socket %s", message.get("type"), self.socket_id)

    async def _dispatch_layer(self) -> None:
        receive, name = self.channel_layer.receive, self.channel_name
        while True:
            await self._dispatch_safely(await receive(name))

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
            identity = await registry.authenticate(scope=self.scope, token=token)
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
        self.user, self.user_id, self.session_id = identity.user, identity.user_id, identity.session_id
        self.profile = identity.profile
        self.language = i18n.socket_language(identity.user, self.scope)
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
            # The user's group (chatsite.realtime): events for the user reach
            # this socket from the moment group_add returns.
            await self.channel_layer.group_add(realtime.user_group(self.user_id), self.channel_name)
        except Unavailable:
            logger.warning("websocket of user %s refused: realtime unavailable", self.user_id)
            await self.close(CLOSE_TRY_AGAIN)
            return
        self.joined = True
        metrics.websockets_open.inc()
        await lifespan.ensure_started()
        _local.add(self)
        self._greet()
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
        if len(subprotocols) >= 2 and subprotocols[0] in ("bearer", "bot"):
            return subprotocols[1], subprotocols[0]
        query = parse_qs((self.scope.get("query_string") or b"").decode("latin-1"))
        tokens = query.get("token")
        if tokens:
            return tokens[-1], None
        return None, None

    def _greet(self) -> None:
        """Send `hello`, the first frame. Events for the user may reach the
        socket while it joins its group: they wait in the outbox behind it."""
        self._outbox.insert(0, wire.dumps(self._hello()))
        metrics.frames_out.inc()
        self.greeted = True
        self._start_flush()

    def _hello(self) -> dict:
        # The message budget is the one `message.send` frames are held to for
        # this user (a bot's is its own).
        send = registry.get("message.send")
        if send is not None and send.budget is not None:
            _, per_s, burst = send.budget(self.user)
        else:
            per_s, burst = settings.LIMIT_MESSAGES_PER_S, settings.LIMIT_MESSAGES_BURST
        return {
            "type": "hello",
            "user": self.profile,
            "server_time": wire.now_iso(),
            "heartbeat_s": settings.HEARTBEAT_S,
            "limits": {
                "max_text": settings.MAX_TEXT,
                "max_file": settings.MAX_FILE_BYTES,
                "messages_per_s": per_s,
                "messages_burst": burst,
                "edit_window_s": settings.EDIT_WINDOW_S,
            },
        }

    # ------------------------------------------------------------------ frames in

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user is None or self.closing:
            return
        self.last_frame_at = time.monotonic()
        token = request_id_var.set(f"ws-{self.socket_id[:12]}")
        try:
            if self.language == settings.LANGUAGE_CODE:
                await self._receive(text_data, bytes_data)
            else:
                # Errors are told in the person's language (chatsite.i18n).
                with translation.override(self.language):
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
            await self.send_error(Unavailable(gettext("The server could not handle this frame; retry later.")), ref)

    def _parse(self, text: str | None) -> tuple[dict | None, registry.FrameSpec | None, ChatError | None]:
        """(frame, its spec, the error to answer instead of handling it)."""
        if text is None:
            return None, None, BadFrame(gettext("Frames are JSON text, not binary."))
        if (
            len(text) * 4 > settings.MAX_FRAME_BYTES
            and len(text.encode("utf-8", "surrogatepass")) > settings.MAX_FRAME_BYTES
        ):
            return (
                None,
                None,
                TooLarge(
                    gettext("A frame may be at most %(max_frame_bytes)s bytes.")
                    % {"max_frame_bytes": settings.MAX_FRAME_BYTES}
                ),
            )
        try:
            frame = wire.loads(text)
        except ValueError:
            return None, None, BadFrame(gettext("The frame is not valid JSON."))
        if not isinstance(frame, dict):
            return None, None, BadFrame(gettext("A frame must be a JSON object."))
        ftype = frame.get("type")
        spec = registry.get(ftype) if isinstance(ftype, str) else None
        ref = frame.get("ref")
        if ref is not None and (not isinstance(ref, str) or len(ref) > REF_MAX):
            frame["ref"] = None
            return (
                frame,
                spec,
                Invalid.field("ref", gettext("A string of at most %(ref_max)s characters.") % {"ref_max": REF_MAX}),
            )
        if spec is None:
            metrics.frames_in.labels("unknown").inc()
            frame["ref"] = ref
            return (
                frame,
                None,
                BadFrame(
                    gettext("Unknown frame type.")
                    if isinstance(ftype, str)
                    else gettext("A frame needs a string `type`.")
                ),
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
        frames = (f"frames:{self.user_id}", settings.LIMIT_FRAMES_PER_S, settings.LIMIT_FRAMES_BURST)
        try:
            if budget is None:
                which, retry = await kv.store().atake(frames)
            else:
                prefix, rate, burst = budget(self.user)
                which, retry = await kv.store().atake(frames, (f"{prefix}:{self.user_id}", rate, burst))
        except Unavailable:
            return True  # chat limits fail open; security limits (login, SMS) fail closed
        if which == 0:
            self.strikes = 0
            return True
        if which == 2:
            self.strikes = 0
            await self.send_error(RateLimited(gettext("You are sending messages too fast."), retry_after=retry), ref)
            return False
        self.strikes += 1
        if self.strikes >= settings.LIMIT_FRAMES_STRIKES:
            logger.warning("closing flooding socket of user %s", self.user_id)
            await self.close_with(CLOSE_FLOOD)
            return False
        # Echo the frame's ref like every other error: a client that cannot
        # tell which send was refused never resends it.
        await self.send_error(RateLimited(gettext("Too many frames; slow down."), retry_after=retry), ref)
        return False

    # ------------------------------------------------------------------ frames out

    async def send_frame(self, frame: dict) -> None:
        self.push_text(wire.dumps(frame))

    async def send_error(self, err: ChatError, ref: str | None) -> None:
        self.push_error(err, ref)

    def push_error(self, err: ChatError, ref: str | None) -> None:
        """Queue the `error` frame for `err`, answering the frame `ref` (from
        sync code), in the socket's language (also for an error that came from
        a thread without it, such as the bus's delivery reports)."""
        if self.language == settings.LANGUAGE_CODE:
            body = err.as_dict()
        else:
            with translation.override(self.language):
                body = err.as_dict()
        frame: dict[str, Any] = {"type": "error", **body, "ref": ref}
        if err.retry_after is not None:
            frame["retry_after"] = err.retry_after
        self.push_text(wire.dumps(frame))

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
            self.close_soon(CLOSE_TRY_AGAIN, drain=False)
            return
        self._start_flush()

    def _start_flush(self) -> None:
        if self.greeted and not self._flushing:
            self._flushing = True
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            # What is queued goes out in batches, each one write, where the
            # server offers it (chatsite.asgi_server), else frame by frame.
            # A batch is at most SEND_BATCH_MAX frames: the server waits before
            # each while the client is not reading, so a slow client's frames
            # wait here, counted against REALTIME_SOCKET_QUEUE, not in the
            # transport's buffer.
            batched = SEND_BATCH in (self.scope.get("extensions") or {})
            while self._outbox and not self.closing:
                if batched:
                    batch, self._outbox = self._outbox[:SEND_BATCH_MAX], self._outbox[SEND_BATCH_MAX:]
                    await self.base_send({"type": "websocket.send_batch", "texts": batch})
                    metrics.socket_writes.inc()
                else:
                    batch, self._outbox = self._outbox, []
                    for text in batch:
                        await self.send(text_data=text)
                        metrics.socket_writes.inc()
        except Exception:
            logger.debug("send failed on socket %s", self.socket_id, exc_info=True)
        finally:
            self._flushing = False

    # ------------------------------------------------------------------ layer messages (chatsite.realtime)

    def _frame(self, message: dict) -> None:
        if not self.closing:
            self.push_text(message["text"])

    def _split(self, message: dict) -> None:
        if self.closing:
            return
        if message["socket"] == self.socket_id:
            self._own_frame(message["own"])
        elif message.get("others") is not None:
            self.push_text(message["others"])

    def _topic(self, message: dict) -> None:
        if not self.closing and message["topic"] in self.topics:
            self.push_text(message["text"])

    def _after(self, message: dict) -> None:
        if self.closing:
            return
        if self._running:
            self._held.append(message["text"])
        else:
            self.push_text(message["text"])

    def _access(self, message: dict) -> None:
        self.grants.clear()
        self.grants_epoch += 1

    async def chat_access(self, message: dict) -> None:
        self._access(message)

    async def chat_frame(self, message: dict) -> None:
        self._frame(message)

    async def chat_after(self, message: dict) -> None:
        self._after(message)

    async def chat_split(self, message: dict) -> None:
        self._split(message)

    async def chat_topic(self, message: dict) -> None:
        self._topic(message)

    async def ws_close(self, message: dict) -> None:
        session, socket = message.get("session"), message.get("socket")
        if (session is None or session == self.session_id) and (socket is None or socket == self.socket_id):
            await self.close_with(int(message.get("code") or CLOSE_UNAUTHENTICATED))

    async def layer_overflow(self, message: dict) -> None:
        logger.warning("socket of user %s fell behind its events: closing with 1012", self.user_id)
        await self.close_with(CLOSE_TRY_AGAIN, drain=False)

    async def layer_lost(self, message: dict) -> None:
        await self.close_with(CLOSE_TRY_AGAIN)

    def _own_frame(self, text: str) -> None:
        """A frame meant for this very socket; apps may intercept it (the
        message pipeline orders `accepted` before `stored` this way)."""
        hook = self.state.get("own_frame_hook")
        if hook is not None:
            hook(self, text)
        else:
            self.push_text(text)

    # ------------------------------------------------------------------ closing

    def close_soon(self, code: int, *, drain: bool = True) -> None:
        if self.closing or self.loop is None:
            return
        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.close_with(code, drain=drain)))

    async def close_with(self, code: int, *, drain: bool = True) -> None:
        """Close with `code`. Frames already queued (an error, the last group
        event) go out first, within CLOSE_DRAIN_S; none before `hello`. A
        socket closed for falling behind is not drained (`drain=False`)."""
        if self.closing:
            return
        if self.greeted and drain:
            await self._drain(CLOSE_DRAIN_S)
            if self.closing:
                return
        self.closing = True
        self.close_code = code
        try:
            await self.close(code)
        except Exception:
            # Never leave a socket open but deaf: close it some way.
            logger.exception("closing socket %s with %s failed; closing with 1000", self.socket_id, code)
            self.close_code = 1000
            await self.close()

    async def _drain(self, timeout: float) -> None:
        """Wait (at most `timeout`) until the outbox is sent."""
        try:
            async with asyncio.timeout(timeout):
                while self._outbox or self._flushing:
                    task = self._flush_task
                    if self._flushing and task is not None and not task.done():
                        await asyncio.shield(task)
                    elif self._outbox:
                        self._flushing = True
                        await self._flush()
                    else:
                        break
        except TimeoutError:
            logger.info("socket %s closing with frames unsent after %.1f s", self.socket_id, timeout)

    async def websocket_disconnect(self, message: dict) -> None:
        code = message.get("code")
        self.closing = True
        if self.joined:
            self.joined = False
            metrics.websockets_open.dec()
            metrics.websocket_closes.labels(str(self.close_code or code)).inc()
            _local.discard(self)
            try:
                await self.channel_layer.group_discard(realtime.user_group(self.user_id), self.channel_name)
            except Exception:
                logger.exception("leaving the user's group failed for socket %s", self.socket_id)
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

    @contextlib.contextmanager
    def answers_after(self):
        """While the block runs, `chat.after` frames (answers to what a socket
        ran: a bot's ephemeral reply) wait, so that the block's own ack goes
        out first; they follow it in order when it ends, however it ends."""
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            if not self._running and self._held:
                held, self._held = self._held, []
                for text in held:
                    self.push_text(text)

    async def run_sync(self, fn, /, **kwargs: Any) -> Any:
        """Run a (database) service function off the event loop (see chatsite.db)."""
        return await run_in_db_thread(fn, **kwargs)

    @property
    def client_ip(self) -> str | None:
        return scope_ip(self.scope)


# Layer messages that only queue a frame: handled in the layer's call.
_IMMEDIATE = {
    "chat.frame": Connection._frame,
    "chat.after": Connection._after,
    "chat.split": Connection._split,
    "chat.topic": Connection._topic,
    "chat.access": Connection._access,
}

# The sockets of this process (the idle sweep, the calls' lease renewal).
_local: weakref.WeakSet[Connection] = weakref.WeakSet()


def local_connections() -> list[Connection]:
    return list(_local)


@lifespan.task("gateway idle sweep")
async def sweep_idle_sockets() -> None:
    """Closes sockets that sent nothing for 2 × heartbeat_s."""
    while True:
        await asyncio.sleep(max(0.5, settings.HEARTBEAT_S / 4))
        deadline = time.monotonic() - 2 * settings.HEARTBEAT_S
        for conn in local_connections():
            if conn.last_frame_at < deadline and not conn.closing:
                asyncio.ensure_future(conn.close_with(CLOSE_IDLE))
