"""The one registry of a server process's background tasks (the idle-socket
sweep, presence refresh, the call timers) and of what must close at shutdown
(the channel layer's subscription).

    from chatsite import lifespan

    @lifespan.task("calls sweep")
    async def sweep_calls() -> None:
        while True: ...

The ASGI application (`chatsite.asgi`) starts every task at the lifespan
startup and stops them at shutdown (uvicorn runs with lifespan on). Servers
and test clients that send no lifespan events get the tasks started at the
first WebSocket on their event loop (`ensure_started`, idempotent), and tests
stop them with `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Task = Callable[[], Awaitable[None]]

_tasks: dict[str, Task] = {}
_shutdown: dict[str, Task] = {}
_warm_ups: dict[str, Callable[[], object]] = {}
_warming = threading.Lock()
_warmed = False
_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task]] = weakref.WeakKeyDictionary()


def task(name: str) -> Callable[[Task], Task]:
    """Register a long-running coroutine function, run once per event loop."""

    def register(fn: Task) -> Task:
        _tasks[name] = fn
        return fn

    return register


def on_shutdown(name: str) -> Callable[[Task], Task]:
    """Register a coroutine function to await when the process stops."""

    def register(fn: Task) -> Task:
        _shutdown[name] = fn
        return fn

    return register


def warm_up(name: str) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Register a function that loads what a server will need (a big module
    that only some requests use), run once per process in a thread of its
    own when the server starts: other processes (workers, commands) never
    pay for it, and the first request that needs it does not wait."""

    def register(fn: Callable[[], object]) -> Callable[[], object]:
        _warm_ups[name] = fn
        return fn

    return register


def _warm() -> None:
    for name, fn in list(_warm_ups.items()):
        try:
            fn()
        except Exception:
            logger.exception("warm-up %r failed", name)


def _start_warm_ups() -> None:
    global _warmed
    with _warming:
        if _warmed:
            return
        _warmed = True
    threading.Thread(target=_warm, name="warm-up", daemon=True).start()


def names() -> list[str]:
    return sorted(_tasks)


async def ensure_started() -> None:
    """Start, on the running loop, every registered task not running (again,
    if one ended on an error: it is logged)."""
    if not _warmed and _warm_ups:
        _start_warm_ups()
    loop = asyncio.get_running_loop()
    running = _running.setdefault(loop, {})
    for name, fn in _tasks.items():
        current = running.get(name)
        if current is not None and not current.done():
            continue
        if current is not None and not current.cancelled() and current.exception() is not None:
            logger.error("background task %r stopped: %r; starting it again", name, current.exception())
        running[name] = loop.create_task(_guarded(name, fn), name=name)


async def _guarded(name: str, fn: Task) -> None:
    try:
        await fn()
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("background task %r failed", name)
        raise


async def stop() -> None:
    """Cancel the running loop's tasks and run the shutdown hooks."""
    running = _running.pop(asyncio.get_running_loop(), {})
    for t in running.values():
        t.cancel()
    for t in running.values():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
    for name, fn in _shutdown.items():
        try:
            await fn()
        except Exception:
            logger.exception("shutdown hook %r failed", name)


class LifespanApp:
    """ASGI middleware: answers the lifespan protocol with the registry, and
    passes every other scope to `app`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await ensure_started()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
