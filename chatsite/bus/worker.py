"""The Kafka consumer side: `manage.py run_message_worker`.

A loop over `process_one()` (which tests call directly). Each poll takes up
to KAFKA_MAX_POLL_RECORDS records, hands them to the topic's handler as one
batch, and stores their offsets only after the handler returned (that is,
after the database commit); librdkafka commits stored offsets every second and
on every rebalance. A crash therefore redelivers, never skips; handlers are
idempotent, so a redelivery changes nothing.

A record the handler rejects goes to the topic's dead-letter topic with the
reason and the partition keeps moving. A failure of the whole batch (the
database is down) is retried with backoff while the partitions are paused;
if the partitions are taken away meanwhile, the batch is dropped: the new
owner will process it.

A worker left with no partition checks every few seconds that its topics
exist and creates them again if the broker lost them (a broker restarted
without its data), then joins the group again with a new consumer.
A dead-letter producer that fails to confirm a record is replaced before the
batch is retried (a fenced or fatal producer never recovers by itself).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.db import close_old_connections

from chatsite import bus, db, metrics
from chatsite.bus import Record
from chatsite.bus.kafka import client_config, dead_letter_topic, ensure_topics, full_topic

logger = logging.getLogger(__name__)

RETRY_BACKOFF_MAX_S = 5.0
LAG_INTERVAL_S = 10.0
TOPIC_CHECK_INTERVAL_S = 5.0
# How long a hole in a partition's offsets is read again before it is taken
# as real (see Worker._without_holes).
GAP_WAIT_S = 5.0


def consumer_config(group: str = bus.STORE, group_id: str | None = None) -> dict:
    """The consumer of a handler group (`group_id`: its Kafka group, when
    not the usual one)."""
    store = group == bus.STORE
    return {
        **client_config(),
        "group.id": group_id or group_id_for(group),
        "client.id": f"{settings.NODE_ID}-worker",
        # Where a group with no committed offset starts: the store group at
        # the beginning (nothing accepted may be skipped); the others at the
        # end (a notifier deployed today does not notify of last week).
        "auto.offset.reset": "earliest" if store else "latest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": settings.KAFKA_COMMIT_INTERVAL_MS,
        # Offsets are stored by us, after the database commit, never by poll().
        "enable.auto.offset.store": False,
        "session.timeout.ms": settings.KAFKA_SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": settings.KAFKA_HEARTBEAT_INTERVAL_MS,
        # Every idle consumer costs the broker a fetch per wait (Tansu answers
        # an empty fetch at its deadline): the followers, whose latency no
        # sender waits on, wait longer (four groups at 25 ms cost Tansu ~150
        # ms of CPU a second at idle; docs/performance.md).
        "fetch.wait.max.ms": settings.KAFKA_FETCH_WAIT_MAX_MS if store else settings.KAFKA_FOLLOWER_FETCH_WAIT_MAX_MS,
        "max.poll.interval.ms": 300_000,
        "partition.assignment.strategy": "range,roundrobin",
        # Topics recreated on a broker that lost its data are seen within 5 s.
        "topic.metadata.refresh.interval.ms": 5000,
    }


def group_id_for(group: str) -> str:
    """The Kafka consumer group of a handler group: KAFKA_CONSUMER_GROUP for
    `store`, `<KAFKA_CONSUMER_GROUP>-<group>` for the others."""
    return settings.KAFKA_CONSUMER_GROUP if group == bus.STORE else f"{settings.KAFKA_CONSUMER_GROUP}-{group}"


_store_probe: Consumer | None = None
_store_probe_lock = threading.Lock()


def store_committed(records: list[Record]) -> dict[tuple[str, int], int]:
    """The `store` group's committed offset of each (topic, partition) these
    records came from: a record below it has been handled by the message
    worker. (Offsets are committed every KAFKA_COMMIT_INTERVAL_MS.)"""
    global _store_probe
    wanted = sorted({(r.topic, r.partition) for r in records if r.partition >= 0})
    if not wanted:
        return {}
    with _store_probe_lock:
        if _store_probe is None:
            _store_probe = Consumer(
                {**client_config(), "group.id": settings.KAFKA_CONSUMER_GROUP, "enable.auto.commit": False}
            )
        committed = _store_probe.committed([TopicPartition(full_topic(t), p) for t, p in wanted], timeout=5.0)
    by_full = {full_topic(t): t for t, _ in wanted}
    return {(by_full[tp.topic], tp.partition): tp.offset for tp in committed if tp.offset >= 0}


class Worker:
    def __init__(self, *, topics: list[str] | None = None, group_id: str | None = None, group: str = bus.STORE) -> None:
        self.group = group
        self.topics = topics or bus.topics(group=group)
        ensure_topics(self.topics)
        self._by_full = {full_topic(t): t for t in self.topics}
        group_id = group_id or group_id_for(group)
        self._group_id = group_id
        self.consumer = Consumer(consumer_config(group, group_id), logger=logger)
        self.dlq = _dead_letter_producer()
        self._admin: AdminClient | None = None
        self.stopping = False
        self.assigned: set[tuple[str, int]] = set()
        # The offset each partition's next record should have, and since when
        # a hole before a later one has been read again.
        self._next: dict[tuple[str, int], int] = {}
        self._holes: dict[tuple[str, int], tuple[int, float]] = {}
        self._revoked_during_batch = False
        self._subscribe()
        self.stats = {"records": 0, "batches": 0, "dead_lettered": 0, "retries": 0, "refetches": 0}

    def _subscribe(self) -> None:
        self.consumer.subscribe(list(self._by_full), on_assign=self._on_assign, on_revoke=self._on_revoke)

    def check_topics(self) -> bool:
        """Make sure the topics exist, creating the missing ones (a broker that
        lost its data). Returns True if it created any. (A consumer whose broker
        vanished may still believe it holds its partitions, so this runs
        whatever the assignment: one metadata request every TOPIC_CHECK_INTERVAL_S.)"""
        # The Kafka client only where a broker is configured.
        from chatsite.bus import kafka

        names = [full_topic(t) for t in self.topics] + [dead_letter_topic(t) for t in self.topics]
        try:
            if self._admin is None:
                self._admin = AdminClient(client_config())
            existing = set(self._admin.list_topics(timeout=5.0).topics)
            missing = [n for n in names if n not in existing]
            if not missing:
                return False
            kafka._topics_ready.difference_update(self.topics)
            ensure_topics(self.topics, timeout=5.0)
        except Exception as exc:
            logger.info("could not check the topics: %s", exc)
            return False
        # The consumer sees them at its next metadata refresh (every 5 s, see
        # consumer_config) and joins them itself; librdkafka resets positions
        # that are past the end of the new, empty partitions.
        logger.warning("topics %s were missing: created again", missing)
        return True

    # ------------------------------------------------------------------ rebalance callbacks

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned = {(p.topic, p.partition) for p in partitions}
        self._next.clear()
        self._holes.clear()
        logger.info("assigned %s", sorted(self.assigned))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("revoked %s", sorted((p.topic, p.partition) for p in partitions))
        self._revoked_during_batch = True
        self.assigned = set()

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        logger.info("worker started on %s (group %s)", sorted(self._by_full), self._group_id)
        next_lag = 0.0
        next_topic_check = time.monotonic() + TOPIC_CHECK_INTERVAL_S
        try:
            while not self.stopping:
                self.process_one(timeout=0.5)
                if time.monotonic() >= next_lag:
                    next_lag = time.monotonic() + LAG_INTERVAL_S
                    self.report_lag()
                if time.monotonic() >= next_topic_check:
                    next_topic_check = time.monotonic() + TOPIC_CHECK_INTERVAL_S
                    self.check_topics()
        finally:
            self.close()

    def report_lag(self) -> dict[tuple[str, int], int]:
        """Records not yet consumed per assigned partition: to the metrics gauge,
        and to Redis for `manage.py status` (expires if this worker dies)."""
        lags: dict[tuple[str, int], int] = {}
        try:
            assignment = self.consumer.assignment()
            if assignment:
                positions = self.consumer.position(assignment)
                for tp in positions:
                    low, high = self.consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
                    position = tp.offset if tp.offset >= 0 else low
                    lags[(tp.topic, tp.partition)] = max(0, high - position)
        except KafkaException as exc:
            logger.info("could not read lag: %s", exc)
            return lags
        for (topic, partition), lag in lags.items():
            metrics.consumer_lag.labels(topic, str(partition)).set(lag)
        if settings.REDIS_URL and lags:
            # Redis only where it is configured (the lag report).
            from chatsite import redis as rds

            try:
                key = rds.key("lag", self._group_id)
                pipe = rds.client().pipeline(transaction=False)
                pipe.hset(key, mapping={f"{t}:{p}": lag for (t, p), lag in lags.items()})
                pipe.expire(key, int(LAG_INTERVAL_S * 6))
                pipe.execute()
            except Exception as exc:
                logger.info("could not publish lag: %s", exc)
        return lags

    def _request_stop(self, signum, frame) -> None:
        logger.info("signal %s: finishing the current batch, then stopping", signum)
        self.stopping = True

    def close(self) -> None:
        try:
            self.consumer.close()  # commits the stored offsets and leaves the group
        except Exception:
            logger.debug("consumer close failed", exc_info=True)
        self.dlq.flush(5)
        logger.info("worker stopped: %s %s", self.stats, dict(bus.counters))

    def process_one(self, *, timeout: float = 1.0) -> int:
        """Poll once and handle what came; returns the number of records handled."""
        # consume(n, timeout) waits for the whole timeout unless n records came:
        # wait for the first record only, then take whatever else is already here.
        first = self.consumer.poll(timeout)
        if first is None:
            return 0
        messages = [first]
        if settings.KAFKA_MAX_POLL_RECORDS > 1:
            messages += self.consumer.consume(num_messages=settings.KAFKA_MAX_POLL_RECORDS - 1, timeout=0)
        records: list[tuple[Message, Record]] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    logger.warning("consume error: %s", err)
                continue
            headers = {k: v for k, v in (msg.headers() or []) if v is not None}
            records.append(
                (
                    msg,
                    Record(
                        topic=self._by_full.get(msg.topic(), msg.topic()),
                        key=(msg.key() or b"").decode("utf-8", "replace"),
                        value=msg.value() or b"",
                        partition=msg.partition(),
                        offset=msg.offset(),
                        headers=headers,
                    ),
                )
            )
        records = self._without_holes(records)
        if not records:
            return 0
        self._revoked_during_batch = False
        if not self._handle_with_retry(records):
            return 0
        offsets = [
            TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)
            for msg, _ in _last_per_partition(records)
            if (msg.topic(), msg.partition()) in self.assigned
        ]
        if offsets:
            try:
                self.consumer.store_offsets(offsets=offsets)
            except KafkaException as exc:
                # Revoked meanwhile: the new owner redelivers; storing is idempotent.
                logger.info("could not store offsets (%s)", exc)
        self.stats["records"] += len(records)
        self.stats["batches"] += 1
        logger.debug("batch of %d records done", len(records))
        return len(records)

    def _without_holes(self, records: list[tuple[Message, Record]]) -> list[tuple[Message, Record]]:
        """The records of the poll up to the first hole in each partition.

        A partition's offsets have no holes here (no compaction, no
        transactions), so a record past the offset expected means the fetch
        skipped some: seen with Tansu and two producers writing one
        partition at once, records 72-74 came after 75 and the worker
        never received them, though they were in the log (acknowledged, and
        never stored). The records after the hole are dropped from this
        batch and the partition is read again from the hole, for up to
        GAP_WAIT_S; a hole still there then is taken as real and logged."""
        kept: list[tuple[Message, Record]] = []
        cut: set[tuple[str, int]] = set()
        now = time.monotonic()
        for msg, record in records:
            tp = (msg.topic(), msg.partition())
            if tp in cut:
                continue
            offset = msg.offset()
            expected = self._next.get(tp)
            if expected is not None and offset > expected:
                first_seen = self._holes.get(tp)
                if first_seen is None or first_seen[0] != expected:
                    # Once per hole, not per read again.
                    first_seen = self._holes[tp] = (expected, now)
                    logger.warning(
                        "%s[%d]: offsets %d-%d skipped by the fetch; reading again", *tp, expected, offset - 1
                    )
                if now - first_seen[1] < GAP_WAIT_S:
                    self.stats["refetches"] += 1
                    cut.add(tp)
                    try:
                        self.consumer.seek(TopicPartition(tp[0], tp[1], expected))
                    except KafkaException as exc:
                        # Revoked meanwhile: its new owner reads it from the committed offset.
                        logger.info("could not read %s[%d] again (%s)", *tp, exc)
                    continue
                logger.error(
                    "%s[%d]: offsets %d-%d missing for %.0f s; going on without them",
                    *tp,
                    expected,
                    offset - 1,
                    GAP_WAIT_S,
                )
            self._holes.pop(tp, None)
            self._next[tp] = max(offset + 1, expected or 0)
            kept.append((msg, record))
        return kept

    def _handle_with_retry(self, records: list[tuple[Message, Record]]) -> bool:
        backoff = 0.2
        paused = False
        try:
            while True:
                try:
                    self._handle(records)
                    return True
                except Exception:
                    logger.exception("batch of %d records failed; retrying", len(records))
                    self.stats["retries"] += 1
                    close_old_connections()
                    if not paused:
                        self.consumer.pause(self.consumer.assignment())
                        paused = True
                    deadline = time.monotonic() + backoff
                    while time.monotonic() < deadline and not self._revoked_during_batch:
                        # Keeps the group membership alive; paused partitions deliver nothing.
                        self.consumer.poll(0.1)
                    backoff = min(backoff * 2, RETRY_BACKOFF_MAX_S)
                    if self._revoked_during_batch:
                        logger.warning("partitions revoked during retry: leaving the batch to their new owner")
                        return False
                    if self.stopping:
                        return False
        finally:
            if paused and not self._revoked_during_batch:
                self.consumer.resume(self.consumer.assignment())

    def _handle(self, records: list[tuple[Message, Record]]) -> None:
        # Django's connection upkeep every few seconds, not before every
        # batch (it pings the server each time); a failed batch does the
        # full upkeep before its retry (_handle_with_retry).
        db.maintain()
        by_topic: dict[str, list[Record]] = defaultdict(list)
        for _, record in records:
            by_topic[record.topic].append(record)
        for topic, batch in by_topic.items():
            try:
                handler = bus.handler_for(topic, group=self.group)
            except KeyError:
                rejected = [(r, f"no handler for topic {topic}") for r in batch]
            else:
                rejected = handler(batch)
            for record, reason in rejected:
                self._dead_letter(record, reason)

    def _dead_letter(self, record: Record, reason: str) -> None:
        logger.warning("dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
        failures: list[object] = []

        def on_delivery(err, msg) -> None:
            if err is not None:
                failures.append(err)

        try:
            self.dlq.produce(
                dead_letter_topic(record.topic),
                key=record.key.encode(),
                value=record.value,
                headers=[
                    ("reason", reason[:500].encode()),
                    ("topic", record.topic.encode()),
                    ("partition", str(record.partition).encode()),
                    ("offset", str(record.offset).encode()),
                ],
                on_delivery=on_delivery,
            )
            remaining = self.dlq.flush(10)
        except (KafkaException, BufferError) as exc:
            failures.append(exc)
            remaining = 0
        # The partition only moves on once the dead letter is safely written:
        # a failed delivery report counts, not only a flush that timed out.
        if remaining or failures:
            self._replace_dead_letter_producer()
            raise RuntimeError(f"the dead-letter topic did not confirm the record: {failures or 'timed out'}")
        self.stats["dead_lettered"] += 1
        metrics.dead_lettered.labels(record.topic).inc()

    def _replace_dead_letter_producer(self) -> None:
        """A producer that could not deliver may be fenced or in a fatal state,
        which it never leaves: the retry uses a new one."""
        old, self.dlq = self.dlq, _dead_letter_producer()
        try:
            old.purge()
            old.flush(0)
        except Exception:
            logger.debug("discarding the dead-letter producer failed", exc_info=True)


def _dead_letter_producer() -> Producer:
    return Producer({**client_config(), "acks": "all", "enable.idempotence": True, "linger.ms": 0})


def _last_per_partition(records: list[tuple[Message, Record]]) -> list[tuple[Message, Record]]:
    last: dict[tuple[str, int], tuple[Message, Record]] = {}
    for msg, record in records:
        last[(msg.topic(), msg.partition())] = (msg, record)
    return list(last.values())
