from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bots.bus_handlers import GROUP
from bots.events import Sender
from chatsite.bus.worker import Worker
from chatsite.heap import freeze_startup_heap
from chatsite.metrics import REGISTRY


class Command(BaseCommand):
    help = (
        "The bots worker: a consumer group of its own on the bus (Kafka) that turns messages to bots, mentions of "
        "bots and slash commands into outgoing events, and sends them to the bots' URLs with retries. Run one or "
        "more: they share the partitions and the events due. SIGTERM finishes the current batch and stops."
    )

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set: with the in-process bus the server does this.")
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
            self.stdout.write(f"bots worker stopped: {sender.totals}")
