"""Redis connections: one sync pool per process, one asyncio client per event loop."""

from __future__ import annotations

import asyncio
import threading
import weakref

import redis
import redis.asyncio as aredis
from django.conf import settings

_sync_client: redis.Redis | None = None
_sync_lock = threading.Lock()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis] = weakref.WeakKeyDictionary()

SOCKET_TIMEOUT_S = 5


def key(*parts: object) -> str:
    """A namespaced Redis key: `<REDIS_KEY_PREFIX>:<part>:<part>...`."""
    return ":".join((settings.REDIS_KEY_PREFIX, *(str(p) for p in parts)))


def client() -> redis.Redis:
    """The process-wide synchronous client (thread-safe connection pool)."""
    global _sync_client
    if _sync_client is None:
        with _sync_lock:
            if _sync_client is None:
                _sync_client = redis.Redis.from_url(
                    settings.REDIS_URL,
                    max_connections=settings.REDIS_MAX_CONNECTIONS,
                    socket_timeout=SOCKET_TIMEOUT_S,
                    socket_connect_timeout=2,
                    health_check_interval=30,
                )
    return _sync_client


def async_client() -> aredis.Redis:
    """An asyncio client bound to the running loop (asyncio clients must not cross loops)."""
    loop = asyncio.get_running_loop()
    found = _async_clients.get(loop)
    if found is None:
        pool = aredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            timeout=SOCKET_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=2,
        )
        found = aredis.Redis(connection_pool=pool)
        _async_clients[loop] = found
    return found


def reset() -> None:
    """Forget cached clients (tests that change REDIS_URL)."""
    global _sync_client
    with _sync_lock:
        _sync_client = None
    _async_clients.clear()
