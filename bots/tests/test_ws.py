"""A bot on the WebSocket: its key in the query, the `bot` subprotocol or the
Authorization header; marked as a bot; its own message budget; a revoked key
closes its sockets."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.actions.sessions import issue_bot_key
from bots.services import do_add_bot, do_create_bot, do_revoke_bot_key
from chatsite.asgi import application
from conftest import ws_headers
from messaging.tests.helpers import new_id

pytestmark = pytest.mark.django_db(transaction=True)


def _bot_with_key(owner):
    bot = do_create_bot(owner=owner, username="sock_bot")
    session, key = issue_bot_key(bot=bot.user, name="test")
    contact = do_add_bot(user=owner, bot_id=str(bot.user.uuid))
    return bot, session, key, str(contact.conversation.uuid)


async def _connect(path: str, *, headers=None, subprotocols=None):
    comm = WebsocketCommunicator(application, path, headers=headers or ws_headers(), subprotocols=subprotocols)
    connected, subprotocol = await comm.connect(timeout=5)
    assert connected
    return comm, subprotocol


async def test_a_bot_connects_with_its_key_three_ways_and_is_marked(alice, settings):
    settings.LIMIT_BOT_MESSAGES_PER_S, settings.LIMIT_BOT_MESSAGES_BURST = 2, 7
    bot, _, key, _ = await sync_to_async(_bot_with_key)(alice)
    ways = [
        dict(path=f"/ws/?token={key}"),
        dict(path="/ws/", subprotocols=["bot", key]),
        dict(path="/ws/", headers=[*ws_headers(), (b"authorization", f"Bot {key}".encode())]),
    ]
    for way in ways:
        comm, subprotocol = await _connect(**way)
        hello = await comm.receive_json_from(timeout=5)
        assert hello["type"] == "hello", hello
        assert hello["user"]["id"] == str(bot.user.uuid) and hello["user"]["is_bot"] is True
        assert (hello["limits"]["messages_per_s"], hello["limits"]["messages_burst"]) == (2, 7)
        assert subprotocol == ("bot" if way.get("subprotocols") else None)
        await comm.disconnect()


async def test_a_wrong_key_is_refused_4401(alice):
    await sync_to_async(_bot_with_key)(alice)
    comm, _ = await _connect("/ws/?token=wscb_not-a-real-key-at-all")
    out = await comm.receive_output(timeout=3)
    assert out["type"] == "websocket.close" and out["code"] == 4401


async def test_a_bot_sends_over_its_socket_and_a_revoked_key_closes_it(alice, ws_connect, message_worker):
    bot, session, key, conversation = await sync_to_async(_bot_with_key)(alice)
    ws = await ws_connect(bot.user, token=key)
    person = await ws_connect(alice)
    cmid = new_id()
    await ws.send(
        {"type": "message.send", "conversation": conversation, "client_msg_id": cmid, "kind": "text", "content": "hi"}
    )
    ack = await ws.expect("message.ack")
    assert (ack["client_msg_id"], ack["status"]) == (cmid, "accepted")
    new = await person.expect("message.new", timeout=10)
    assert new["message"]["sender"]["is_bot"] is True and new["message"]["content"] == "hi"
    await sync_to_async(do_revoke_bot_key)(user=alice, bot_id=str(bot.user.uuid), key_id=str(session.uuid))
    closed = await ws.comm.receive_output(timeout=5)
    while closed["type"] != "websocket.close":
        closed = await ws.comm.receive_output(timeout=5)
    assert closed["code"] == 4401
