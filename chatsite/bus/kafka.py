"""The Kafka bus (confluent-kafka / librdkafka).

Producer: acks=all with idempotence; `publish` resolves only from the delivery
report, so `accepted` means the broker has the record. A record the broker has
not confirmed within KAFKA_PRODUCE_TIMEOUT_MS fails with `unavailable`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

from chatsite import metrics
from chatsite.errors import Unavailable

logger = logging.getLogger(__name__)


def full_topic(topic: str) -> str:
    return f"{settings.KAFKA_TOPIC_PREFIX}.{topic}"


def dead_letter_topic(topic: str) -> str:
    return f"{settings.KAFKA_TOPIC_PREFIX}.{topic}.dlq"


def client_config() -> dict:
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, **settings.KAFKA_CLIENT_CONFIG}


def producer_config() -> dict:
    return {
        **client_config(),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": settings.KAFKA_LINGER_MS,
        "message.timeout.ms": settings.KAFKA_PRODUCE_TIMEOUT_MS,
        # librdkafka refuses less than 1 s (a KAFKA_PRODUCE_TIMEOUT_MS below it
        # made every producer fail to start).
        "socket.connection.setup.timeout.ms": max(1000, min(settings.KAFKA_PRODUCE_TIMEOUT_MS, 3000)),
        "reconnect.backoff.max.ms": 1000,
        "queue.buffering.max.messages": 200_000,
        "client.id": f"{settings.NODE_ID}-producer",
    }


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
        # Since when every delivery has failed (None: the last one succeeded).
        self._failing_since: float | None = None
        self._producer = self._new_producer()
        self._admin: AdminClient | None = None
        self._ensure_after = 0.0
        self._stop = threading.Event()
        # Delivery outcomes on their way from the poll thread to each loop
        # (_hand_to_loop): one wake-up of a loop carries all that are queued.
        self._settling: dict[asyncio.AbstractEventLoop, list] = {}
        self._settling_lock = threading.Lock()
        self._poller = threading.Thread(target=self._poll, name="kafka-producer-poll", daemon=True)
        self._poller.start()

    def warm_up(self) -> None:
        """Connect to the broker and learn the topics' partitions now, so that
        the first messages do not wait for it (off the event loop: a thread)."""

        def connect() -> None:
            try:
                self._producer.list_topics(timeout=5)
                for topic in list(_topics_ready) or ["messages"]:
                    self._producer.list_topics(full_topic(topic), timeout=5)
            except Exception as exc:
                logger.info("producer warm-up failed (%s); it connects on first use", exc)

        threading.Thread(target=connect, name="kafka-warm-up", daemon=True).start()

    def _new_producer(self) -> Producer:
        return Producer({**producer_config(), "error_cb": self._on_error})

    def _on_error(self, err) -> None:
        # librdkafka calls this (on the poll thread) for client-level errors.
        if err.fatal():
            self._mark_broken(f"fatal: {err}")

    def _mark_broken(self, why: str) -> None:
        if self._broken is None:
            logger.warning("the Kafka producer cannot produce any more (%s): replacing it", why)
        self._broken = why

    def _check_delivery(self, err) -> None:
        """An idempotent producer the broker fenced (a stall past the produce
        timeout bumps its epoch) or no longer knows (a broker that lost its
        state) never produces again: it must be replaced, not retried. One that
        has failed every delivery for PRODUCER_STUCK_S (seen against a broker
        that came back empty: it waits forever for a producer id) is replaced
        too; against a broker that is really down that costs nothing."""
        now = time.monotonic()
        if err is None:
            self._failing_since = None
            return
        if err.fatal() or err.code() in _PRODUCER_DEAD:
            self._mark_broken(str(err))
            return
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since >= PRODUCER_STUCK_S:
            self._failing_since = None
            self._mark_broken(f"every delivery failed for {PRODUCER_STUCK_S:.0f} s ({err})")

    def _replace_if_broken(self) -> None:
        if self._broken is None:
            return
        with self._producer_lock:
            if self._broken is None:
                return
            old, self._producer = self._producer, self._new_producer()
            self._broken = None
        try:
            # Its queued records fail now (their senders get `unavailable` and resend).
            old.purge()
            old.poll(0)
        except Exception:
            logger.debug("purging the old producer failed", exc_info=True)
        logger.info("Kafka producer replaced")

    def _poll(self) -> None:
        # Delivery reports are served here, off the event loop.
        while not self._stop.is_set():
            try:
                self._producer.poll(0.05)
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

        def report(err, msg) -> None:
            self._check_delivery(err)
            on_delivery(err, msg)

        try:
            self._producer.produce(full_topic(topic), key=key.encode(), value=value, on_delivery=report)
        except BufferError:
            raise Unavailable("The message broker is not keeping up; retry later.") from None
        except KafkaException as exc:
            if exc.args and hasattr(exc.args[0], "fatal"):
                self._check_delivery(exc.args[0])
            raise Unavailable("The message broker is unavailable; retry later.") from exc

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
                    Unavailable("The message broker did not confirm the message in time; retry later.")
                )

        timer = loop.call_later(settings.KAFKA_PRODUCE_TIMEOUT_MS / 1000 + 0.5, expire)

        def settle(err) -> None:
            timer.cancel()
            if delivered.done():
                return
            if err is None:
                delivered.set_result(None)
            else:
                delivered.set_exception(Unavailable("The message broker did not confirm the message; retry later."))

        def on_delivery(err, msg) -> None:
            # On the poll thread: hand the outcome to the loop.
            metrics.produce_latency.observe(time.monotonic() - submitted)
            if err is not None:
                logger.warning("delivery failed for key %s: %s", key, err)
            self._hand_to_loop(loop, settle, err)

        if topic not in _topics_ready:
            # Never block the event loop on the admin API: ensure in the background.
            threading.Thread(target=self._ensure, args=(topic,), daemon=True).start()
        try:
            self._produce(topic, key, value, on_delivery)
        except BaseException:
            timer.cancel()
            raise
        return delivered

    def _hand_to_loop(self, loop: asyncio.AbstractEventLoop, settle, err) -> None:
        """On the poll thread: queue a delivery outcome for `loop`. Only the
        first of a run wakes the loop (a write to its self-pipe); the ones
        that come before it ran are settled in the same call."""
        if loop.is_closed():
            return  # nobody is waiting any more
        with self._settling_lock:
            queued = self._settling.get(loop)
            wake = queued is None
            if wake:
                # A run left for a loop that stopped before it ran is dropped
                # with the loop (tests run many loops in one process).
                for gone in [other for other in self._settling if other.is_closed()]:
                    del self._settling[gone]
                queued = self._settling[loop] = []
            queued.append((settle, err))
        if wake:
            try:
                loop.call_soon_threadsafe(self._settle_queued, loop)
            except RuntimeError:  # the loop is gone
                with self._settling_lock:
                    self._settling.pop(loop, None)

    def _settle_queued(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._settling_lock:
            queued = self._settling.pop(loop, [])
        for settle, err in queued:
            try:
                settle(err)
            except Exception:  # one message's answer never costs the others theirs
                logger.exception("settling a delivery report failed")

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
                future.set_exception(Unavailable("The message broker did not confirm the message; retry later."))

        self._ensure(topic)
        self._produce(topic, key, value, on_delivery)
        try:
            future.result(timeout=settings.KAFKA_PRODUCE_TIMEOUT_MS / 1000 + 0.5)
        except concurrent.futures.TimeoutError:
            raise Unavailable("The message broker did not confirm the message in time; retry later.") from None

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
            raise Unavailable("The message broker does not answer.") from exc

    def close(self) -> None:
        self._stop.set()
        try:
            self._producer.flush(2)
        except Exception:
            pass
