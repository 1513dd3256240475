"""The Kafka bus (confluent-kafka / librdkafka).

Producer: acks=all with idempotence; `publish` resolves only from the delivery
report, so `accepted` means the broker has the record. A record the broker has
not confirmed within KAFKA_PRODUCE_TIMEOUT_MS fails with `unavailable`.

Batching follows the load. The broker's and the worker's work is per batch,
so lingering to batch saves CPU, but only where there is something to batch:
at a light load the linger is only a delay. So the bus has two producers: an
express one that sends each record at once, used while the process produces
fewer than KAFKA_BATCH_ABOVE_PER_S records a second, and one that lingers
KAFKA_LINGER_MS, used above it. A key's records keep their order: a key whose
records are still unconfirmed on one producer stays on it (docs/performance.md,
"Batching that follows the load").
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings
from django.utils.translation import gettext, gettext_lazy

from chatsite import metrics
from chatsite.errors import Unavailable
from chatsite.handoff import LoopHandoff

logger = logging.getLogger(__name__)


def full_topic(topic: str) -> str:
    return f"{settings.KAFKA_TOPIC_PREFIX}.{topic}"


def dead_letter_topic(topic: str) -> str:
    return f"{settings.KAFKA_TOPIC_PREFIX}.{topic}.dlq"


def client_config() -> dict:
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, **settings.KAFKA_CLIENT_CONFIG}


def producer_config(*, linger_ms: int | None = None) -> dict:
    return {
        **client_config(),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": settings.KAFKA_LINGER_MS if linger_ms is None else linger_ms,
        "message.timeout.ms": settings.KAFKA_PRODUCE_TIMEOUT_MS,
        # librdkafka refuses less than 1 s (a KAFKA_PRODUCE_TIMEOUT_MS below it
        # made every producer fail to start).
        "socket.connection.setup.timeout.ms": max(1000, min(settings.KAFKA_PRODUCE_TIMEOUT_MS, 3000)),
        "reconnect.backoff.max.ms": 1000,
        "queue.buffering.max.messages": 200_000,
        "client.id": f"{settings.NODE_ID}-producer",
    }


# The two producers of a bus (KafkaBus._producers).
EXPRESS, BATCHING = 0, 1
_COUNTED = (metrics.bus_records.labels("express"), metrics.bus_records.labels("batching"))
# How often a bus measures how many records it produces a second.
RATE_SPAN_S = 0.1
# A record whose delivery failed may still be written by the broker later (a
# request in flight when its time ran out): its key stays on that producer
# this long, so that a resend cannot overtake it on the other one.
AFTER_FAILURE_S = 30.0

_topics_ready: set[str] = set()

PRODUCER_STUCK_S = 10.0

# Delivery errors after which an idempotent producer never produces again.
_PRODUCER_DEAD = {
    KafkaError._FATAL,
    KafkaError.PRODUCER_FENCED,
    KafkaError.UNKNOWN_PRODUCER_ID,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    KafkaError.INVALID_PRODUCER_ID_MAPPING,
}
_topics_lock = threading.Lock()


def ensure_topics(topics: list[str], *, timeout: float = 10.0) -> None:
    """Create the topics and their dead-letter topics if missing (idempotent)."""
    wanted = [t for t in topics if t not in _topics_ready]
    if not wanted:
        return
    with _topics_lock:
        admin = AdminClient(client_config())
        names = [full_topic(t) for t in wanted] + [dead_letter_topic(t) for t in wanted]
        existing = set(admin.list_topics(timeout=timeout).topics)
        missing = [n for n in names if n not in existing]
        if missing:
            new = [
                NewTopic(
                    n,
                    num_partitions=settings.KAFKA_PARTITIONS if not n.endswith(".dlq") else 1,
                    replication_factor=settings.KAFKA_REPLICATION_FACTOR,
                )
                for n in missing
            ]
            futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
            for name, future in futures.items():
                try:
                    future.result(timeout=timeout)
                    logger.info("created topic %s", name)
                except KafkaException as exc:
                    if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                        continue
                    raise
        _topics_ready.update(wanted)


class KafkaBus:
    name = "kafka"

    def __init__(self) -> None:
        self._producer_lock = threading.Lock()
        self._broken: str | None = None
        # Since when every delivery of each producer has failed (None: its
        # last one succeeded).
        self._failing_since: list[float | None] = [None, None]
        self._producers = self._new_producers()
        # Which producer each (topic, key) with unconfirmed records is on, and
        # how many: [producer, count]. A key moves only once it has none, and
        # not for AFTER_FAILURE_S after a failed delivery (_after_failure:
        # producer, until when). Records are produced under this lock, and
        # the producers are replaced under it.
        self._route_lock = threading.Lock()
        self._unconfirmed: dict[tuple[str, bytes], list[int]] = {}
        self._after_failure: dict[tuple[str, bytes], tuple[int, float]] = {}
        self._after_failure_order: collections.deque = collections.deque()  # (until, route), oldest first
        self._batch_above = settings.KAFKA_BATCH_ABOVE_PER_S
        self._span_start = time.monotonic()
        self._span_count = 0
        self._rate = 0.0
        self._admin: AdminClient | None = None
        self._ensure_after = 0.0
        self._stop = threading.Event()
        # Delivery outcomes on their way from the poll thread to each loop:
        # one wake-up of a loop carries all that are queued.
        self._handoff = LoopHandoff("kafka delivery reports")
        self._pollers = [
            threading.Thread(target=self._poll, args=(which,), name=f"kafka-producer-poll-{which}", daemon=True)
            for which in (EXPRESS, BATCHING)
        ]
        for poller in self._pollers:
            poller.start()

    def warm_up(self) -> None:
        """Connect to the broker and learn the topics' partitions now, so that
        the first messages do not wait for it (off the event loop: a thread)."""

        def connect() -> None:
            try:
                for producer in self._producers:
                    producer.list_topics(timeout=5)
                    for topic in list(_topics_ready) or ["messages"]:
                        producer.list_topics(full_topic(topic), timeout=5)
            except Exception as exc:
                logger.info("producer warm-up failed (%s); it connects on first use", exc)

        threading.Thread(target=connect, name="kafka-warm-up", daemon=True).start()

    def _new_producers(self) -> list[Producer]:
        express = producer_config(linger_ms=0)
        batching = producer_config()
        return [
            Producer({**express, "client.id": f"{express['client.id']}-express", "error_cb": self._on_error}),
            Producer({**batching, "client.id": f"{batching['client.id']}-batching", "error_cb": self._on_error}),
        ]

    def _on_error(self, err) -> None:
        # librdkafka calls this (on the poll thread) for client-level errors.
        if err.fatal():
            self._mark_broken(f"fatal: {err}")

    def _mark_broken(self, why: str) -> None:
        if self._broken is None:
            logger.warning("the Kafka producer cannot produce any more (%s): replacing it", why)
        self._broken = why

    def _check_delivery(self, which: int, err) -> None:
        """An idempotent producer the broker fenced (a stall past the produce
        timeout bumps its epoch) or no longer knows (a broker that lost its
        state) never produces again: it must be replaced, not retried. One that
        has failed every delivery for PRODUCER_STUCK_S (seen against a broker
        that came back empty: it waits forever for a producer id) is replaced
        too; against a broker that is really down that costs nothing."""
        now = time.monotonic()
        if err is None:
            self._failing_since[which] = None
            return
        if err.fatal() or err.code() in _PRODUCER_DEAD:
            self._mark_broken(str(err))
            return
        since = self._failing_since[which]
        if since is None:
            self._failing_since[which] = now
        elif now - since >= PRODUCER_STUCK_S:
            self._failing_since[which] = None
            self._mark_broken(f"every delivery failed for {PRODUCER_STUCK_S:.0f} s ({err})")

    def _replace_if_broken(self) -> None:
        if self._broken is None:
            return
        with self._producer_lock:
            if self._broken is None:
                return
            new = self._new_producers()
            with self._route_lock:  # nothing is produced to the old pair after this
                old, self._producers = self._producers, new
            self._broken = None
            self._failing_since = [None, None]
        for producer in old:
            try:
                # Its queued records fail now (their senders get `unavailable` and resend).
                producer.purge()
                producer.poll(0)
            except Exception:
                logger.debug("purging the old producer failed", exc_info=True)
        logger.info("Kafka producers replaced")

    def _poll(self, which: int) -> None:
        # Delivery reports are served here, off the event loop (a thread per
        # producer: one waiting in poll does not delay the other's).
        while not self._stop.is_set():
            try:
                self._producers[which].poll(0.05)
            except Exception:
                logger.exception("producer poll failed")
                time.sleep(0.1)

    def _ensure(self, topic: str) -> None:
        """Topics are created at start-up (`manage.py create_topics`); this is the
        fallback for a process that started while the broker was down. After a
        failure it waits a while before asking again, and produces anyway:
        librdkafka then reports the delivery (or its failure) as usual."""
        if topic in _topics_ready or time.monotonic() < self._ensure_after:
            return
        self._ensure_after = time.monotonic() + 5
        try:
            ensure_topics([topic], timeout=2.0)
        except Exception as exc:
            logger.warning("could not ensure topic %s: %s", topic, exc)

    def _produce(self, topic: str, key: str, value: bytes, on_delivery) -> None:
        self._replace_if_broken()
        name, encoded = full_topic(topic), key.encode()
        route = (name, encoded)

        def report(err, msg) -> None:
            self._confirmed(route, failed=err is not None)
            self._check_delivery(which, err)
            on_delivery(err, msg)

        with self._route_lock:
            which = self._route(route, time.monotonic())
            try:
                self._producers[which].produce(name, key=encoded, value=value, on_delivery=report)
            except BaseException as exc:
                self._release(route)
                refused = exc
            else:
                refused = None
        if refused is None:
            _COUNTED[which].inc()
        elif isinstance(refused, BufferError):
            raise Unavailable(gettext("The message broker is not keeping up; retry later.")) from None
        elif isinstance(refused, KafkaException):
            if refused.args and hasattr(refused.args[0], "fatal"):
                self._check_delivery(which, refused.args[0])
            raise Unavailable(gettext("The message broker is unavailable; retry later.")) from refused
        else:
            raise refused

    def _route(self, route: tuple[str, bytes], now: float) -> int:
        """The producer for a record (under the route lock): the one its key's
        unconfirmed records are on, so that they stay in order (or its last
        failed one was on, for AFTER_FAILURE_S); else the express one unless
        this bus produced KAFKA_BATCH_ABOVE_PER_S records a second or more
        over its last measured span (at least RATE_SPAN_S)."""
        elapsed = now - self._span_start
        if elapsed >= RATE_SPAN_S:
            self._rate = self._span_count / elapsed
            self._span_start, self._span_count = now, 0
        self._span_count += 1
        entry = self._unconfirmed.get(route)
        if entry is not None:
            entry[1] += 1
            return entry[0]
        which = BATCHING if self._rate >= self._batch_above else EXPRESS
        if self._after_failure:
            kept = self._after_failure.pop(route, None)
            if kept is not None and kept[1] > now:
                which = kept[0]
                self._after_failure[route] = kept
        self._unconfirmed[route] = [which, 1]
        return which

    def _release(self, route: tuple[str, bytes]) -> None:
        # Under the route lock.
        entry = self._unconfirmed.get(route)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                del self._unconfirmed[route]

    def _confirmed(self, route: tuple[str, bytes], *, failed: bool) -> None:
        with self._route_lock:
            entry = self._unconfirmed.get(route)
            if failed and entry is not None:
                now = time.monotonic()
                order = self._after_failure_order
                while order and order[0][0] <= now:
                    until, old = order.popleft()
                    if self._after_failure.get(old, (0, 0.0))[1] == until:
                        del self._after_failure[old]
                until = now + AFTER_FAILURE_S
                self._after_failure[route] = (entry[0], until)
                order.append((until, route))
            self._release(route)

    def submit(self, *, topic: str, key: str, value: bytes) -> asyncio.Future:
        """Produce the record; the future settles when the broker confirms it
        (or fails to, or KAFKA_PRODUCE_TIMEOUT_MS passes: `unavailable`). A
        plain future with a timer, not a task per record: this is every
        message's path."""
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future = loop.create_future()
        submitted = time.monotonic()

        def expire() -> None:
            if not delivered.done():
                delivered.set_exception(
                    Unavailable(gettext_lazy("The message broker did not confirm the message in time; retry later."))
                )

        timer = loop.call_later(settings.KAFKA_PRODUCE_TIMEOUT_MS / 1000 + 0.5, expire)

        def settle(err) -> None:
            timer.cancel()
            if delivered.done():
                return
            if err is None:
                delivered.set_result(None)
            else:
                delivered.set_exception(
                    Unavailable(gettext_lazy("The message broker did not confirm the message; retry later."))
                )

        def on_delivery(err, msg) -> None:
            # On the poll thread: hand the outcome to the loop.
            metrics.produce_latency.observe(time.monotonic() - submitted)
            if err is not None:
                logger.warning("delivery failed for key %s: %s", key, err)
            self._handoff.hand(loop, settle, err)

        if topic not in _topics_ready:
            # Never block the event loop on the admin API: ensure in the background.
            threading.Thread(target=self._ensure, args=(topic,), daemon=True).start()
        try:
            self._produce(topic, key, value, on_delivery)
        except BaseException:
            timer.cancel()
            raise
        return delivered

    async def publish(self, *, topic: str, key: str, value: bytes) -> None:
        await self.submit(topic=topic, key=key, value=value)

    def publish_sync(self, *, topic: str, key: str, value: bytes) -> None:
        future: concurrent.futures.Future = concurrent.futures.Future()

        def on_delivery(err, msg) -> None:
            if future.done():
                return
            if err is None:
                future.set_result(None)
            else:
                future.set_exception(
                    Unavailable(gettext_lazy("The message broker did not confirm the message; retry later."))
                )

        self._ensure(topic)
        self._produce(topic, key, value, on_delivery)
        try:
            future.result(timeout=settings.KAFKA_PRODUCE_TIMEOUT_MS / 1000 + 0.5)
        except concurrent.futures.TimeoutError:
            raise Unavailable(
                gettext_lazy("The message broker did not confirm the message in time; retry later.")
            ) from None

    def post(self, *, topic: str, key: str, value: bytes) -> None:
        def on_delivery(err, msg) -> None:
            if err is not None:
                logger.warning("a %s record for key %s was lost: %s", topic, key, err)

        if topic not in _topics_ready:
            threading.Thread(target=self._ensure, args=(topic,), daemon=True).start()
        self._produce(topic, key, value, on_delivery)

    def check(self, *, timeout: float) -> None:
        if self._admin is None:
            self._admin = AdminClient(client_config())
        try:
            self._admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise Unavailable(gettext("The message broker does not answer.")) from exc

    def close(self) -> None:
        self._stop.set()
        for producer in self._producers:
            try:
                producer.flush(2)
            except Exception:
                pass
