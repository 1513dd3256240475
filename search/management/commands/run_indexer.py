from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatsite.bus.worker import Worker
from chatsite.heap import freeze_startup_heap
from chatsite.metrics import REGISTRY
from search.bus_handlers import GROUP


class Command(BaseCommand):
    help = (
        "The search indexer: a consumer group of its own on the bus (Kafka) that writes stored messages, "
        "edits and recalls to the search index. Run one or more: they share the partitions. SIGTERM finishes "
        "the current batch and stops."
    )

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set: with the in-process bus the server indexes itself.")
        if options["metrics_port"]:
            # The metrics endpoint only when asked for.
            from prometheus_client import start_http_server

            start_http_server(options["metrics_port"], addr=settings.WORKER_METRICS_ADDR, registry=REGISTRY)
        worker = Worker(group=GROUP)
        freeze_startup_heap()  # chatsite.heap
        worker.run()
