"""Outcomes from a thread to an event loop, in runs.

A thread that finishes work for coroutines (the Kafka bus's delivery reports,
the gateway's database thread) hands each outcome to the loop that waits for
it. Waking a loop from another thread is a write to its self-pipe and a turn
of the loop: only the first outcome of a run wakes it, and the ones that come
before that turn runs join it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class LoopHandoff:
    def __init__(self, name: str) -> None:
        self.name = name  # what the log calls it
        self._queued: dict[asyncio.AbstractEventLoop, list[tuple[Callable[..., Any], tuple]]] = {}
        self._lock = threading.Lock()

    def hand(self, loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
        """From any thread: run callback(*args) on `loop` (dropped if the loop is closed)."""
        if loop.is_closed():
            return  # nobody is waiting any more
        with self._lock:
            queued = self._queued.get(loop)
            wake = queued is None
            if wake:
                # A run left for a loop that stopped before it ran goes with
                # the loop (tests run many loops in one process).
                for gone in [other for other in self._queued if other.is_closed()]:
                    del self._queued[gone]
                queued = self._queued[loop] = []
            queued.append((callback, args))
        if wake:
            try:
                loop.call_soon_threadsafe(self.run_queued, loop)
            except RuntimeError:  # closed meanwhile
                with self._lock:
                    self._queued.pop(loop, None)

    def pending(self, loop: asyncio.AbstractEventLoop) -> int:
        with self._lock:
            return len(self._queued.get(loop, ()))

    def run_queued(self, loop: asyncio.AbstractEventLoop) -> None:
        """On `loop`: run the run that woke it."""
        with self._lock:
            queued = self._queued.pop(loop, [])
        for callback, args in queued:
            try:
                callback(*args)
            except Exception:  # one outcome never costs the others theirs
                logger.exception("%s: handing an outcome to its caller failed", self.name)
