"""chatsite.asgi_http: an HTTP request's synchronous part runs on a lane,
entered once, and its database connection outlives the request."""

from __future__ import annotations

import threading
from unittest import mock

import httpx
import pytest
from asgiref import sync

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
