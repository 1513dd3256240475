import logging
import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from assistant import coldstart, embedding
from assistant.bus_handlers import GROUP
from chatsite.bus.worker import Worker
from chatsite.heap import freeze_startup_heap
from chatsite.metrics import REGISTRY

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "The smart-reply worker: a consumer group of its own on the bus (Kafka) that embeds the text messages of "
        "direct chats and offers their recipients up to three replies. Run one or more: they share the partitions. "
        "The engine uses --threads cores (default 1, leaving the others to the server). SIGTERM finishes the "
        "current batch and stops."
    )

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port")
        parser.add_argument(
            "--threads",
            type=int,
            default=int(os.environ.get("OMP_NUM_THREADS") or 1),
            help="cores one embedding call may use (OMP_NUM_THREADS; default 1)",
        )

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set: with the in-process bus the server does this.")
        if not settings.ASSISTANT:
            raise CommandError("ASSISTANT=0: smart replies are off, there is nothing to run.")
        # Read by the engine's OpenMP runtime when it loads, just below.
        os.environ["OMP_NUM_THREADS"] = str(max(1, options["threads"]))
        if options["metrics_port"]:
            # The metrics endpoint only when asked for.
            from prometheus_client import start_http_server

            start_http_server(options["metrics_port"], addr=settings.WORKER_METRICS_ADDR, registry=REGISTRY)
        self._warm_up()
        worker = Worker(group=GROUP)
        freeze_startup_heap()  # chatsite.heap
        worker.run()

    def _warm_up(self) -> None:
        """Load the model and embed the built-in replies' examples before the
        first message, not while someone waits for its suggestions."""
        started = time.monotonic()
        try:
            coldstart.prepare()
        except embedding.EmbeddingUnavailable as exc:
            # Keep consuming (doing nothing) rather than stop: `make run` stops everything when one process exits.
            logger.warning("smart replies are unavailable on this machine: %s", exc)
            return
        logger.info("smart-reply engine ready in %.1f s", time.monotonic() - started)
