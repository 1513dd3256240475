"""Helpers for tests: stopping the per-loop background tasks at the end of a test."""

from __future__ import annotations

import asyncio
import contextlib


async def shutdown_loop_tasks() -> None:
    """Cancel the gateway's sweeper and the hub's subscriber for the running loop."""
    from chatsite import realtime
    from chatsite.gateway import consumer

    loop = asyncio.get_running_loop()
    tasks = []
    sweeper = consumer._sweepers.pop(loop, None)
    if sweeper is not None:
        tasks.append(sweeper.task)
    hub = realtime.hub()
    subscribers = getattr(hub, "_subscribers", None)
    if subscribers is not None:
        sub = subscribers.pop(loop, None)
        if sub is not None:
            tasks.append(sub.task)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
