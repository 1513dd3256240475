"""Django's ASGI handler, without a thread per request.

Django runs each ASGI request's synchronous code (middleware, views, the
ORM) in a ThreadSensitiveContext of its own: a new thread per request, so a
new database connection per request (CONN_MAX_AGE cannot keep a connection
whose thread is gone). Measured here, that was a MySQL connect and its
authentication for every HTTP request: ~1.8 ms of MariaDB CPU and several of
ours. Without the per-request context, synchronous code runs on asgiref's one
thread-sensitive thread per process (the same one the WebSocket gateway's
database calls use), whose connection persists and is health-checked.
"""

from __future__ import annotations

from django.core.handlers.asgi import ASGIHandler


class PersistentConnectionASGIHandler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)


def get_asgi_application() -> PersistentConnectionASGIHandler:
    import django

    django.setup(set_prefix=False)
    return PersistentConnectionASGIHandler()
