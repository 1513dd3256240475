"""Django's ASGI handler, on a few long-lived threads ("lanes").

Django runs each ASGI request's synchronous code (middleware, views, the
ORM) in a ThreadSensitiveContext of its own: a new thread per request, so a
new database connection per request (CONN_MAX_AGE cannot keep a connection
whose thread is gone). Measured here, that was a MySQL connect and its
authentication for every HTTP request: ~1.8 ms of MariaDB CPU and several of
ours.

Running every request on asgiref's one process-wide thread instead (what
this handler did before) keeps the connection but lets one slow request stall
every other one, and the WebSocket gateway's database calls with them. So:
HTTP_THREADS lanes, each a thread that lives as long as the process and keeps
its connection. A request's synchronous part takes a free lane and gives it
back when its response is ready; the body is read before and the response
streamed after, on the event loop, so a slow client holds no lane. The
gateway keeps asgiref's own thread, which no HTTP request uses.

Connection upkeep on the lanes is chatsite.middleware.ConnectionUpkeepMiddleware
(Django's close_old_connections would run on the gateway's thread here).

The middleware chain is built synchronous, as under WSGI, and entered once
on the lane. Django's ASGI handler builds it asynchronous: with our middleware
all synchronous, a request then went event loop -> lane (the middleware) ->
event loop (async_to_sync around Django's inner handler) -> lane again (the
view): three hand-offs between the loop and the thread instead of one, which
cost more CPU than the middleware itself.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections


class LaneASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        # asgiref runs thread-sensitive code of one ThreadSensitiveContext on
        # one thread of its own; a context that is never exited is a lane.
        self.lane_count = settings.HTTP_THREADS
        self._free: asyncio.Queue[ThreadSensitiveContext] = asyncio.Queue()
        for _ in range(self.lane_count):
            self._free.put_nowait(ThreadSensitiveContext())
        # Those signals would reach the gateway's thread, not the lane's.
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)

    def load_middleware(self, is_async: bool = False) -> None:
        # Synchronous whatever ASGIHandler asks for; one hop onto the lane.
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def get_response_async(self, request):
        lane = await self._free.get()
        token = SyncToAsync.thread_sensitive_context.set(lane)
        try:
            return await super().get_response_async(request)
        finally:
            SyncToAsync.thread_sensitive_context.reset(token)
            self._free.put_nowait(lane)


def get_asgi_application() -> LaneASGIHandler:
    import django  # the ASGI entry point sets Django up itself, as django.core.asgi does

    django.setup(set_prefix=False)
    return LaneASGIHandler()
