"""The WebSocket gateway (docs/protocol/websocket.md "Connecting" and "Frames")."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from chatsite.asgi import application
from conftest import login_tokens, ws_headers

pytestmark = pytest.mark.django_db(transaction=True)


async def raw_connect(path: str, *, headers=None, subprotocols=None):
    comm = WebsocketCommunicator(application, path, headers=headers or ws_headers(), subprotocols=subprotocols)
    connected, extra = await comm.connect(timeout=5)
    return comm, connected, extra


async def close_code(comm) -> int:
    while True:
        message = await comm.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            return message.get("code")


async def test_hello_is_the_first_frame(ws_connect, alice):
    ws = await ws_connect(alice)
    hello = ws.hello
    assert set(hello) == {"type", "user", "server_time", "heartbeat_s", "limits"}
    assert hello["user"]["id"] == str(alice.uuid)
    assert hello["user"]["phone"] == "+8613800138000"
    assert hello["heartbeat_s"] == 25
    assert hello["limits"] == {
        "max_text": 5000,
        "max_file": 104857600,
        "messages_per_s": 10,
        "messages_burst": 60,
        "edit_window_s": 900,
    }
    assert hello["server_time"].endswith("Z")


async def test_hello_comes_before_events_delivered_while_the_socket_joins(ws_connect, alice, bob, monkeypatch):
    """Events reach a socket from the moment it joins its user's group, before
    `group_add` returns (with Redis it then waits for the subscription). An
    event arriving then waits behind `hello` (found by
    tests/security/test_ws_fuzz.py: a reconnecting socket got a `message.new` first)."""
    from channels.layers import get_channel_layer

    from chatsite import realtime

    layer = get_channel_layer()
    group_add = layer.group_add
    typing = {"type": "typing", "conversation": str(uuid.uuid4()), "user": str(bob.uuid)}

    async def join_slowly(group, channel) -> None:
        await group_add(group, channel)
        await realtime.adeliver([alice.pk], realtime.frame_envelope(typing))
        await asyncio.sleep(0.05)  # as a subscription round trip would

    monkeypatch.setattr(layer, "group_add", join_slowly)
    ws = await ws_connect(alice)  # fails unless the first frame is `hello`
    assert await ws.expect("typing") == typing


async def test_events_reach_a_socket_while_one_of_its_frames_is_being_handled(ws_connect, alice, bob, monkeypatch):
    """A frame's handler may take a while (a long `sync`, a send waiting on
    the bus); events for the socket go out meanwhile, not after it."""
    from chatsite import realtime
    from chatsite.gateway import registry

    started, release = asyncio.Event(), asyncio.Event()
    ping = registry.get("ping")

    async def slow_ping(conn, frame) -> None:
        started.set()
        await release.wait()
        await ping.handler(conn, frame)

    monkeypatch.setitem(registry._frames, "ping", dataclasses.replace(ping, handler=slow_ping))
    ws = await ws_connect(alice)
    await ws.send({"type": "ping", "ref": "slow"})
    await asyncio.wait_for(started.wait(), 3)
    typing = {"type": "typing", "conversation": str(uuid.uuid4()), "user": str(bob.uuid)}
    await realtime.adeliver([alice.pk], realtime.frame_envelope(typing))
    assert await ws.expect("typing") == typing
    release.set()
    assert await ws.expect("pong") == {"type": "pong", "ref": "slow"}


async def test_bearer_subprotocol(alice):
    token = (await sync_to_async(login_tokens)(alice))["access"]
    comm, connected, subprotocol = await raw_connect("/ws/", subprotocols=["bearer", token])
    assert connected and subprotocol == "bearer"
    assert (await comm.receive_json_from())["type"] == "hello"
    await comm.disconnect()


@pytest.mark.parametrize("path", ["/ws/", "/ws/?token=", "/ws/?token=garbage", "/ws/?token=a.b.c"])
async def test_bad_or_missing_token_closes_4401_after_accept(alice, path):
    comm, connected, _ = await raw_connect(path)
    assert connected, "authentication failures are reported after the handshake"
    assert await close_code(comm) == 4401


async def test_refresh_token_is_not_an_access_token(alice):
    refresh = (await sync_to_async(login_tokens)(alice))["refresh"]
    comm, connected, _ = await raw_connect(f"/ws/?token={refresh}")
    assert connected
    assert await close_code(comm) == 4401


async def test_disabled_account_closes_4403(alice):
    token = (await sync_to_async(login_tokens)(alice))["access"]
    alice.status = "disabled"
    await sync_to_async(alice.save)()
    comm, connected, _ = await raw_connect(f"/ws/?token={token}")
    assert connected
    assert await close_code(comm) == 4403


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://testserver.evil.net", "file://"])
async def test_foreign_origin_is_refused_at_the_handshake(alice, origin):
    token = (await sync_to_async(login_tokens)(alice))["access"]
    comm, connected, code = await raw_connect(f"/ws/?token={token}", headers=ws_headers(origin))
    # Closed before accept: the ASGI server answers the handshake with HTTP 403
    # (checked against real uvicorn and daphne in test_live.py).
    assert not connected


async def test_own_origin_and_allowed_origins_are_accepted(ws_connect, alice, settings):
    settings.ALLOWED_ORIGINS = ["https://app.example.com"]
    for origin in ("http://testserver", "https://app.example.com"):
        ws = await ws_connect(alice, origin=origin)
        assert ws.hello["type"] == "hello"


async def test_cookie_session_of_the_web_pages(alice):
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.actions.sessions import Client, do_web_login

    def make_cookie_session():
        session = do_web_login(user=alice, client=Client(ip="127.0.0.1"))
        store = SessionStore()
        store["login_session"] = str(session.uuid)
        store.create()
        return store.session_key

    key = await sync_to_async(make_cookie_session)()
    headers = ws_headers("http://testserver") + [(b"cookie", f"sessionid={key}".encode())]
    comm, connected, _ = await raw_connect("/ws/", headers=headers)
    assert connected
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello" and hello["user"]["id"] == str(alice.uuid)
    await comm.disconnect()


async def test_ping_pong_echoes_ref(ws_connect, alice):
    ws = await ws_connect(alice)
    await ws.send({"type": "ping", "ref": "r1"})
    assert await ws.expect("pong") == {"type": "pong", "ref": "r1"}
    await ws.send({"type": "ping"})
    assert await ws.expect("pong") == {"type": "pong", "ref": None}


@pytest.mark.parametrize(
    "raw, code",
    [
        ("not json", "bad_frame"),
        ('{"type": "ping", "x": NaN}', "bad_frame"),
        ('{"type": "ping", "x": Infinity}', "bad_frame"),
        ('{"type": "ping", "x": "\\ud800"}', "bad_frame"),
        ("[1, 2, 3]", "bad_frame"),
        ('"ping"', "bad_frame"),
        ("{}", "bad_frame"),
        ('{"type": 5}', "bad_frame"),
        ('{"type": "chat.event"}', "bad_frame"),
        ('{"type": "chat.frame", "text": "{}"}', "bad_frame"),
        ('{"type": "ws.close", "code": 4401}', "bad_frame"),
        ('{"type": "layer.lost"}', "bad_frame"),
        ('{"type": "websocket.disconnect"}', "bad_frame"),
        ('{"type": "no.such.type"}', "bad_frame"),
        ("[" * 5000 + "]" * 5000, "bad_frame"),
        ('{"type": "ping", "ref": 5}', "invalid"),
        ('{"type": "ping", "ref": "' + "r" * 65 + '"}', "invalid"),
    ],
)
async def test_bad_frames_get_errors_and_the_socket_stays_open(ws_connect, alice, raw, code):
    ws = await ws_connect(alice)
    await ws.send(raw)
    error = await ws.expect("error")
    assert error["code"] == code
    # `fields` says which field, as in REST (an addition the spec allows).
    assert set(error) == {"type", "code", "message", "ref"} | ({"fields"} if code == "invalid" else set())
    await ws.send({"type": "ping", "ref": "still-open"})
    assert (await ws.expect("pong"))["ref"] == "still-open"


async def test_binary_and_oversized_frames(ws_connect, alice):
    ws = await ws_connect(alice)
    await ws.comm.send_to(bytes_data=b"\x00\x01")
    assert (await ws.expect("error"))["code"] == "bad_frame"
    await ws.send(json.dumps({"type": "ping", "pad": "x" * (64 * 1024)}))
    assert (await ws.expect("error"))["code"] == "too_large"
    await ws.send({"type": "ping", "ref": "ok"})
    assert (await ws.expect("pong"))["ref"] == "ok"


async def test_an_error_never_reaches_another_socket(ws_connect, alice, bob):
    a, b = await ws_connect(alice), await ws_connect(bob)
    a2 = await ws_connect(alice)
    await a.send("garbage")
    assert (await a.expect("error"))["code"] == "bad_frame"
    await b.silent()
    await a2.silent()


async def test_flood_gets_rate_limited_then_closed_4429(ws_connect, alice, settings):
    settings.LIMIT_FRAMES_PER_S = 1
    settings.LIMIT_FRAMES_BURST = 3
    settings.LIMIT_FRAMES_STRIKES = 4
    ws = await ws_connect(alice)
    for i in range(3):
        await ws.send({"type": "ping", "ref": str(i)})
        assert (await ws.expect("pong"))["ref"] == str(i)
    await ws.send({"type": "ping", "ref": "over"})
    error = await ws.expect("error")
    assert error["code"] == "rate_limited" and error["retry_after"] >= 1 and error["ref"] == "over"
    for _ in range(3):
        await ws.send({"type": "ping"})
    codes = []
    while True:
        message = await ws.comm.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            codes.append(message["code"])
            break
        frame = json.loads(message["text"])
        assert frame["type"] == "error" and frame["code"] == "rate_limited"
    assert codes == [4429]


async def test_a_send_refused_by_the_frame_limit_names_its_message(ws_connect, alice, settings):
    """The refusal echoes the message's client_msg_id (its default ref), so the
    client knows which message to send again after retry_after."""
    settings.LIMIT_FRAMES_PER_S = 1
    settings.LIMIT_FRAMES_BURST = 1
    ws = await ws_connect(alice)
    await ws.send({"type": "ping"})
    await ws.expect("pong")
    cmid = str(uuid.uuid4())
    await ws.send({"type": "message.send", "client_msg_id": cmid, "conversation": "1", "kind": "text", "content": "hi"})
    error = await ws.expect("error")
    assert error["code"] == "rate_limited" and error["ref"] == cmid and error["retry_after"] > 0


async def test_the_frame_limit_is_per_user_across_sockets(ws_connect, alice, settings):
    settings.LIMIT_FRAMES_PER_S = 1
    settings.LIMIT_FRAMES_BURST = 2
    a, b = await ws_connect(alice), await ws_connect(alice)
    await a.send({"type": "ping"})
    await a.expect("pong")
    await b.send({"type": "ping"})
    await b.expect("pong")
    await b.send({"type": "ping"})
    assert (await b.expect("error"))["code"] == "rate_limited"


async def test_idle_socket_is_closed_4408(ws_connect, alice, settings):
    settings.HEARTBEAT_S = 1
    ws = await ws_connect(alice)
    assert await ws.closed(timeout=4) == 4408


async def test_pings_keep_a_socket_open(ws_connect, alice, settings):
    settings.HEARTBEAT_S = 1
    ws = await ws_connect(alice)
    for _ in range(6):
        await asyncio.sleep(0.5)
        await ws.send({"type": "ping"})
        await ws.expect("pong")


async def test_logout_closes_that_sessions_sockets_with_4401(ws_connect, alice, anon):
    from accounts.actions.sessions import do_logout

    one = await sync_to_async(login_tokens)(alice)
    two = await sync_to_async(login_tokens)(alice)
    ws_one = await ws_connect(alice, token=one["access"])
    ws_two = await ws_connect(alice, token=two["access"])
    await sync_to_async(do_logout)(refresh_token=one["refresh"])
    assert await ws_one.closed() == 4401
    await ws_two.send({"type": "ping", "ref": "alive"})
    assert (await ws_two.expect("pong"))["ref"] == "alive"


async def test_password_change_closes_other_sessions_sockets(ws_connect, alice):
    from accounts.actions.profile import do_change_password

    mine = await sync_to_async(login_tokens)(alice)
    other = await sync_to_async(login_tokens)(alice)
    ws_mine = await ws_connect(alice, token=mine["access"])
    ws_other = await ws_connect(alice, token=other["access"])
    await sync_to_async(do_change_password)(
        user=alice, session=mine["session"], old_password="correct-horse-42", new_password="a-new-password-9"
    )
    assert await ws_other.closed() == 4401
    await ws_mine.send({"type": "ping"})
    await ws_mine.expect("pong")


async def test_refresh_token_theft_closes_the_sessions_sockets(ws_connect, alice):
    from accounts.actions.sessions import do_refresh
    from chatsite.errors import NotAuthenticated

    tokens = await sync_to_async(login_tokens)(alice)
    ws = await ws_connect(alice, token=tokens["access"])
    await sync_to_async(do_refresh)(refresh_token=tokens["refresh"])
    with pytest.raises(NotAuthenticated):
        await sync_to_async(do_refresh)(refresh_token=tokens["refresh"])
    assert await ws.closed() == 4401


async def test_disabling_closes_every_socket_with_4403(ws_connect, alice, bob):
    from accounts.actions.sessions import do_revoke_user_sessions

    a1, a2, b = await ws_connect(alice), await ws_connect(alice), await ws_connect(bob)
    await sync_to_async(do_revoke_user_sessions)(user=alice, reason="disabled", close_code=4403)
    assert await a1.closed() == 4403
    assert await a2.closed() == 4403
    await b.send({"type": "ping"})
    await b.expect("pong")
