"""A loop that sends what is due (pushes, bots' events), on a thread of its
own, until stopped; and the two ways a process runs one.

A follower of the bus (the notifier, the bots worker) plans rows of work in
the database; a `SendLoop` claims and sends the due ones with a pool of
threads, looks again at once when `wake` is set (work was planned in this
process) and otherwise every `poll_s` seconds, and runs its upkeep
(`periodic`: (every so many seconds, what)) between rounds. A round that
fails is logged and tried again shortly: the rows are the truth.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

Step = Callable[[ThreadPoolExecutor], dict[str, int]]


class SendLoop:
    def __init__(
        self,
        *,
        name: str,
        step: Step,
        concurrency: int,
        wake: threading.Event,
        poll_s: float,
        periodic: Sequence[tuple[float, Callable[[], object]]] = (),
    ) -> None:
        self.name = name
        self.step = step
        self.wake = wake
        self.poll_s = poll_s
        self.periodic = list(periodic)
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name)
        self.thread = threading.Thread(target=self._run, name=f"{name}-sender", daemon=True)
        self.totals: dict[str, int] = {}

    def start(self) -> SendLoop:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        due_at = [0.0] * len(self.periodic)
        while not self.stopping.is_set():
            try:
                close_old_connections()
                counts = self.step(self.pool)
                for i, (every_s, upkeep) in enumerate(self.periodic):
                    if time.monotonic() >= due_at[i]:
                        due_at[i] = time.monotonic() + every_s
                        upkeep()
            except Exception:
                logger.exception("%s: sending failed; trying again shortly", self.name)
                counts = {}
                self.stopping.wait(2)
            for outcome, n in counts.items():
                self.totals[outcome] = self.totals.get(outcome, 0) + n
            if not counts:
                self.wake.wait(self.poll_s)
                self.wake.clear()
        connection.close()


async def run_while_serving(make: Callable[[], SendLoop]) -> None:
    """A server's lifespan task: embedded (the in-process bus) the server
    sends itself while it serves; with Kafka a process of its own does."""
    if settings.BUS_BACKEND != "inprocess":
        return
    # Started here, not in a thread awaited: a server stopped while that
    # await was pending would have left the loop running, unowned (starting
    # a thread takes microseconds).
    loop = make().start()
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(loop.stop)
