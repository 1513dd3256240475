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
def connect(ws_connect):
    """`await connect(user)`: a WebSocket whose connect hooks have finished (a
    socket handles frames one at a time, so the `pong` comes after them): a
    test's next step cannot race the socket's own start-up."""

    async def open_socket(user):
        ws = await ws_connect(user)
        await ws.send({"type": "ping"})
        await ws.expect("pong")
        return ws

    return open_socket
