import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatsite import bus


class Command(BaseCommand):
    help = (
        "Create the Kafka topics (and their dead-letter topics) with KAFKA_PARTITIONS partitions, if missing, and "
        "print how many partitions each has (an existing topic keeps its own: a warning says when they differ)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the broker")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set.")

        # The Kafka client only where a broker is configured.
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        from chatsite.bus.kafka import client_config, ensure_topics, full_topic

        deadline = time.monotonic() + options["timeout"]
        while True:
            try:
                ensure_topics(bus.topics(group=None), timeout=5.0)
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"the broker at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {exc}"
                    ) from exc
                time.sleep(1)
        # What the broker has: a topic made before KAFKA_PARTITIONS changed
        # keeps its partitions (this command never changes an existing topic).
        try:
            listed = AdminClient(client_config()).list_topics(timeout=10).topics
        except KafkaException as exc:
            raise CommandError(f"the broker at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {exc}") from None
        for topic in bus.topics(group=None):
            name = full_topic(topic)
            meta = listed.get(name)
            count = len(meta.partitions) if meta is not None else 0
            self.stdout.write(f"ready: {name} ({count} partitions)")
            if count != settings.KAFKA_PARTITIONS:
                self.stderr.write(
                    f"warning: {name} has {count} partitions, not KAFKA_PARTITIONS={settings.KAFKA_PARTITIONS}: "
                    "an existing topic keeps its partitions (to change them, create the topics under a new "
                    "KAFKA_TOPIC_PREFIX, or with your broker's tools)"
                )
