from __future__ import annotations

import pytest


@pytest.fixture
def dave(db, bob, user_factory):
    """Bob's contact (not Alice's): a second person who can call Bob."""
    from contacts.services import do_connect

    user = user_factory("dave", nickname="Dave")
    do_connect(user=user, other=bob)
    return user


@pytest.fixture
async def call_sweeper_stopped():
    """Stop this test loop's call sweeper at the end (WebSocket tests start it on connect)."""
    yield
    from calls.ws_handlers import stop_sweeper

    await stop_sweeper()


@pytest.fixture
def connect(ws_connect, call_sweeper_stopped):
    """`await connect(user)`: a WebSocket whose connect hooks have finished (a
    socket handles frames one at a time, so the `pong` comes after them): a
    test's next step cannot race the socket's own start-up."""

    async def open_socket(user):
        ws = await ws_connect(user)
        await ws.send({"type": "ping"})
        await ws.expect("pong")
        return ws

    return open_socket
