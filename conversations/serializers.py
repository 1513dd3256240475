"""Wire shapes for conversations and messages (docs/protocol/objects.md).

`message_to_wire` builds the Message object from a message and what
conversations.render loaded around it (the quoted message, reactions, the
first sender of a forward); called without them, it renders a message that
has none of those (a new one that is not a reply or a forward)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import UserOut, user_to_wire
from chatsite.wire import iso
from conversations.models import Message, MessageKind
from files.serializers import FileOut, file_to_wire

EXCERPT_LEN = 100


def message_content(message: Message):
    if message.recalled:
        return None
    if message.kind in (MessageKind.TEXT, MessageKind.FILE):
        return message.text
    return message.data


def excerpt_of(message: Message) -> str:
    """What a reply quotes of `message` (its current state): the first 100
    code points of a text, a file's name, a bundle's title; nothing for a
    call or a recalled message."""
    if message.recalled:
        return ""
    if message.kind == MessageKind.TEXT:
        return (message.text or "")[:EXCERPT_LEN]
    if message.kind == MessageKind.FILE:
        return message.file.name if message.file_id and message.file is not None else ""
    if message.kind == MessageKind.BUNDLE:
        return str((message.data or {}).get("title", ""))[:EXCERPT_LEN]
    return ""


def message_to_wire(
    message: Message,
    *,
    conversation_uuid: str | None = None,
    sender_wire: dict | None = None,
    reply_to: dict | None = None,
    reactions: list[dict] | None = None,
    forwarded_sender: dict | None = None,
    content: dict | None = None,
) -> dict:
    """The Message object. Pass `conversation_uuid`/`sender_wire` when rendering
    many messages to avoid touching the relations for each one; `reply_to`,
    `reactions` and `forwarded_sender` as conversations.render loads them for
    the reader, and a bundle's `content` as it renders it."""
    recalled = message.recalled
    forwarded = message.forwarded_from
    return {
        "id": str(message.uuid),
        "conversation": conversation_uuid or str(message.conversation.uuid),
        "seq": message.seq,
        "sender": sender_wire
        if sender_wire is not None
        else (user_to_wire(message.sender) if message.sender_id else None),
        "kind": message.kind,
        "content": message_content(message) if content is None else content,
        "file": None if recalled or message.file_id is None else file_to_wire(message.file),
        "client_msg_id": message.client_msg_id,
        "created_at": iso(message.created_at),
        "recalled": recalled,
        "reply_to": None if recalled else reply_to,
        "forwarded_from": None
        if forwarded is None
        else {"sender": forwarded_sender, "created_at": forwarded.get("created_at")},
        "mentions": [] if recalled else list(message.mentions or ()),
        "mention_all": False if recalled else message.mention_all,
        "edited_at": iso(message.edited_at),
        "reactions": [] if recalled or not reactions else reactions,
        "pinned": not recalled and message.pinned_at is not None,
    }


class ReplyToOut(serializers.Serializer):
    id = serializers.UUIDField()
    seq = serializers.IntegerField()
    sender = UserOut(allow_null=True)
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    excerpt = serializers.CharField(allow_blank=True)
    recalled = serializers.BooleanField()


class ForwardedFromOut(serializers.Serializer):
    sender = UserOut(allow_null=True, help_text="null only when that account was deleted")
    created_at = serializers.DateTimeField()


class ReactionOut(serializers.Serializer):
    emoji = serializers.CharField()
    count = serializers.IntegerField()
    users = serializers.ListField(child=serializers.UUIDField(), help_text="the first 20 who reacted")
    me = serializers.BooleanField(help_text="the reader reacted with it")


class MessageOut(serializers.Serializer):
    id = serializers.UUIDField()
    conversation = serializers.UUIDField()
    seq = serializers.IntegerField()
    sender = UserOut(allow_null=True)
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    content = serializers.JSONField(allow_null=True, help_text="text, caption, or a call/system/bundle object")
    file = FileOut(allow_null=True)
    client_msg_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    recalled = serializers.BooleanField()
    reply_to = ReplyToOut(allow_null=True)
    forwarded_from = ForwardedFromOut(allow_null=True)
    mentions = serializers.ListField(child=serializers.UUIDField())
    mention_all = serializers.BooleanField()
    edited_at = serializers.DateTimeField(allow_null=True)
    reactions = ReactionOut(many=True)
    pinned = serializers.BooleanField()
