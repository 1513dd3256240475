"""message.send over the WebSocket: acks, fan-out, idempotency, refusals (both bus backends)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def new_id() -> str:
    return str(uuid.uuid4())


async def test_direct_message_acks_and_fan_out(ws_connect, message_worker, alice, bob, direct):
    a1, a2, b1, b2 = (
        (await ws_connect(u) for u in (alice, alice, bob, bob))
        if False
        else (await ws_connect(alice), await ws_connect(alice), await ws_connect(bob), await ws_connect(bob))
    )
    cmid = new_id()
    await a1.send(
        {"type": "message.send", "client_msg_id": cmid, "conversation": direct, "kind": "text", "content": "你好 👋"}
    )
    accepted = await a1.expect("message.ack", timeout=10)
    assert accepted == {"type": "message.ack", "client_msg_id": cmid, "ref": cmid, "status": "accepted"}
    stored = await a1.expect("message.ack", timeout=10)
    assert stored["status"] == "stored" and stored["ref"] == cmid and stored["client_msg_id"] == cmid
    message = stored["message"]
    assert message["seq"] == 1 and message["content"] == "你好 👋" and message["kind"] == "text"
    assert message["conversation"] == direct and message["sender"]["id"] == str(alice.uuid)
    assert message["recalled"] is False and message["file"] is None and message["client_msg_id"] == cmid
    for ws in (a2, b1, b2):
        new = await ws.expect("message.new", timeout=10)
        assert new == {"type": "message.new", "message": message}
    for ws in (a1, a2, b1, b2):
        await ws.silent()


async def test_to_user_finds_the_direct_conversation(ws_connect, message_worker, alice, bob, direct):
    a, b = await ws_connect(alice), await ws_connect(bob)
    await a.send(
        {
            "type": "message.send",
            "client_msg_id": new_id(),
            "to": {"user": str(bob.uuid)},
            "kind": "text",
            "content": "hi",
            "ref": "r-1",
        }
    )
    assert (await a.expect("message.ack", timeout=10))["ref"] == "r-1"
    stored = await a.expect("message.ack", timeout=10)
    assert stored["message"]["conversation"] == direct
    assert (await b.expect("message.new", timeout=10))["message"]["content"] == "hi"


async def test_resend_with_the_same_client_msg_id_stores_once(ws_connect, message_worker, alice, bob, direct):
    a, b = await ws_connect(alice), await ws_connect(bob)
    cmid = new_id()
    frame = {"type": "message.send", "client_msg_id": cmid, "conversation": direct, "kind": "text", "content": "once"}
    await a.send(frame)
    await a.expect("message.ack", timeout=10)
    first = await a.expect("message.ack", timeout=10)
    await b.expect("message.new", timeout=10)
    # Again, even with other content, from another socket after a "reconnect".
    a2 = await ws_connect(alice)
    await a2.send({**frame, "content": "changed"})
    assert (await a2.expect("message.ack", timeout=10))["status"] == "accepted"
    again = await a2.expect("message.ack", timeout=10)
    assert again["status"] == "stored" and again["message"] == first["message"]
    await b.silent(0.5)
    assert await sync_to_async(Message.objects.filter(client_msg_id=cmid).count)() == 1


async def test_duplicates_in_flight_store_once(ws_connect, message_worker, alice, bob, direct):
    a, b = await ws_connect(alice), await ws_connect(bob)
    cmid = new_id()
    frame = {"type": "message.send", "client_msg_id": cmid, "conversation": direct, "kind": "text", "content": "x"}
    await a.send(frame)
    await a.send(frame)
    await a.expect("message.ack", timeout=10)
    stored = await a.expect("message.ack", timeout=10)
    assert stored["status"] == "stored"
    await b.expect("message.new", timeout=10)
    await b.silent(0.5)
    assert await sync_to_async(Message.objects.filter(client_msg_id=cmid).count)() == 1


async def test_a_record_coming_again_repeats_its_fan_out_but_a_resend_does_not(ws_connect, alice, bob, direct):
    """A worker killed between the commit and the fan-out leaves its records
    uncommitted on the topic: their next owner finds the messages stored and
    must still tell the members (clients drop repeats by id). A client's resend
    of the same client_msg_id is another record: only the sender's ack."""
    from conversations.models import Conversation
    from conversations.store import Incoming, store_messages

    b = await ws_connect(bob)
    conversation = await sync_to_async(Conversation.objects.get)(uuid=direct)
    cmid = new_id()

    def store(send_id: str):
        item = Incoming(
            conversation_id=conversation.pk,
            sender_id=alice.pk,
            kind="text",
            text="hi",
            client_msg_id=cmid,
            send_id=send_id,
        )
        return store_messages([item])[0]

    first = await sync_to_async(store)("record-1")
    assert not first.duplicate
    heard = await b.expect("message.new", timeout=10)
    assert heard["message"]["id"] == first.wire["id"]
    again = await sync_to_async(store)("record-1")
    assert again.duplicate
    assert (await b.expect("message.new", timeout=10))["message"] == heard["message"]
    resend = await sync_to_async(store)("record-2")
    assert resend.duplicate and resend.wire == first.wire
    await b.silent(0.5)
    assert await sync_to_async(Message.objects.filter(client_msg_id=cmid).count)() == 1


def test_every_accepted_frame_is_a_record_of_its_own():
    from messaging.actions.send import SendDraft, decode_record

    draft = SendDraft(
        conversation_id=1,
        conversation_uuid=new_id(),
        sender_id=2,
        kind="text",
        text="x",
        file_id=None,
        client_msg_id="c",
    )
    one = decode_record(draft.record(socket_id="s", ref="r"))
    two = decode_record(draft.record(socket_id="s", ref="r"))
    assert one.client_msg_id == two.client_msg_id == "c"
    assert one.send_id and two.send_id and one.send_id != two.send_id


async def test_many_messages_from_one_socket_keep_their_order(ws_connect, message_worker, alice, bob, direct):
    a, b = await ws_connect(alice), await ws_connect(bob)
    for n in range(30):
        await a.send(
            {
                "type": "message.send",
                "client_msg_id": new_id(),
                "conversation": direct,
                "kind": "text",
                "content": str(n),
            }
        )
    received = [(await b.expect("message.new", timeout=10))["message"] for _ in range(30)]
    assert [m["content"] for m in received] == [str(n) for n in range(30)]
    assert [m["seq"] for m in received] == list(range(1, 31))


@pytest.mark.parametrize(
    "patch, code",
    [
        ({"client_msg_id": "not-a-uuid"}, "invalid"),
        ({"client_msg_id": None}, "invalid"),
        ({"client_msg_id": " " * 5_000 + "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00" + " " * 5_000}, "invalid"),
        ({"client_msg_id": "x" * 10_000}, "invalid"),
        ({"client_msg_id": "5b0f1ad40c4e4a579d2a0d6f0d7c1f00"}, "invalid"),
        ({"kind": "system"}, "invalid"),
        ({"kind": "call"}, "invalid"),
        ({"content": ""}, "invalid"),
        ({"content": "   "}, "invalid"),
        ({"content": 5}, "invalid"),
        ({"content": "a\x00b"}, "invalid"),
        ({"content": "x" * 5001}, "too_large"),
        ({"conversation": "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00"}, "not_found"),
        ({"conversation": "nope"}, "invalid"),
        ({"to": {"user": "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00"}}, "invalid"),
        # The target's shape is checked before the file is looked up (found by tests/security/test_ws_fuzz.py).
        (
            {"kind": "file", "file": "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00", "content": None, "conversation": 5},
            "invalid",
        ),
        (
            {"kind": "file", "file": "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00", "content": None, "conversation": None},
            "invalid",
        ),
    ],
)
async def test_refused_messages_store_nothing(ws_connect, alice, bob, direct, patch, code):
    a, b = await ws_connect(alice), await ws_connect(bob)
    frame = {
        "type": "message.send",
        "client_msg_id": new_id(),
        "conversation": direct,
        "kind": "text",
        "content": "x",
        **patch,
    }
    await a.send({k: v for k, v in frame.items()})
    error = await a.expect("error")
    assert error["code"] == code
    await b.silent()
    assert await sync_to_async(Message.objects.count)() == 0


async def test_max_text_counts_code_points(ws_connect, message_worker, alice, bob, direct):
    a = await ws_connect(alice)
    await a.send(
        {
            "type": "message.send",
            "client_msg_id": new_id(),
            "conversation": direct,
            "kind": "text",
            "content": "😀" * 5000,
        }
    )
    assert (await a.expect("message.ack", timeout=10))["status"] == "accepted"
    stored = await a.expect("message.ack", timeout=10)
    assert stored["message"]["content"] == "😀" * 5000


async def test_non_contact_and_blocked_sends_are_refused(ws_connect, alice, bob, carol, direct):
    from contacts.models import Block

    a, b, c = await ws_connect(alice), await ws_connect(bob), await ws_connect(carol)
    await a.send(
        {
            "type": "message.send",
            "client_msg_id": new_id(),
            "to": {"user": str(carol.uuid)},
            "kind": "text",
            "content": "hi",
        }
    )
    assert (await a.expect("error"))["code"] == "not_contact"
    await c.send(
        {"type": "message.send", "client_msg_id": new_id(), "conversation": direct, "kind": "text", "content": "hi"}
    )
    assert (await c.expect("error"))["code"] == "not_found"
    await sync_to_async(Block.objects.create)(blocker=bob, blocked=alice)
    await a.send(
        {"type": "message.send", "client_msg_id": new_id(), "conversation": direct, "kind": "text", "content": "hi"}
    )
    assert (await a.expect("error"))["code"] == "blocked"
    await b.send(
        {"type": "message.send", "client_msg_id": new_id(), "conversation": direct, "kind": "text", "content": "hi"}
    )
    assert (await b.expect("error"))["code"] == "blocked"
    await b.silent()
    assert await sync_to_async(Message.objects.count)() == 0


async def test_message_rate_limit(ws_connect, message_worker, alice, bob, direct, settings):
    settings.LIMIT_MESSAGES_PER_S = 1
    settings.LIMIT_MESSAGES_BURST = 2
    a = await ws_connect(alice)
    for _ in range(3):
        await a.send(
            {"type": "message.send", "client_msg_id": new_id(), "conversation": direct, "kind": "text", "content": "x"}
        )
    frames = [await a.recv(timeout=10) for _ in range(5)]
    errors = [f for f in frames if f["type"] == "error"]
    assert len(errors) == 1 and errors[0]["code"] == "rate_limited" and errors[0]["retry_after"] >= 1
    await asyncio.sleep(0.3)
    assert await sync_to_async(Message.objects.count)() == 2
