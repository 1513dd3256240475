"""File messages over the WebSocket: `message.send` with `kind: "file"`; the
Message carries the File; the recipient may then download it, a stranger not."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from files.models import File
from files.tests.conftest import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def direct_id(alice, bob):
    from contacts.models import Contact

    return str(Contact.objects.get(owner=alice, other=bob).conversation.uuid)


def _get(client, url):
    response = client.get(url)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, content


async def test_a_file_message_carries_the_file_and_opens_it_to_the_recipient(
    ws_connect, message_worker, api_for, alice, bob, carol, direct_id
):
    data = image_bytes("PNG", (64, 48))
    alice_api, bob_api, carol_api = (
        await sync_to_async(api_for)(alice),
        await sync_to_async(api_for)(bob),
        await sync_to_async(api_for)(carol),
    )
    uploaded = await sync_to_async(upload)(alice_api, "photo.png", data)
    assert uploaded.status_code == 201
    file = uploaded.json()
    # Before it is sent, bob may not load it.
    assert (await sync_to_async(_get)(bob_api, file["url"]))[0] == 404

    a, b = await ws_connect(alice), await ws_connect(bob)
    cmid = new_id()
    await a.send(
        {
            "type": "message.send",
            "client_msg_id": cmid,
            "conversation": direct_id,
            "kind": "file",
            "file": file["id"],
            "content": "look 👀",
        }
    )
    assert (await a.expect("message.ack", timeout=10))["status"] == "accepted"
    stored = await a.expect("message.ack", timeout=10)
    message = stored["message"]
    assert stored["status"] == "stored"
    assert message["kind"] == "file" and message["content"] == "look 👀"
    assert message["file"] == file  # the whole File object, as the upload answered it
    assert message["file"]["width"] == 64 and message["file"]["thumbnail_url"] is not None
    new = await b.expect("message.new", timeout=10)
    assert new == {"type": "message.new", "message": message}

    assert await sync_to_async(_get)(bob_api, file["url"]) == (200, data)
    assert (await sync_to_async(_get)(bob_api, file["thumbnail_url"]))[0] == 200
    assert (await sync_to_async(_get)(carol_api, file["url"]))[0] == 404
    assert (await sync_to_async(_get)(carol_api, file["thumbnail_url"]))[0] == 404
    row = await sync_to_async(File.objects.get)(uuid=file["id"])
    assert row.attached_at is not None


async def test_a_file_others_may_not_see_cannot_be_sent(ws_connect, api_for, alice, bob, carol, direct_id):
    carol_api = await sync_to_async(api_for)(carol)
    carols = (await sync_to_async(upload)(carol_api, "mine.txt", b"carol's")).json()
    a, b = await ws_connect(alice), await ws_connect(bob)
    base = {"type": "message.send", "conversation": direct_id, "kind": "file"}
    await a.send({**base, "client_msg_id": new_id(), "file": carols["id"]})
    assert (await a.expect("error"))["code"] == "not_found"
    await a.send({**base, "client_msg_id": new_id(), "file": new_id()})
    assert (await a.expect("error"))["code"] == "not_found"
    await a.send({**base, "client_msg_id": new_id()})
    error = await a.expect("error")
    assert error["code"] == "invalid" and "file" in error["message"]
    await b.silent()
    assert await sync_to_async(Message.objects.count)() == 0


async def test_a_recipient_may_forward_a_file_sent_to_them(
    ws_connect, message_worker, api_for, alice, bob, carol, direct_id
):
    from contacts.services import do_connect

    await sync_to_async(do_connect)(user=bob, other=carol)
    alice_api = await sync_to_async(api_for)(alice)
    file = (await sync_to_async(upload)(alice_api, "doc.txt", b"pass it on")).json()
    a, b, c = await ws_connect(alice), await ws_connect(bob), await ws_connect(carol)
    await a.send(
        {
            "type": "message.send",
            "client_msg_id": new_id(),
            "conversation": direct_id,
            "kind": "file",
            "file": file["id"],
        }
    )
    await a.expect("message.ack", timeout=10)
    await a.expect("message.ack", timeout=10)
    await b.expect("message.new", timeout=10)
    # bob may see it now, so he may send it on to carol; then carol may load it.
    await b.send(
        {
            "type": "message.send",
            "client_msg_id": new_id(),
            "to": {"user": str(carol.uuid)},
            "kind": "file",
            "file": file["id"],
        }
    )
    assert (await b.expect("message.ack", timeout=10))["status"] == "accepted"
    forwarded = (await c.expect("message.new", timeout=10))["message"]
    assert forwarded["file"]["id"] == file["id"] and forwarded["content"] is None
    carol_api = await sync_to_async(api_for)(carol)
    assert await sync_to_async(_get)(carol_api, file["url"]) == (200, b"pass it on")
