from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatsite.bus.worker import Worker
from chatsite.heap import freeze_startup_heap
from chatsite.metrics import REGISTRY


class Command(BaseCommand):
    help = (
        "Consume the message bus (Kafka): store messages and fan them out. Run as many as you like: "
        "they share the partitions. SIGTERM finishes the current batch and leaves the group."
    )

    def add_arguments(self, parser):
        parser.add_argument("--group", help="consumer group (default: KAFKA_CONSUMER_GROUP)")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError(
                "KAFKA_BOOTSTRAP_SERVERS is not set: with the in-process bus the server stores messages itself."
            )

        if settings.WORKER_METRICS_PORT:
            # The metrics endpoint only when asked for.
            from prometheus_client import start_http_server

            start_http_server(settings.WORKER_METRICS_PORT, addr=settings.WORKER_METRICS_ADDR, registry=REGISTRY)
            self.stdout.write(
                f"metrics on http://{settings.WORKER_METRICS_ADDR}:{settings.WORKER_METRICS_PORT}/metrics"
            )
        worker = Worker(group_id=options.get("group"))
        freeze_startup_heap()  # chatsite.heap
        worker.run()
