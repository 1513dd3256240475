"""Database calls from the event loop.

Channels' `database_sync_to_async` calls `close_old_connections()` before and
after every call, which with CONN_HEALTH_CHECKS pings MySQL each time: one
extra round trip per frame. The gateway's hot path uses `run_in_db_thread`
instead: the same single database thread, a connection kept open, and a
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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, connection
from django.utils.translation import gettext

from chatsite.errors import Unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# MySQL client errors meaning "this connection is gone" (not "this query failed").
_CONNECTION_LOST = {2006, 2013, 2055}

MAINTENANCE_S = 10.0


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


async def run_in_db_thread(fn: Callable[..., T], /, **kwargs: Any) -> T:
    return await sync_to_async(call_with_reconnect, thread_sensitive=True)(fn, **kwargs)
