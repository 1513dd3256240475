"""`manage.py redrive_dead_letters`: put dead-lettered records back on their topic."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Re-send the records of a dead-letter topic to the topic they came from (after fixing what made them fail). "
        "Storing is idempotent, so a record that was in fact stored changes nothing. Progress is committed under the "
        "consumer group <KAFKA_CONSUMER_GROUP>-redrive, so a re-run continues where the last one stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--topic", default="messages", help="logical topic (default: messages)")
        parser.add_argument("--limit", type=int, default=0, help="stop after this many records (0: all)")
        parser.add_argument("--dry-run", action="store_true", help="only list the records and their reasons")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set.")
        # The Kafka client only where a broker is configured.
        from confluent_kafka import Consumer, Producer

        from chatsite.bus.kafka import client_config, dead_letter_topic, full_topic

        source, target = dead_letter_topic(options["topic"]), full_topic(options["topic"])
        consumer = Consumer(
            {
                **client_config(),
                "group.id": f"{settings.KAFKA_CONSUMER_GROUP}-redrive",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": settings.KAFKA_SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": settings.KAFKA_HEARTBEAT_INTERVAL_MS,
            }
        )
        producer = Producer({**client_config(), "acks": "all", "enable.idempotence": True})
        consumer.subscribe([source])
        moved = 0
        idle_until = time.monotonic() + max(10, settings.KAFKA_SESSION_TIMEOUT_MS / 1000 * 3)
        try:
            while not options["limit"] or moved < options["limit"]:
                msg = consumer.poll(0.5)
                if msg is None:
                    if time.monotonic() > idle_until:
                        break
                    continue
                if msg.error():
                    continue
                idle_until = time.monotonic() + 3
                headers = dict(msg.headers() or [])
                reason = headers.get("reason", b"").decode("utf-8", "replace")
                self.stdout.write(f"{source}[{msg.partition()}]@{msg.offset()} key={msg.key()!r}: {reason}")
                if not options["dry_run"]:
                    producer.produce(target, key=msg.key(), value=msg.value(), headers=[("redriven", b"1")])
                    if producer.flush(10):
                        raise CommandError("the broker did not confirm the re-sent record; nothing committed")
                    consumer.commit(message=msg, asynchronous=False)
                moved += 1
        finally:
            consumer.close()
        verb = "listed" if options["dry_run"] else "re-sent"
        self.stdout.write(f"{verb} {moved} records from {source} to {target}")
