"""Helpers for messaging tests."""

from __future__ import annotations

import uuid

from asgiref.sync import sync_to_async


def new_id() -> str:
    return str(uuid.uuid4())


async def send_text(ws, conversation: str, text: str, *, cmid: str | None = None) -> dict:
    """Send a text and wait for its `stored` ack; returns the stored Message."""
    cmid = cmid or new_id()
    await ws.send(
        {"type": "message.send", "client_msg_id": cmid, "conversation": conversation, "kind": "text", "content": text}
    )
    while True:
        frame = await ws.recv(timeout=10)
        if frame["type"] == "message.ack" and frame["client_msg_id"] == cmid and frame["status"] == "stored":
            return frame["message"]
        assert frame["type"] in (
            "message.ack",
            "message.new",
            "read",
            "typing",
            "presence",
            "conversation.updated",
        ) or frame["type"].startswith(("group.", "contact.")), frame


def store_text_sync(*, sender, conversation_uuid: str, text: str, cmid: str | None = None):
    """Store a message through the store step directly (test setup, no sockets)."""
    from conversations.models import Conversation
    from conversations.store import Incoming, store_messages

    conv = Conversation.objects.get(uuid=conversation_uuid)
    [stored] = store_messages(
        [Incoming(conversation_id=conv.pk, sender_id=sender.pk, kind="text", text=text, client_msg_id=cmid or new_id())]
    )
    return stored.message


store_text = sync_to_async(store_text_sync)
