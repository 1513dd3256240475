"""chatsite.asgi_http: an HTTP request's synchronous part runs on a lane,
entered once, and its database connection outlives the request."""

from __future__ import annotations

import asyncio
import threading
from unittest import mock

import httpx
import pytest
from asgiref import sync
from django.urls import path

from chatsite.asgi_http import LaneASGIHandler
from conftest import login_tokens

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_request_goes_onto_a_lane_once_and_its_connection_is_kept(alice):
    from asgiref.sync import sync_to_async
    from django.db import connection

    tokens = await sync_to_async(login_tokens)(alice)
    app = LaneASGIHandler()
    hand_backs = []
    real = sync.AsyncToSync.__call__

    def spy(self, *args, **kwargs):
        hand_backs.append(threading.current_thread().name)
        return real(self, *args, **kwargs)

    seen = []
    from accounts import api as accounts_api

    original_me = accounts_api.MeView.get

    def me(view, request, *args, **kwargs):
        seen.append((threading.get_ident(), id(connection.connection) if connection.connection else None))
        return original_me(view, request, *args, **kwargs)

    headers = {"Authorization": f"Bearer {tokens['access']}"}
    with mock.patch.object(sync.AsyncToSync, "__call__", spy), mock.patch.object(accounts_api.MeView, "get", me):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            for _ in range(app.lane_count + 1):
                r = await client.get("/api/v1/me", headers=headers)
                assert r.status_code == 200, r.text
                assert r.json()["username"] == "alice"
    # No request went back from its lane to the event loop (Django's ASGI
    # handler builds an asynchronous chain that does, twice per request).
    assert hand_backs == []
    # Each request ran on a lane thread, not the loop's, and a lane that
    # served two requests used the same database connection for both.
    loop_thread = threading.get_ident()
    assert all(thread != loop_thread for thread, _ in seen)
    by_thread: dict[int, set] = {}
    for thread, conn in seen:
        by_thread.setdefault(thread, set()).add(conn)
    assert len(by_thread) <= app.lane_count
    assert all(len(conns) == 1 for conns in by_thread.values())


async def test_a_request_is_one_hop_with_its_signals_on_its_lane_never_the_gateways_thread(alice):
    """request_started, the view and request_finished run on the request's
    lane in the one hop: not on asgiref's process-wide thread, which is the
    WebSocket gateway's (Django's handler closes every response there)."""
    from asgiref.sync import sync_to_async
    from django.core import signals

    tokens = await sync_to_async(login_tokens)(alice)
    gateway_thread = await sync_to_async(threading.get_ident)()
    app = LaneASGIHandler()
    hops, started, finished = [], [], []
    real_call = sync.SyncToAsync.__call__

    async def spy(self, *args, **kwargs):
        hops.append(getattr(self.func, "__name__", repr(self.func)))
        return await real_call(self, *args, **kwargs)

    def on_started(**kwargs):
        started.append(threading.get_ident())

    def on_finished(**kwargs):
        finished.append(threading.get_ident())

    signals.request_started.connect(on_started)
    signals.request_finished.connect(on_finished)
    headers = {"Authorization": f"Bearer {tokens['access']}"}
    try:
        with mock.patch.object(sync.SyncToAsync, "__call__", spy):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client:
                for _ in range(3):
                    r = await client.get("/api/v1/me", headers=headers)
                    assert r.status_code == 200, r.text
                    assert r.json()["username"] == "alice"
                r = await client.get("/api/v1/no-such-route", headers=headers)
                assert r.status_code == 404
    finally:
        signals.request_started.disconnect(on_started)
        signals.request_finished.disconnect(on_finished)
    assert hops == ["_respond"] * 4
    assert len(started) == len(finished) == 4
    assert started == finished  # each request's signals on one thread
    assert gateway_thread not in started
    assert threading.get_ident() not in started


async def _endless():
    n = 0
    while True:
        n += 1
        yield b"x" * 1024
        _endless.sent = n
        await asyncio.sleep(0)


def _stream_view(request):
    from django.http import StreamingHttpResponse

    response = StreamingHttpResponse(_endless())
    response._resource_closers.append(lambda: _closed.append(threading.get_ident()))
    return response


_closed: list[int] = []
urlpatterns = [path("stream", _stream_view)]


async def test_a_streamed_body_stops_when_the_client_goes_away_and_is_closed_on_a_lane(settings):
    """A streamed response (a file download) is written on the loop while the
    client is watched; when it goes away the writing stops and the response
    is closed on a lane."""
    settings.ROOT_URLCONF = __name__
    _closed.clear()
    app = LaneASGIHandler()
    chunks = 0
    away = asyncio.Event()
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await away.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal chunks
        if message["type"] == "http.response.body" and message.get("body"):
            chunks += 1
            if chunks == 3:
                away.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/stream",
        "raw_path": b"/stream",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    assert 3 <= chunks < 50  # it stopped soon after the client went away
    assert len(_closed) == 1
    assert _closed[0] != threading.get_ident()
