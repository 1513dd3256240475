"""A WebSocket client that behaves like the product's own (asyncio, `websockets`).

- It keeps the messages it has by id and drops a `message.new` whose id it
  already has (it counts such repeats in `repeats`).
- Sends go through an outbox: a message stays there, keyed by its
  `client_msg_id`, until its `stored` ack (or the message itself, through
  `sync`) arrives; after a reconnect, or an `unavailable` or `rate_limited`
  answer, it is sent again with the same `client_msg_id` (after `retry_after`,
  and refused messages paced at the `messages_per_s` the server announced).
- On a close (1001, 1006, 1011, 1012, a refused connection) it reconnects with
  exponential backoff and jitter, trying its servers in turn (the one that
  worked last first), then sends `sync` with its cursors (per conversation, the
  last seq it holds without a gap) and resends its outbox. 4401, 4403 and 4429
  end it: it records the code and stops.
- It pings every heartbeat_s / 2 so that the server does not close it as idle.
- When `ChatClient.frame_check` is set (the test suite sets it, see
  tests/conftest.py) every frame it sends and receives is handed to it; what
  it refuses is kept in `mismatches` (and in `ChatClient.all_mismatches`).

The fault tests and the load benchmark use it; `Fleet` runs many of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

FINAL_CLOSE_CODES = {4401, 4403, 4429}


@dataclass
class Outgoing:
    frame: dict
    sent_at: float = 0.0
    sends: int = 0
    accepted: bool = False
    answered: bool = False  # the last send got an ack or an error
    errors: list[str] = field(default_factory=list)


class ChatClient:
    # (direction, frame) → None, raising AssertionError for a frame that does
    # not match the protocol; direction is "send" or "receive". None: no check.
    frame_check: ClassVar[Callable[[str, dict], None] | None] = None
    all_mismatches: ClassVar[list[str]] = []

    def __init__(
        self,
        *,
        token: str,
        servers: list[str],
        name: str = "",
        backoff_base: float = 0.2,
        backoff_max: float = 3.0,
        open_timeout: float = 5.0,
        retry_unavailable_s: float = 0.5,
        retry_errors: bool = True,
        log_frames: bool = True,
        conversations: list[str] = (),
    ) -> None:
        self.token = token
        self.servers = list(servers)
        self.name = name
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.open_timeout = open_timeout
        self.retry_unavailable_s = retry_unavailable_s
        self.retry_errors = retry_errors
        self.log_frames = log_frames
        self._server = 0  # the index of the server that worked last
        self.ws = None
        self.user: dict | None = None
        self.hello: dict | None = None
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self.final_code: int | None = None
        self._task: asyncio.Task | None = None
        self._ping_task: asyncio.Task | None = None
        self._stopping = False
        self._retry_handles: dict[str, asyncio.TimerHandle] = {}
        self._resend_at = 0.0  # loop time of the last paced resend
        # What it holds.
        self.messages: dict[str, dict] = {}  # message id -> message
        # Conversation id -> seqs held. Conversations the client knows of (a real
        # client lists them over REST) are synced from 0 until it holds seq 1.
        self.seqs: dict[str, set[int]] = {c: set() for c in conversations}
        self._from_start = set(conversations)
        self.repeats = 0  # message.new frames for a message it already had
        self.outbox: OrderedDict[str, Outgoing] = OrderedDict()
        self.accepted: set[str] = set()  # client_msg_ids that got `accepted`
        self.stored: dict[str, dict] = {}  # client_msg_id -> its stored message
        self.errors: Counter[str] = Counter()
        self.error_refs: list[tuple[str, str | None, float]] = []  # (code, ref, monotonic time)
        # Seconds from sending a message to its first answer (ack or error), per answer kind.
        self.answer_s: dict[str, list[float]] = {}
        self.events: list[dict] = []  # every other frame (typing, read, presence, call.*, group.*, ...)
        self._event_added = asyncio.Condition()
        # Connection history.
        self.connects = 0
        self.closes: list[int | None] = []
        self.reconnect_s: list[float] = []  # from losing the socket to the end of the first sync after it
        self._lost_at: float | None = None
        self.server_history: list[str] = []
        self.mismatches: list[str] = []

    # ------------------------------------------------------------------ life cycle

    def start(self) -> ChatClient:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def open(self, timeout: float = 10.0) -> ChatClient:
        """Start and wait until connected and synced."""
        self.start()
        await self.wait_synced(timeout)
        return self

    async def wait_synced(self, timeout: float = 10.0) -> None:
        waiter = asyncio.ensure_future(self.synced.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self._task in done and self._task.exception() is not None:
                raise self._task.exception()
            raise TimeoutError(f"{self.name}: not synced after {timeout}s (final code {self.final_code})")

    async def close(self) -> None:
        self._stopping = True
        for handle in self._retry_handles.values():
            handle.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 3)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _run(self) -> None:
        failures = 0  # in a row; only a completed sync resets it
        rotate = 0  # a refused or failed handshake moves on to the next server
        while not self._stopping:
            url = self.servers[(self._server + rotate) % len(self.servers)]
            try:
                ws = await websockets.connect(
                    f"{url}?token={self.token}",
                    open_timeout=self.open_timeout,
                    compression=None,
                    ping_interval=None,  # the protocol's own ping frames keep it alive
                    max_queue=None,
                    close_timeout=2,
                )
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                if isinstance(exc, InvalidStatus) and exc.response.status_code == 403:
                    self.final_code = 403
                    return
                failures += 1
                rotate += 1
                await asyncio.sleep(self._backoff(failures))
                continue
            self.ws = ws
            self._server = (self._server + rotate) % len(self.servers)
            rotate = 0
            code = await self._serve(ws, url)
            self.ws = None
            self.connected.clear()
            if self.synced.is_set():
                failures = 0
            self.synced.clear()
            if self._stopping:
                return
            self.closes.append(code)
            if code in FINAL_CLOSE_CODES:
                self.final_code = code
                return
            self._lost_at = self._lost_at or time.monotonic()
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** max(0, attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter"

    async def _serve(self, ws, url: str) -> int | None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self._check("receive", frame)
                await self._on_frame(frame, url)
        except ConnectionClosed:
            pass
        finally:
            if self._ping_task is not None:
                self._ping_task.cancel()
                self._ping_task = None
            for handle in self._retry_handles.values():
                handle.cancel()
            self._retry_handles.clear()
        return ws.close_code if ws.close_code is not None else 1006

    async def _pinger(self, ws, every: float) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(every)
                await ws.send('{"type":"ping"}')

    def _check(self, direction: str, frame: dict) -> None:
        check = ChatClient.frame_check
        if check is None:
            return
        try:
            check(direction, frame)
        except AssertionError as exc:
            line = f"{self.name or 'client'}: {exc}"
            self.mismatches.append(line)
            ChatClient.all_mismatches.append(line)

    # ------------------------------------------------------------------ frames in

    async def _on_frame(self, frame: dict, url: str) -> None:
        kind = frame.get("type")
        if kind == "message.new":
            self._hold(frame["message"])
        elif kind == "message.ack":
            cmid = frame["client_msg_id"]
            self._answered(cmid, frame["status"])
            if frame["status"] == "accepted":
                self.accepted.add(cmid)
                out = self.outbox.get(cmid)
                if out is not None:
                    out.accepted = True
            else:
                message = frame["message"]
                self.accepted.add(cmid)
                self.stored[cmid] = message
                self.outbox.pop(cmid, None)
                self._hold(message, own=True)
        elif kind == "error":
            code, ref = frame.get("code"), frame.get("ref")
            self.errors[code] += 1
            self.error_refs.append((code, ref, time.monotonic()))
            if ref in self.outbox:
                self.outbox[ref].errors.append(code)
                self._answered(ref, code)
            if self.retry_errors and ref in self.outbox and code in ("unavailable", "rate_limited"):
                delay = frame.get("retry_after") or self.retry_unavailable_s
                self._schedule_resend(ref, float(delay) + random.uniform(0, 0.2))
        elif kind == "hello":
            self.hello = frame
            self.user = frame["user"]
            self.connects += 1
            self.server_history.append(url)
            self.connected.set()
            self._ping_task = asyncio.ensure_future(self._pinger(self.ws, max(1.0, frame["heartbeat_s"] / 2)))
            await self._send_raw({"type": "sync", "cursors": self.cursors(), "ref": "sync"})
        elif kind == "sync.done":
            if frame.get("more"):
                await self._send_raw({"type": "sync", "cursors": self.cursors(), "ref": "sync"})
                return
            if self._lost_at is not None:
                self.reconnect_s.append(time.monotonic() - self._lost_at)
                self._lost_at = None
            self.synced.set()
            for cmid in list(self.outbox):
                await self._send_out(cmid)
        elif kind in ("message.edited", "message.reactions"):
            # The change's event: its seq is held as if its message.new had come.
            # A burst of reactions told together names every event it stands for (`seqs`).
            for seq in frame.get("seqs") or [frame.get("seq")]:
                if isinstance(seq, int):
                    self.seqs.setdefault(frame["conversation"], set()).add(seq)
            if self.log_frames:
                self.events.append(frame)
                async with self._event_added:
                    self._event_added.notify_all()
        elif kind == "pong":
            pass
        else:
            if self.log_frames:
                self.events.append(frame)
                async with self._event_added:
                    self._event_added.notify_all()

    def _answered(self, cmid: str, kind: str) -> None:
        out = self.outbox.get(cmid)
        if out is not None and not out.answered and out.sent_at:
            out.answered = True
            self.answer_s.setdefault(kind, []).append(time.monotonic() - out.sent_at)

    def describe_outbox(self) -> str:
        """What is still waiting, for a failure message: per message, how often
        it was sent, what came back and how long ago it was last sent."""
        now = time.monotonic()
        return "; ".join(
            f"{cmid[:8]} to {out.frame.get('conversation', '')[:8]}: sent {out.sends}x, "
            f"{'accepted' if out.accepted else 'not accepted'}, errors {out.errors[-4:]}, "
            f"last sent {now - out.sent_at:.1f}s ago"
            for cmid, out in self.outbox.items()
        )

    def unanswered(self, older_than: float) -> list[str]:
        """Messages sent on the open socket more than `older_than` seconds ago
        that got neither an ack nor an error: silence."""
        if not self.synced.is_set():
            return []
        now = time.monotonic()
        return [
            cmid
            for cmid, out in self.outbox.items()
            if out.sends and not out.answered and now - out.sent_at > older_than
        ]

    def _hold(self, message: dict, *, own: bool = False) -> None:
        mid = message["id"]
        if mid in self.messages:
            if not own:
                self.repeats += 1
            return
        self.messages[mid] = message
        self.seqs.setdefault(message["conversation"], set()).add(message["seq"])
        cmid = message.get("client_msg_id")
        if cmid and self.user and message.get("sender") and message["sender"]["id"] == self.user["id"]:
            # Our own message, seen through sync or from another of our sockets.
            self.outbox.pop(cmid, None)
            self.stored.setdefault(cmid, message)

    def cursors(self) -> dict[str, int]:
        """Per conversation, the last seq held with nothing missing below it
        (from 0 for the conversations it was given, else from the first seq held)."""
        result = {}
        for conversation, seqs in self.seqs.items():
            n = 0 if conversation in self._from_start or not seqs else min(seqs) - 1
            while n + 1 in seqs:
                n += 1
            result[conversation] = n
        return result

    # ------------------------------------------------------------------ frames out

    async def _send_raw(self, frame: dict) -> bool:
        ws = self.ws
        if ws is None:
            return False
        self._check("send", frame)
        try:
            await ws.send(json.dumps(frame))
            return True
        except ConnectionClosed:
            return False

    async def send(self, frame: dict) -> bool:
        """Send any frame now (False when not connected)."""
        return await self._send_raw(frame)

    async def send_message(self, conversation: str, text: str, *, client_msg_id: str | None = None) -> str:
        cmid = client_msg_id or str(uuid.uuid4())
        frame = {
            "type": "message.send",
            "client_msg_id": cmid,
            "conversation": conversation,
            "kind": "text",
            "content": text,
        }
        self.outbox[cmid] = Outgoing(frame)
        if self.synced.is_set():
            await self._send_out(cmid)
        return cmid

    async def _send_out(self, cmid: str) -> None:
        out = self.outbox.get(cmid)
        if out is None:
            return
        out.sends += 1
        out.sent_at = time.monotonic()
        out.answered = False
        await self._send_raw(out.frame)

    def _schedule_resend(self, cmid: str, delay: float) -> None:
        """Send again after `delay`, and at most `messages_per_s` (from hello)
        resends a second: a backlog of refused messages goes out paced, not
        all at once into the same limit (which would earn 4429 in the end)."""
        old = self._retry_handles.pop(cmid, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        rate = ((self.hello or {}).get("limits") or {}).get("messages_per_s") or 10
        at = max(loop.time() + delay, self._resend_at + 1.0 / rate)
        self._resend_at = at

        def fire() -> None:
            self._retry_handles.pop(cmid, None)
            if cmid in self.outbox and self.synced.is_set():
                asyncio.ensure_future(self._send_out(cmid))

        self._retry_handles[cmid] = loop.call_at(at, fire)

    # ------------------------------------------------------------------ waiting

    async def wait_event(self, predicate: Callable[[dict], bool], timeout: float = 5.0, *, start: int = 0) -> dict:
        """The first event frame (not a message, ack, pong or sync.done) from
        index `start` on that matches."""
        deadline = time.monotonic() + timeout
        async with self._event_added:
            while True:
                for frame in self.events[start:]:
                    if predicate(frame):
                        return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name}: no matching event in {timeout}s; got {self.events[start:]}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event_added.wait(), remaining)

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Until the client stops for good (a final close code)."""
        await asyncio.wait_for(asyncio.shield(self._task), timeout)
        return self.final_code

    def has_all(self, message_ids: set[str]) -> bool:
        return message_ids <= self.messages.keys()


class Fleet:
    """Many clients: open them with bounded concurrency, wait on them together."""

    def __init__(self, clients: list[ChatClient]) -> None:
        self.clients = clients

    async def open(self, *, concurrency: int = 50, timeout: float = 120.0) -> float:
        """Connect and sync every client; returns the seconds it took."""
        started = time.monotonic()
        gate = asyncio.Semaphore(concurrency)

        async def one(client: ChatClient) -> None:
            async with gate:
                client.start()
                await client.wait_synced(timeout)

        await asyncio.gather(*(one(c) for c in self.clients))
        return time.monotonic() - started

    async def wait(
        self,
        condition: Callable[[ChatClient], bool],
        timeout: float,
        *,
        what: str = "",
        explain: Callable[[ChatClient], str] | None = None,
    ) -> float:
        """Until `condition` holds for every client; returns the seconds it took.
        On a timeout, `explain` says per lagging client what it is stuck on."""
        started = time.monotonic()
        while True:
            lagging = [c for c in self.clients if not condition(c)]
            if not lagging:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                sample = ", ".join(c.name + (f" ({explain(c)})" if explain else "") for c in lagging[:5])
                raise TimeoutError(f"{len(lagging)} clients never {what or 'got there'} in {timeout}s (e.g. {sample})")
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)

    def outbox_empty(self) -> bool:
        return all(not c.outbox for c in self.clients)
