"""Database calls from the event loop.

Channels' `database_sync_to_async` calls `close_old_connections()` before and
after every call, which with CONN_HEALTH_CHECKS pings MySQL each time: one
extra round trip per frame. The gateway's hot path uses `run_in_db_thread`
instead: one database thread (below), a connection kept open, and a
connection the server dropped (restart, wait_timeout) is replaced and the
call retried once, so no request fails on a stale connection. Django's own
upkeep (CONN_MAX_AGE, a connection left broken or outside autocommit) runs at
most every MAINTENANCE_S seconds instead of around every call.

Only a call that has not written is retried. Once it sent an INSERT, UPDATE
or DELETE, a lost connection leaves its outcome unknown (the COMMIT may have
reached the server before the connection died): running it again could do it
twice, or answer `conflict` for something that did happen. Such a call
reports `unavailable` instead, and the client retries with its own key (a
message's client_msg_id) or re-reads.

The database thread is our own (`_DatabaseThread`), not asgiref's
`sync_to_async`: a hop through asgiref costs the event loop its bookkeeping
and a wake-up per call, ~250 us of CPU on a slow host, and a reconnect storm
makes nine hops a client. Ours queues calls to one thread and hands their
results back in runs: the first result of a run wakes the loop, the rest
join it (as the bus's delivery reports do). Calls still see the caller's
context variables (the language, the request id), and sync code in them may
use `async_to_sync` towards the caller's loop. Where a synchronous caller is
waiting above the loop (a test's `async_to_sync`, an HTTP lane), calls go
through asgiref as before, to that caller's thread. Two things asgiref does
that this does not: context variables a call sets stay in the call (asgiref
copies them back to the caller; no call here relies on it), and cancelling
the caller does not cancel a task the call started with `async_to_sync`.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, _restore_context, sync_to_async
from django.db import InterfaceError, OperationalError, connection
from django.utils.translation import gettext

from chatsite.errors import Unavailable
from chatsite.handoff import LoopHandoff

logger = logging.getLogger(__name__)

T = TypeVar("T")

# MySQL client errors meaning "this connection is gone" (not "this query failed").
_CONNECTION_LOST = {2006, 2013, 2055}

MAINTENANCE_S = 10.0
# At exit, how long the database thread may take to finish the calls it has.
DRAIN_S = 10.0


def connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        return code in _CONNECTION_LOST
    return False


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _WriteWatch:
    """An execute wrapper that notes whether a statement that changes rows went out."""

    def __init__(self) -> None:
        self.wrote = False

    def __call__(self, execute, sql, params, many, context):
        if not self.wrote and sql.lstrip()[:7].upper().startswith(_WRITES):
            self.wrote = True
        return execute(sql, params, many, context)


def call_with_reconnect(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Call `fn`; if the connection turns out to be dead (and we are not inside
    a transaction the caller opened), reconnect and call it once more, unless
    `fn` had already written: then `unavailable` (see the module docstring)."""
    maintain()
    watch = _WriteWatch()
    try:
        with connection.execute_wrapper(watch):
            return fn(**kwargs)
    except (OperationalError, InterfaceError) as exc:
        if not connection_lost(exc) or connection.in_atomic_block:
            raise
        connection.close()
        if watch.wrote:
            logger.warning("database connection lost after a write (%s); not retried", exc)
            raise Unavailable(gettext("The database connection was lost; check, then retry.")) from exc
        logger.info("database connection lost (%s); reconnecting", exc)
        return fn(**kwargs)


def maintain() -> None:
    """Django's per-request connection upkeep, at most every MAINTENANCE_S
    seconds for this thread's connection (it re-arms the health check, so the
    next query pings the server once)."""
    now = time.monotonic()
    if now < getattr(connection, "wsc_next_upkeep", 0.0) or connection.in_atomic_block:
        return
    connection.wsc_next_upkeep = now + MAINTENANCE_S
    connection.close_if_unusable_or_obsolete()


class _DatabaseThread:
    """One thread that runs database calls for the event loops of this
    process, one at a time, in the order they came. At exit it finishes the
    calls queued and running before the process ends (as asgiref's executor
    thread is joined), so a socket's last writes are not cut off."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._calls: collections.deque = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._stopping = False
        # Results on their way to each loop: the loop is woken for the first.
        self._handoff = LoopHandoff("database thread")
        self._thread = threading.Thread(target=self._run, name="database", daemon=True)
        self._thread.start()
        atexit.register(self.drain)

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], kwargs: dict) -> asyncio.Future:
        future = loop.create_future()
        with self._ready:
            self._calls.append((loop, future, contextvars.copy_context(), fn, kwargs))
            self._ready.notify()
        return future

    def drain(self, timeout: float = DRAIN_S) -> None:
        """Run what is queued, then end the thread (at exit)."""
        if os.getpid() != self.pid:
            return  # a forked child's copy (atexit handlers are inherited): not its thread, maybe not its lock
        with self._ready:
            self._stopping = True
            self._ready.notify()
        if not self.is_current():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._calls:
                    if self._stopping:
                        return
                    self._ready.wait()
                item = self._calls.popleft()
            try:
                self._call(*item)
            except BaseException:  # the thread's own bookkeeping: it must outlive any one call
                logger.exception("the database thread could not hand back a call's outcome")

    def _call(self, loop, future: asyncio.Future, context: contextvars.Context, fn: Callable[..., Any], kwargs):
        if future.cancelled():
            return  # its caller stopped waiting before it began
        # What asgiref's thread sets up: `async_to_sync` in the call goes back
        # to the caller's loop.
        local = SyncToAsync.threadlocal
        local.main_event_loop, local.main_event_loop_pid, local.task_context = loop, self.pid, []
        try:
            outcome = (context.run(_call_in_context, context, fn, kwargs), None)
        except StopIteration as exc:  # a future cannot carry it
            error = RuntimeError("a database call raised StopIteration")
            error.__cause__ = exc
            outcome = (None, error)
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome = (None, exc)
        finally:
            local.main_event_loop = local.task_context = None
        self._handoff.hand(loop, _resolve, future, *outcome)


def _resolve(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _call_in_context(context: contextvars.Context, fn: Callable[..., Any], kwargs: dict) -> Any:
    # asgiref's `Local` (Django's active language) keeps its data per thread
    # and hands it over where asgiref moves work between threads, as here.
    # (asgiref is pinned in requirements.txt for this; a test holds it.)
    _restore_context(context)
    return call_with_reconnect(fn, **kwargs)


_database_thread: _DatabaseThread | None = None
_database_thread_lock = threading.Lock()


def _the_database_thread() -> _DatabaseThread:
    global _database_thread
    thread = _database_thread
    if thread is None or thread.pid != os.getpid() or not thread.alive():  # none yet, a parent's, or gone
        with _database_thread_lock:
            thread = _database_thread
            if thread is None or thread.pid != os.getpid() or not thread.alive():
                _database_thread = _DatabaseThread()
            thread = _database_thread
    return thread


def _sync_caller_waits(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a synchronous caller waits above this loop (async_to_sync, an
    HTTP lane): asgiref then runs thread-sensitive calls in its thread."""
    return (
        getattr(AsyncToSync.executors, "current", None) is not None
        or SyncToAsync.thread_sensitive_context.get(None) is not None
        or loop in AsyncToSync.loop_thread_executors
    )


async def run_in_db_thread(fn: Callable[..., T], /, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    if _sync_caller_waits(loop):
        return await sync_to_async(call_with_reconnect, thread_sensitive=True)(fn, **kwargs)
    thread = _the_database_thread()
    if thread.is_current():
        # A call that runs an event loop of its own (asyncio.run) and awaits
        # a database call in it: the thread is busy with the outer call, so
        # this one runs here (queued, it would wait for ever).
        return call_with_reconnect(fn, **kwargs)
    return await thread.submit(loop, fn, kwargs)
