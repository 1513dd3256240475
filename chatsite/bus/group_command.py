"""The shape of a consumer group's process (`run_indexer`, `run_notifier`,
`run_bot_worker`): a management command that runs a Worker for the group,
with a SendLoop beside it when the group sends what it plans."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatsite.bus.worker import Worker
from chatsite.heap import freeze_startup_heap
from chatsite.metrics import REGISTRY
from chatsite.sendloop import SendLoop


class GroupCommand(BaseCommand):
    group: str
    # What happens instead with the in-process bus (the error's second half).
    embedded: str
    sender: Callable[[], SendLoop] | None = None

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError(f"KAFKA_BOOTSTRAP_SERVERS is not set: {self.embedded}")
        if options["metrics_port"]:
            # The metrics endpoint only when asked for.
            from prometheus_client import start_http_server

            start_http_server(options["metrics_port"], addr=settings.WORKER_METRICS_ADDR, registry=REGISTRY)
        sender = type(self).sender() if type(self).sender is not None else None
        if sender is not None:
            sender.start()
        try:
            worker = Worker(group=self.group)
            freeze_startup_heap()  # chatsite.heap
            worker.run()
        finally:
            if sender is not None:
                sender.stop()
                self.stdout.write(f"{self.group} stopped: {sender.totals}")
