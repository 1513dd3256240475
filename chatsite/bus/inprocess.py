"""The in-process bus: records are handled on one background thread, in order.

`publish` resolves once the handler committed the record, so `accepted`
(which the gateway sends when publish resolves) is never sent for a record
that is not stored. The socket is not blocked while the record is stored.

Consumer groups other than `store` (the notifier) each get a thread and a
queue of their own: a topic's records reach them after the `store` group
handled them, and a slow group only fills its own queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import queue
import threading
from collections import defaultdict

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_lazy

from chatsite import bus
from chatsite.bus import HANDLED, STORE, Record, handler_for
from chatsite.errors import Invalid, Unavailable

logger = logging.getLogger(__name__)


def _told_not_stored(reason: str) -> str:
    return gettext("The message could not be stored: %(n)s") % {"n": reason}


# Made on the bus's thread, told in the sender's language when rendered.
_not_stored = lazy(_told_not_stored, str)

BATCH_MAX = 200


class InProcessBus:
    name = "inprocess"

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Record, concurrent.futures.Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bus-inprocess", daemon=True)
        self._closed = False
        self._followers: dict[str, _Follower] = {}
        self._thread.start()

    def _submit(self, topic: str, key: str, value: bytes) -> concurrent.futures.Future:
        if self._closed:
            raise Unavailable(gettext("The message bus is shutting down."))
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((Record(topic=topic, key=key, value=value), future))
        return future

    @staticmethod
    def _timeout() -> float:
        return settings.KAFKA_PRODUCE_TIMEOUT_MS / 1000 + 1

    def submit(self, *, topic: str, key: str, value: bytes) -> asyncio.Future:
        future = self._submit(topic, key, value)
        return asyncio.ensure_future(self._wait(future))

    async def _wait(self, future: concurrent.futures.Future) -> None:
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), timeout=self._timeout())
        except TimeoutError:
            raise Unavailable(gettext("Storage is slow; retry with the same client_msg_id.")) from None

    async def publish(self, *, topic: str, key: str, value: bytes) -> None:
        await self.submit(topic=topic, key=key, value=value)

    def publish_sync(self, *, topic: str, key: str, value: bytes) -> None:
        future = self._submit(topic, key, value)
        try:
            future.result(timeout=self._timeout())
        except concurrent.futures.TimeoutError:
            raise Unavailable(gettext("Storage is slow; retry with the same client_msg_id.")) from None

    def post(self, *, topic: str, key: str, value: bytes) -> None:
        self._submit(topic, key, value)

    def check(self, *, timeout: float) -> None:
        if not self._thread.is_alive():
            raise Unavailable(gettext("The in-process bus thread is not running."))

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        for follower in self._followers.values():
            follower.close()

    def pending(self) -> int:
        return self._queue.qsize()

    def backlog(self, group: str) -> int:
        """Records waiting for consumer group `group` (0 for one never started)."""
        follower = self._followers.get(group)
        return follower.queue.qsize() if follower else 0

    def _follow(self, topic: str, records: list[Record]) -> None:
        """Hand records the `store` group has handled to every other group of
        the topic, marked so (header `handled`: a follower need not wait for
        the store step, which in Kafka runs beside it)."""
        records = [dataclasses.replace(r, headers={**r.headers, HANDLED: STORE.encode()}) for r in records]
        for group in bus.groups():
            if group == STORE or topic not in bus.topics(group=group):
                continue
            follower = self._followers.get(group)
            if follower is None:
                follower = self._followers.setdefault(group, _Follower(group))
            follower.queue.put(records)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < BATCH_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            try:
                self._handle(batch)
            except Exception:
                # Never the thread's end (every later send would time out): a
                # batch that fails outside its handler, such as the database
                # refusing a connection before it began, fails its senders,
                # who resend, and the next batch is tried.
                logger.exception("the in-process bus failed on a batch of %d records", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(
                            Unavailable(gettext_lazy("Storing failed; retry with the same client_msg_id."))
                        )
        connection.close()

    def _handle(self, batch: list[tuple[Record, concurrent.futures.Future]]) -> None:
        close_old_connections()
        by_topic: dict[str, list[tuple[Record, concurrent.futures.Future]]] = defaultdict(list)
        for record, future in batch:
            by_topic[record.topic].append((record, future))
        for topic, items in by_topic.items():
            records = [r for r, _ in items]
            if topic not in bus.topics(group=STORE):
                # A topic only other groups consume (notifications): durable once queued.
                self._follow(topic, records)
                for _, future in items:
                    future.set_result(None)
                continue
            try:
                rejected = handler_for(topic)(records)
            except Exception:
                logger.exception("in-process handler for %s failed on %d records", topic, len(records))
                close_old_connections()
                for _, future in items:
                    if not future.done():
                        future.set_exception(
                            Unavailable(gettext_lazy("Storing failed; retry with the same client_msg_id."))
                        )
                continue
            reasons = {id(r): reason for r, reason in rejected}
            self._follow(topic, [r for r in records if id(r) not in reasons])
            for record, future in items:
                if future.done():
                    continue
                if id(record) in reasons:
                    logger.warning("in-process record rejected: %s", reasons[id(record)])
                    future.set_exception(Invalid(_not_stored(reasons[id(record)])))
                else:
                    future.set_result(None)


class _Follower:
    """One consumer group other than `store`: its own thread, in order."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.queue: queue.Queue[list[Record] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"bus-{group}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.queue.put(None)

    def _run(self) -> None:
        while True:
            records = self.queue.get()
            if records is None:
                break
            try:
                close_old_connections()
            except Exception:
                logger.exception("in-process %s: could not check the database connection", self.group)
            by_topic: dict[str, list[Record]] = defaultdict(list)
            for record in records:
                by_topic[record.topic].append(record)
            for topic, batch in by_topic.items():
                try:
                    rejected = handler_for(topic, group=self.group)(batch)
                except Exception:
                    # Followers are best effort (a push): log and go on.
                    logger.exception("in-process %s handler for %s failed on %d records", self.group, topic, len(batch))
                    close_old_connections()
                    continue
                for _, reason in rejected:
                    logger.warning("in-process %s record rejected: %s", self.group, reason)
        connection.close()
