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

The request's whole synchronous life is that one hop: `request_started`, the
chain, and, for a response whose body is already in memory, `close()` (which
sends `request_finished`) before it is written. Django's handler sends
`request_started` and closes every response each through a hop of its own,
the second onto asgiref's process-wide thread, the gateway's: two hand-offs
per request that cost more than the middleware again (measured in
docs/performance.md). A streamed response (a file download) is written on
the loop while the client is watched for going away, as Django does, and
closed on a lane afterwards.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.http import FileResponse
from django.urls import set_script_prefix


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
        # Synchronous whatever ASGIHandler asks for: it runs on a lane.
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                await self.send_response(error_response, send)
                await self.on_lane(error_response.close)
                return
            response = await self.on_lane(self._respond, request)
            if not response.streaming:
                await self.send_response(response, send)
                return
            try:
                await self._stream(response, receive, send)
            finally:
                await self.on_lane(response.close)
        finally:
            body_file.close()

    def _respond(self, request):
        """On a lane: the request's whole synchronous part, in one hop."""
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        response = self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            # Its body is in memory: closing it (request_finished, the
            # request's files) here spares a hop after it is written.
            response.close()
        return response

    async def _stream(self, response, receive, send) -> None:
        """Write a streamed body, and stop if the client goes away first."""
        writing = asyncio.create_task(self.send_response(response, send))
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        await asyncio.wait([writing, listening], return_when=asyncio.FIRST_COMPLETED)
        for task in (writing, listening):
            if not task.done():
                task.cancel()
            try:
                await task
            except (asyncio.CancelledError, RequestAborted):
                pass

    async def on_lane(self, func, *args):
        """Run `func(*args)` on a free lane (waiting for one), with its connection."""
        lane = await self._free.get()
        token = SyncToAsync.thread_sensitive_context.set(lane)
        try:
            return await sync_to_async(func, thread_sensitive=True)(*args)
        finally:
            SyncToAsync.thread_sensitive_context.reset(token)
            self._free.put_nowait(lane)


def get_asgi_application() -> LaneASGIHandler:
    import django  # the ASGI entry point sets Django up itself, as django.core.asgi does

    django.setup(set_prefix=False)
    return LaneASGIHandler()
