import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatsite import bus


class Command(BaseCommand):
    help = "Create the Kafka topics (and their dead-letter topics) with KAFKA_PARTITIONS partitions, if missing."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the broker")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set.")

        # The Kafka client only where a broker is configured.
        from chatsite.bus.kafka import ensure_topics, full_topic

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
        for topic in bus.topics(group=None):
            self.stdout.write(f"ready: {full_topic(topic)} ({settings.KAFKA_PARTITIONS} partitions)")
