"""`manage.py redrive_dead_letters`: put dead-lettered records back on their topic."""

from __future__ import annotations

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatsite import bus

# How long a partition may stay silent before its end is reached (the broker
# answers a fetch within a second or so; this is only a guard).
IDLE_LIMIT_S = 10.0


class Command(BaseCommand):
    help = (
        "Re-send the records of a dead-letter topic to the topic they came from (after fixing what made them fail). "
        "Only the records there when it starts: one that fails again comes back to the dead-letter topic for the "
        "next run. Storing is idempotent, so a record that was in fact stored changes nothing. Progress is "
        "committed under the consumer group <KAFKA_CONSUMER_GROUP>-redrive, so a re-run continues where the last "
        "one stopped; Ctrl-C stops after the current record."
    )

    def add_arguments(self, parser):
        parser.add_argument("--topic", default="messages", help="logical topic (default: messages)")
        parser.add_argument("--limit", type=int, default=0, help="stop after this many records (0: all)")
        parser.add_argument("--dry-run", action="store_true", help="only list the records and their reasons")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set.")
        topics = bus.topics(group=None)
        if options["topic"] not in topics:
            raise CommandError(f"no topic {options['topic']!r}: one of {', '.join(topics)}")
        if options["limit"] < 0:
            raise CommandError("--limit must be 0 (all) or more")
        # The Kafka client only where a broker is configured.
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        from chatsite.bus.kafka import client_config, dead_letter_topic, full_topic

        source, target = dead_letter_topic(options["topic"]), full_topic(options["topic"])
        consumer = Consumer(
            {
                **client_config(),
                "group.id": f"{settings.KAFKA_CONSUMER_GROUP}-redrive",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        stop = _StopOnInterrupt()
        try:
            try:
                # Where each partition ends now: a record that fails again is
                # dead-lettered after these and waits for the next run.
                meta = consumer.list_topics(source, timeout=10).topics.get(source)
                if meta is None or meta.error is not None:
                    raise CommandError(f"no dead-letter topic {source} (run create_topics)")
                started_ms = int(time.time() * 1000)
                ends = {
                    p: consumer.get_watermark_offsets(TopicPartition(source, p), timeout=10)[1]
                    for p in sorted(meta.partitions)
                }
            except KafkaException as exc:
                raise CommandError(f"the broker at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {exc}") from None
            moved = self._move(consumer, source, target, ends, started_ms, stop, options)
        finally:
            stop.restore()
            consumer.close()
        verb = "listed" if options["dry_run"] else "re-sent"
        self.stdout.write(f"{verb} {moved} records from {source} to {target}")
        if stop.interrupted:
            self.stdout.write("interrupted: run it again to continue")

    def _move(self, consumer, source: str, target: str, ends: dict[int, int], started_ms: int, stop, options) -> int:
        """Re-send (or list) the records of `source` up to `ends` (partition →
        its end when the run began, at `started_ms`); returns how many. A
        partition is done at its end of file, or at a record dead-lettered
        since the run began."""
        # The Kafka client only where a broker is configured.
        from confluent_kafka import KafkaError, Producer, TopicPartition

        from chatsite.bus.kafka import client_config

        producer = Producer({**client_config(), "acks": "all", "enable.idempotence": True})
        # Each partition from the group's committed offset (else its start).
        consumer.assign([TopicPartition(source, p) for p in ends])
        moved = 0
        idle_since = time.monotonic()
        while ends and not stop.interrupted and (not options["limit"] or moved < options["limit"]):
            msg = consumer.poll(0.5)
            if msg is None:
                if time.monotonic() - idle_since > IDLE_LIMIT_S:
                    self.stderr.write(f"no records came from {source} for {IDLE_LIMIT_S:.0f} s: stopping")
                    break
                continue
            idle_since = time.monotonic()
            partition = msg.partition()
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    ends.pop(partition, None)
                continue
            if partition not in ends:
                continue
            if msg.offset() >= ends[partition] and not _written_before(msg, started_ms):
                # Dead-lettered since this run began (a record re-sent here
                # that failed again): it waits for the next run.
                ends.pop(partition)
                continue
            headers = dict(msg.headers() or [])
            reason = (headers.get("reason") or b"").decode("utf-8", "replace")
            self.stdout.write(f"{source}[{partition}]@{msg.offset()} key={msg.key()!r}: {reason}")
            if not options["dry_run"]:
                producer.produce(target, key=msg.key(), value=msg.value(), headers=[("redriven", b"1")])
                if producer.flush(10):
                    raise CommandError(
                        f"the broker did not confirm the re-sent record; {moved} re-sent and committed before it"
                    )
                consumer.commit(message=msg, asynchronous=False)
            moved += 1
        return moved


def _written_before(msg, started_ms: int) -> bool:
    """Whether a record past the end noted at start was in fact written before
    the run began. (Tansu reports a partition's end as the first offset of its
    last batch + 1, so the rest of that batch lies past it; Kafka never
    does.)"""
    kind, timestamp = msg.timestamp()
    return timestamp > 0 and timestamp < started_ms


class _StopOnInterrupt:
    """Ctrl-C (SIGINT) asks the loop to stop after the record in hand (re-sent
    and committed, or not touched), instead of raising in the middle of it."""

    def __init__(self) -> None:
        self.interrupted = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self.interrupted = True

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
