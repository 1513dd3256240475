import logging
import os
import time

from django.conf import settings
from django.core.management.base import CommandError

from assistant import coldstart, embedding
from assistant.bus_handlers import GROUP
from chatsite.bus.group_command import WorkerCommand

logger = logging.getLogger(__name__)


class Command(WorkerCommand):
    help = (
        "The smart-reply worker: a consumer group of its own on the bus (Kafka) that embeds the text messages of "
        "direct chats and offers their recipients up to three replies. Run one or more: they share the partitions. "
        "The engine uses --threads cores (default 1, leaving the others to the server). SIGTERM finishes the "
        "current batch and stops."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help="cores one embedding call may use (default: OMP_NUM_THREADS, else 1)",
        )

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set: with the in-process bus the server does this.")
        if not settings.ASSISTANT:
            raise CommandError("ASSISTANT=0: smart replies are off, there is nothing to run.")
        threads = options["threads"]
        if threads is None:
            threads = _omp_num_threads()
        # Read by the engine's OpenMP runtime when it loads, just below.
        os.environ["OMP_NUM_THREADS"] = str(max(1, threads))
        self.serve_metrics(options)
        self._warm_up()
        self.run_worker(group=GROUP)

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


def _omp_num_threads() -> int:
    """OMP_NUM_THREADS as a whole number of cores (1 when unset)."""
    value = (os.environ.get("OMP_NUM_THREADS") or "").strip()
    if not value:
        return 1
    try:
        threads = int(value)
    except ValueError:
        raise CommandError(f"OMP_NUM_THREADS must be a whole number of cores (got {value!r})") from None
    if threads < 1:
        raise CommandError(f"OMP_NUM_THREADS must be at least 1 (got {threads})")
    return threads
