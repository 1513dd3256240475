"""Wire shapes for conversations and messages (shared/spec/rest.md)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import UserOut, user_to_wire
from chatsite.wire import iso
from files.serializers import FileOut, file_to_wire
from messaging.models import Message, MessageKind


def message_content(message: Message):
    if message.recalled:
        return None
    if message.kind in (MessageKind.TEXT, MessageKind.FILE):
        return message.text
    return message.data


def message_to_wire(message: Message, *, conversation_uuid: str | None = None, sender_wire: dict | None = None) -> dict:
    """The Message object. Pass `conversation_uuid`/`sender_wire` when rendering
    many messages to avoid touching the relations for each one."""
    return {
        "id": str(message.uuid),
        "conversation": conversation_uuid or str(message.conversation.uuid),
        "seq": message.seq,
        "sender": sender_wire
        if sender_wire is not None
        else (user_to_wire(message.sender) if message.sender_id else None),
        "kind": message.kind,
        "content": message_content(message),
        "file": None if message.recalled or message.file_id is None else file_to_wire(message.file),
        "client_msg_id": message.client_msg_id,
        "created_at": iso(message.created_at),
        "recalled": message.recalled,
    }


class MessageOut(serializers.Serializer):
    id = serializers.UUIDField()
    conversation = serializers.UUIDField()
    seq = serializers.IntegerField()
    sender = UserOut(allow_null=True)
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    content = serializers.JSONField(allow_null=True, help_text="text, caption, or a call/system object")
    file = FileOut(allow_null=True)
    client_msg_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    recalled = serializers.BooleanField()
