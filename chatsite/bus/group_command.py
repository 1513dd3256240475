"""The shape of a bus worker's process (`run_message_worker`, `run_indexer`,
`run_notifier`, `run_bot_worker`, `run_assistant`): a management command that
serves its metrics when asked and runs a Worker; for a consumer group of its
own (GroupCommand), with a SendLoop beside it when the group sends what it
plans."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from confluent_kafka import KafkaException
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatsite.bus.worker import Worker
from chatsite.heap import freeze_startup_heap
from chatsite.metrics import REGISTRY
from chatsite.sendloop import SendLoop


def metrics_port(value: str) -> int:
    """`--metrics-port`: a TCP port, or 0 for none."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, or 0 for none (got {port})")
    return port


class WorkerCommand(BaseCommand):
    """A long-running bus worker: `--metrics-port` (default WORKER_METRICS_PORT)
    and a clear error when the broker does not answer at start."""

    def add_arguments(self, parser):
        parser.add_argument(
            "--metrics-port",
            type=metrics_port,
            default=None,
            help="serve Prometheus metrics on this port (default: WORKER_METRICS_PORT; 0: none)",
        )

    def serve_metrics(self, options: dict) -> None:
        port = options.get("metrics_port")
        if port is None:
            port = settings.WORKER_METRICS_PORT
        if not port:
            return
        # The metrics endpoint only when asked for.
        from prometheus_client import start_http_server

        addr = settings.WORKER_METRICS_ADDR
        try:
            start_http_server(port, addr=addr, registry=REGISTRY)
        except OSError as exc:
            raise CommandError(
                f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}. Each worker process on a host "
                "needs its own port (--metrics-port, or WORKER_METRICS_PORT per process; make run gives each "
                "the next one)"
            ) from None
        self.stdout.write(f"metrics on http://{addr}:{port}/metrics")

    def start_worker(self, **kwargs) -> Worker:
        """The Worker, or a CommandError naming the broker that did not answer
        (the worker makes its topics at start, so it needs the broker then)."""
        try:
            return Worker(**kwargs)
        except KafkaException as exc:
            raise CommandError(
                f"the broker at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {exc.args[0] if exc.args else exc}"
            ) from None

    def run_worker(self, **kwargs) -> None:
        worker = self.start_worker(**kwargs)
        freeze_startup_heap()  # chatsite.heap
        worker.run()


class GroupCommand(WorkerCommand):
    group: str
    # What happens instead with the in-process bus (the error's second half).
    embedded: str
    sender: Callable[[], SendLoop] | None = None

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError(f"KAFKA_BOOTSTRAP_SERVERS is not set: {self.embedded}")
        self.serve_metrics(options)
        sender = type(self).sender() if type(self).sender is not None else None
        if sender is not None:
            sender.start()
        try:
            self.run_worker(group=self.group)
        finally:
            if sender is not None:
                sender.stop()
                self.stdout.write(f"{self.group} stopped: {sender.totals}")
