"""The in-process bus: records are handled on one background thread, in order.

`publish` resolves once the handler committed the record, so `accepted`
(which the gateway sends when publish resolves) is never sent for a record
that is not stored. The socket is not blocked while the record is stored.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections import defaultdict

from django.conf import settings
from django.db import close_old_connections, connection

from chatsite.bus import Record, handler_for
from chatsite.errors import Invalid, Unavailable

logger = logging.getLogger(__name__)

BATCH_MAX = 200


class InProcessBus:
    name = "inprocess"

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Record, concurrent.futures.Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bus-inprocess", daemon=True)
        self._closed = False
        self._thread.start()

    def _submit(self, topic: str, key: str, value: bytes) -> concurrent.futures.Future:
        if self._closed:
            raise Unavailable("The message bus is shutting down.")
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
            raise Unavailable("Storage is slow; retry with the same client_msg_id.") from None

    async def publish(self, *, topic: str, key: str, value: bytes) -> None:
        await self.submit(topic=topic, key=key, value=value)

    def publish_sync(self, *, topic: str, key: str, value: bytes) -> None:
        future = self._submit(topic, key, value)
        try:
            future.result(timeout=self._timeout())
        except concurrent.futures.TimeoutError:
            raise Unavailable("Storage is slow; retry with the same client_msg_id.") from None

    def check(self, *, timeout: float) -> None:
        if not self._thread.is_alive():
            raise Unavailable("The in-process bus thread is not running.")

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)

    def pending(self) -> int:
        return self._queue.qsize()

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
            self._handle(batch)
        connection.close()

    def _handle(self, batch: list[tuple[Record, concurrent.futures.Future]]) -> None:
        close_old_connections()
        by_topic: dict[str, list[tuple[Record, concurrent.futures.Future]]] = defaultdict(list)
        for record, future in batch:
            by_topic[record.topic].append((record, future))
        for topic, items in by_topic.items():
            records = [r for r, _ in items]
            try:
                rejected = handler_for(topic)(records)
            except Exception:
                logger.exception("in-process handler for %s failed on %d records", topic, len(records))
                close_old_connections()
                for _, future in items:
                    if not future.done():
                        future.set_exception(Unavailable("Storing failed; retry with the same client_msg_id."))
                continue
            reasons = {id(r): reason for r, reason in rejected}
            for record, future in items:
                if future.done():
                    continue
                if id(record) in reasons:
                    logger.warning("in-process record rejected: %s", reasons[id(record)])
                    future.set_exception(Invalid(f"The message could not be stored: {reasons[id(record)]}"))
                else:
                    future.set_result(None)
