from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatsite.bus.worker import Worker
from chatsite.heap import freeze_startup_heap
from chatsite.metrics import REGISTRY
from notifications.bus_handlers import GROUP
from notifications.delivery import Sender


class Command(BaseCommand):
    help = (
        "The notifier: a consumer group of its own on the bus (Kafka) that plans Web Push notifications for "
        "stored messages, calls and contact requests, and sends them. Run one or more: they share the partitions "
        "and the pushes due. SIGTERM finishes the current batch and stops."
    )

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError(
                "KAFKA_BOOTSTRAP_SERVERS is not set: with the in-process bus the server notifies itself."
            )
        if options["metrics_port"]:
            # The metrics endpoint only when asked for.
            from prometheus_client import start_http_server

            start_http_server(options["metrics_port"], addr=settings.WORKER_METRICS_ADDR, registry=REGISTRY)
        sender = Sender().start()
        try:
            worker = Worker(group=GROUP)
            freeze_startup_heap()  # chatsite.heap
            worker.run()
        finally:
            sender.stop()
            self.stdout.write(f"notifier stopped: {sender.totals}")
