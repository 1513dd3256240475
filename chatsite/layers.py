"""The channel layer the gateway's consumers talk over (`CHANNEL_LAYERS`).

`UserLayer` implements Channels' layer API (`new_channel`, `send`,
`receive`, `group_add`, `group_discard`, `group_send`, `flush`) with the
fan-out path measured for this product (docs/performance.md): every socket
joins one group, its user's (`user.<id>`), and events go to those groups.

- Without Redis (the embedded default) it is an in-memory layer: one process,
  delivery is a call on the receiving consumer's own event loop, safe from
  any thread (the on-commit hooks run on database threads).
- With Redis, each event loop of a process holds ONE pub/sub connection,
  subscribed to one Redis channel per group that has a consumer here (and to
  this node's own channel for `send` to a specific channel, and to a channel
  every node reads for events with many recipients). `group_send` is one
  PUBLISH; `group_send_many` (an extension) pipelines many, and sends an
  event for many groups as ONE PUBLISH with the group list on the shared
  channel. Subscribing to a group waits for the server's confirmation, so
  from `group_add`'s return on no event for the group is missed.

A consumer may `listen` (an extension) instead of calling `receive`: the
layer then hands it each message on its loop, without a queue or a task
wake-up per message (the gateway does; docs/performance.md).

Like every layer it is a best-effort hint, not storage: the database is the
truth and `sync` recovers anything missed. A consumer that falls behind (its
queue reaches `capacity`) is sent `layer.overflow` once, and every consumer
of a loop whose Redis subscription broke is sent `layer.lost`: both mean
"reconnect and sync" (the gateway closes with 1012; a listening gateway's own
outbox has the same bound).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import uuid
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Iterable

import redis
import redis.asyncio as aredis
from channels.layers import BaseChannelLayer
from django.utils.translation import gettext

from chatsite import wire

logger = logging.getLogger(__name__)

OVERFLOW = {"type": "layer.overflow"}
LOST = {"type": "layer.lost"}


class _Inbox:
    """One consumer's channel on this process: a queue on the consumer's loop."""

    __slots__ = ("loop", "queue", "waiter", "overflowed", "callback")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: deque[dict] = deque()
        self.waiter: asyncio.Future | None = None
        self.overflowed = False
        # Set by `listen`: messages are handed to it instead of queued.
        self.callback: Callable[[dict], None] | None = None


class UserLayer(BaseChannelLayer):
    extensions = ["groups", "flush", "group_send_many", "listen"]

    def __init__(
        self,
        redis_url: str | None = None,
        prefix: str = "layer",
        node: str = "node",
        capacity: int = 2000,
        broadcast_min: int = 16,
        expiry: int = 60,
        **kwargs,
    ) -> None:
        super().__init__(expiry=expiry, capacity=capacity)
        self.redis_url = redis_url
        self.prefix = prefix
        # Part of channel names: letters, digits, _ and - only.
        self.node = re.sub(r"[^A-Za-z0-9_-]", "_", node)
        self.broadcast_min = broadcast_min
        self._lock = threading.Lock()
        self._inboxes: dict[str, _Inbox] = {}
        self._groups: dict[str, set[str]] = defaultdict(set)  # group -> local channels
        self._node_channel = f"{prefix}:node:{self.node}".encode()
        self._all_channel = f"{prefix}:all".encode()
        self._subscribers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Subscriber] = (
            weakref.WeakKeyDictionary()
        )
        self._sync_client: redis.Redis | None = None
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis] = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------------ names

    def _group_channel(self, group: str) -> bytes:
        return f"{self.prefix}:g:{group}".encode()

    def _group_of(self, channel: bytes) -> str | None:
        head = f"{self.prefix}:g:".encode()
        return channel[len(head) :].decode() if channel.startswith(head) else None

    async def new_channel(self, prefix: str = "specific") -> str:
        name = f"{prefix}.{self.node}!{uuid.uuid4().hex}"
        with self._lock:
            self._inboxes[name] = _Inbox(asyncio.get_running_loop())
        return name

    def local_groups(self) -> list[str]:
        """Groups with a consumer on this process (say, the users connected here)."""
        with self._lock:
            return [group for group, channels in self._groups.items() if channels]

    # ------------------------------------------------------------------ local delivery

    def _put(self, channel: str, message: dict) -> None:
        inbox = self._inboxes.get(channel)
        if inbox is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is inbox.loop:
            self._append(inbox, message)
        elif not inbox.loop.is_closed():
            try:
                inbox.loop.call_soon_threadsafe(self._append, inbox, message)
            except RuntimeError:  # the loop closed in between
                pass

    def _append(self, inbox: _Inbox, message: dict) -> None:
        if inbox.callback is not None:
            try:
                inbox.callback(message)
            except Exception:
                logger.exception("layer: a listener failed on %r", message.get("type"))
            return
        if inbox.overflowed:
            return
        if len(inbox.queue) >= self.capacity:
            # Too far behind: drop what is queued and say so; the consumer
            # reconnects and syncs instead of reading stale events for minutes.
            inbox.overflowed = True
            inbox.queue.clear()
            inbox.queue.append(OVERFLOW)
        else:
            inbox.queue.append(message)
        waiter = inbox.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _members(self, group: str) -> list[str]:
        """The local channels in `group`, copied under the lock: deliveries come
        from database threads while consumers join and leave on their loops
        (iterating the live set there lost events: "changed size during iteration")."""
        with self._lock:
            channels = self._groups.get(group)
            return list(channels) if channels else []

    def _deliver_local(self, group: str, message: dict) -> None:
        for channel in self._members(group):
            self._put(channel, message)

    # ------------------------------------------------------------------ the layer API

    async def send(self, channel: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        if channel in self._inboxes or self.redis_url is None:
            self._put(channel, message)
            return
        node = channel.split("!", 1)[0].rsplit(".", 1)[-1]
        payload = b"C" + channel.encode() + b"\n" + wire.dumps_bytes(message)
        await self._async_client().publish(f"{self.prefix}:node:{node}", payload)

    async def receive(self, channel: str) -> dict:
        inbox = self._inboxes[channel]
        try:
            while not inbox.queue:
                inbox.waiter = inbox.loop.create_future()
                await inbox.waiter
                inbox.waiter = None
            return inbox.queue.popleft()
        except asyncio.CancelledError:
            # The consumer is gone (Channels cancels its receive when it stops).
            self._forget(channel)
            raise

    def listen(self, channel: str, callback: Callable[[dict], None]) -> None:
        """Extension: hand each message for `channel` (one of this process's,
        from `new_channel`) to `callback` on the channel's loop, instead of
        queueing it for `receive`. It saves a task wake-up per message; the
        callback must not block (the gateway queues the frame, and starts a
        task for anything more). Messages already queued go first."""
        inbox = self._inboxes[channel]
        inbox.callback = callback
        while inbox.queue:
            self._append(inbox, inbox.queue.popleft())

    def unlisten(self, channel: str) -> None:
        """The listener is gone: forget the channel and its groups."""
        self._forget(channel)

    def _forget(self, channel: str) -> None:
        with self._lock:
            self._inboxes.pop(channel, None)
            for group, channels in list(self._groups.items()):
                if channel in channels:
                    channels.discard(channel)
                    if not channels:
                        del self._groups[group]

    def _on_loop(self, group: str, loop: asyncio.AbstractEventLoop) -> bool:
        """A consumer on `loop` is in `group` (each loop subscribes for its own)."""
        for name in self._groups.get(group, ()):
            inbox = self._inboxes.get(name)
            if inbox is not None and inbox.loop is loop:
                return True
        return False

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        loop = asyncio.get_running_loop()
        with self._lock:
            first = not self._on_loop(group, loop)
            self._groups[group].add(channel)
        if self.redis_url is not None and first:
            try:
                await self._subscriber().subscribe(self._group_channel(group))
            except Exception:
                await self.group_discard(group, channel)
                raise

    async def group_discard(self, group: str, channel: str) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            channels = self._groups.get(group)
            if not channels or channel not in channels:
                return
            channels.discard(channel)
            if not channels:
                del self._groups[group]
            last = not self._on_loop(group, loop)
        if self.redis_url is not None and last:
            sub = self._subscribers.get(loop)
            if sub is not None:
                await sub.unsubscribe(self._group_channel(group))

    async def group_send(self, group: str, message: dict) -> None:
        await self.group_send_many([([group], message)])

    async def group_send_many(self, items: Iterable[tuple[Iterable[str], dict]]) -> None:
        """Send each message to its groups, in one round trip to Redis."""
        if self.redis_url is None:
            for groups, message in items:
                for group in groups:
                    self._deliver_local(group, message)
            return
        pipe = self._async_client().pipeline(transaction=False)
        if self._queue(pipe, items):
            try:
                await pipe.execute()
            except (redis.RedisError, OSError):
                logger.warning("layer: publish failed (Redis unavailable)", exc_info=True)

    def group_send_many_sync(self, items: Iterable[tuple[Iterable[str], dict]]) -> None:
        """`group_send_many` for synchronous code (on-commit hooks, the worker)."""
        if self.redis_url is None:
            for groups, message in items:
                for group in groups:
                    self._deliver_local(group, message)
            return
        try:
            pipe = self._client().pipeline(transaction=False)
            if self._queue(pipe, items):
                pipe.execute()
        except redis.RedisError:
            logger.warning("layer: publish failed (Redis unavailable)", exc_info=True)

    def _queue(self, pipe, items: Iterable[tuple[Iterable[str], dict]]) -> int:
        count = 0
        for groups, message in items:
            targets = list(dict.fromkeys(groups))
            if not targets:
                continue
            body = wire.dumps_bytes(message)
            if len(targets) >= self.broadcast_min:
                pipe.publish(self._all_channel, b"M" + ",".join(targets).encode() + b"\n" + body)
                count += 1
            else:
                for group in targets:
                    pipe.publish(self._group_channel(group), body)
                count += len(targets)
        return count

    async def flush(self) -> None:
        with self._lock:
            self._inboxes.clear()
            self._groups.clear()

    async def close(self) -> None:
        """Stop this loop's subscription (ASGI lifespan shutdown, tests)."""
        sub = self._subscribers.pop(asyncio.get_running_loop(), None)
        if sub is not None:
            await sub.stop()
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # ------------------------------------------------------------------ Redis

    def _client(self) -> redis.Redis:
        if self._sync_client is None:
            self._sync_client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)
        return self._sync_client

    def _async_client(self) -> aredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = aredis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)
            self._async_clients[loop] = client
        return client

    def _subscriber(self) -> _Subscriber:
        loop = asyncio.get_running_loop()
        sub = self._subscribers.get(loop)
        if sub is None or sub.task.done():
            sub = _Subscriber(self, loop)
            self._subscribers[loop] = sub
        return sub

    def _on_message(self, loop: asyncio.AbstractEventLoop, channel: bytes, data: bytes) -> None:
        """A message from Redis, on the subscriber's loop: to this loop's consumers."""
        if channel == self._all_channel:
            head, _, body = data[1:].partition(b"\n")
            groups = head.decode().split(",")
        elif channel == self._node_channel:
            name, _, body = data[1:].partition(b"\n")
            self._put(name.decode(), wire.loads(body))
            return
        else:
            group = self._group_of(channel)
            if group is None:
                return
            groups, body = [group], data
        with self._lock:  # once for all the groups (a big group's event names hundreds)
            inboxes = [
                inbox
                for group in groups
                for name in self._groups.get(group, ())
                if (inbox := self._inboxes.get(name)) is not None and inbox.loop is loop
            ]
        if inboxes:
            message = wire.loads(body)
            for inbox in inboxes:
                self._append(inbox, message)

    def _lost(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            inboxes = list(self._inboxes.values())
        for inbox in inboxes:
            if inbox.loop is loop:
                self._append(inbox, LOST)


class _Subscriber:
    """One pub/sub connection for one event loop of this process."""

    def __init__(self, layer: UserLayer, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
        self.loop = loop
        self.pubsub: aredis.client.PubSub | None = None
        self.ready = asyncio.Event()
        self.pending: dict[bytes, asyncio.Future] = {}
        self.channels: set[bytes] = set()
        self.wanted: set[bytes] = set()
        self.task = loop.create_task(self._run())

    async def subscribe(self, channel: bytes) -> None:
        self.wanted.add(channel)
        if channel in self.channels:
            return
        try:
            await asyncio.wait_for(self.ready.wait(), timeout=3)
        except TimeoutError:
            raise _unavailable() from None
        future = self.pending.get(channel)
        if future is None:
            future = self.loop.create_future()
            self.pending[channel] = future
            try:
                await self.pubsub.subscribe(channel)  # type: ignore[union-attr]
            except (redis.RedisError, OSError) as exc:
                self.pending.pop(channel, None)
                raise _unavailable() from exc
        try:
            # Confirmed by the server: from here on no PUBLISH to the group is missed.
            await asyncio.wait_for(asyncio.shield(future), timeout=5)
        except TimeoutError:
            raise _unavailable() from None

    async def unsubscribe(self, channel: bytes) -> None:
        self.wanted.discard(channel)
        self.channels.discard(channel)
        if self.pubsub is not None and self.ready.is_set():
            try:
                await self.pubsub.unsubscribe(channel)
            except (redis.RedisError, OSError):
                pass

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):
            pass

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            client = None
            try:
                client = aredis.Redis.from_url(self.layer.redis_url, socket_connect_timeout=2, health_check_interval=15)
                self.pubsub = client.pubsub(ignore_subscribe_messages=False)
                # This node's channel and the shared one keep the connection in
                # pub/sub mode even with no consumer here.
                await self.pubsub.subscribe(self.layer._node_channel, self.layer._all_channel)
                if self.wanted:
                    await self.pubsub.subscribe(*self.wanted)
                self.ready.set()
                backoff = 0.2
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: every consumer here has lost events
                was_ready = self.ready.is_set()
                self.ready.clear()
                self.channels.clear()
                for future in self.pending.values():
                    if not future.done():
                        future.set_exception(_unavailable())
                self.pending.clear()
                if was_ready:
                    logger.warning("layer: Redis subscription lost (%s); telling this loop's consumers", exc)
                    self.layer._lost(self.loop)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                for closing in (self.pubsub, client):
                    if closing is not None:
                        try:
                            await closing.aclose()
                        except Exception:
                            pass
                self.pubsub = None

    async def _read(self) -> None:
        assert self.pubsub is not None
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=False, timeout=30.0)
            if message is None:
                await self.pubsub.ping()  # idle: prove the connection is alive (raises if not)
                continue
            kind = message["type"]
            if kind == "message":
                self.layer._on_message(self.loop, message["channel"], message["data"])
            elif kind == "subscribe":
                channel = message["channel"]
                self.channels.add(channel)
                future = self.pending.pop(channel, None)
                if future is not None and not future.done():
                    future.set_result(None)


def _unavailable():
    from chatsite.errors import Unavailable  # the layer is also usable outside the product

    return Unavailable(gettext("Real-time delivery (Redis) is unavailable."))
