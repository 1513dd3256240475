"""Helpers for tests: stopping the per-loop background tasks at the end of a test."""

from __future__ import annotations

import asyncio
import contextlib


async def shutdown_loop_tasks() -> None:
    """Cancel the gateway's sweeper and the hub's subscriber for the running loop."""
    from chatsite import presence, realtime
    from chatsite.gateway import consumer

    loop = asyncio.get_running_loop()
    tasks = []
    sweeper = consumer._sweepers.pop(loop, None)
    if sweeper is not None:
        tasks.append(sweeper.task)
    refresher = presence._refreshers.pop(loop, None)
    if refresher is not None:
        tasks.append(refresher.task)
    hub = realtime.hub()
    subscribers = getattr(hub, "_subscribers", None)
    if subscribers is not None:
        sub = subscribers.pop(loop, None)
        if sub is not None:
            tasks.append(sub.task)
    try:
        from calls.ws_handlers import stop_sweeper

        await stop_sweeper()
    except ImportError:
        pass
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def worker_env(*, topic_prefix: str, group: str) -> dict[str, str]:
    """The environment of a worker process sharing this test's database and Redis."""
    import os

    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env.pop("DATABASE_TEST_NAME", None)
    env.update(
        DATABASE_URL=f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        KAFKA_TOPIC_PREFIX=topic_prefix,
        KAFKA_CONSUMER_GROUP=group,
        LOG_LEVEL="INFO",
    )
    return env
