"""Reads of smart replies: who gets them, and one person's own history.

A person's history is made of their own direct chats only: the messages
someone sent them (through the vectors that name them as the recipient) and
what they answered next. Nothing here ever reads a message someone else
received, so suggestions never carry another user's data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from accounts.models import User, UserStatus
from assistant import embedding
from assistant.models import AssistantPreference, MessageVector
from conversations.models import Message, MessageKind

# The received messages a suggestion looks back on (newest first): about 3 MB
# of vectors at most, and `suggest_replies` over them costs a few ms.
HISTORY_PAIRS = 2000
# An answer is what the recipient wrote next in the conversation, within this
# of the message: a message the next day is more likely a new subject.
REPLY_WITHIN = timedelta(hours=6)


def smart_replies_available() -> bool:
    """Whether this deployment offers smart replies: ASSISTANT is on and the
    engine can run here (checked without loading the model)."""
    return bool(settings.ASSISTANT) and embedding.is_supported()


def get_smart_replies(*, user: User) -> bool:
    """Whether `user` gets smart replies: offered here, and not switched off by them."""
    if not smart_replies_available():
        return False
    row = AssistantPreference.objects.filter(user=user).first()
    return row is None or row.smart_replies


def users_with_smart_replies(*, user_ids: Iterable[int]) -> dict[int, str | None]:
    """Of `user_ids`, the people who get smart replies (not bots, active, not
    switched off), each with the language they chose for the app (or None).
    One query. Does not check the deployment (smart_replies_available)."""
    user_ids = set(user_ids)
    switched_off = AssistantPreference.objects.filter(user_id__in=user_ids, smart_replies=False).values("user_id")
    rows = (
        User.objects.filter(pk__in=user_ids, is_bot=False, status=UserStatus.ACTIVE)
        .exclude(pk__in=switched_off)
        .values_list("pk", "language")
    )
    return dict(rows)


@dataclass(frozen=True)
class HistoryRow:
    """A message `user` received in a direct chat and what they answered."""

    message_id: int
    incoming_text: str
    vector: bytes  # embedding.to_bytes, computed with `model`
    model: str
    reply_text: str


def history_rows(
    *, user_id: int, exclude_message_id: int | None = None, limit: int = HISTORY_PAIRS
) -> list[HistoryRow]:
    """The last `limit` messages `user_id` received in their direct chats and
    answered (MessageVector.reply), oldest first. One query, by the
    (recipient, message) index.

    Only vectors that name `user_id` as the recipient, so only this user's
    own chats. Recalled messages and answers are left out, and so are edited
    messages (their vector is of their first text). Rows of another model
    than embedding.MODEL_ID are returned as they are: the caller embeds
    them again."""
    rows = MessageVector.objects.filter(
        recipient_id=user_id,
        reply__isnull=False,
        reply__recalled=False,
        message__recalled=False,
        message__edited_at__isnull=True,
    )
    if exclude_message_id is not None:
        rows = rows.exclude(message_id=exclude_message_id)
    rows = rows.order_by("-message_id").values_list("message_id", "model", "vector", "message__text", "reply__text")
    return [
        HistoryRow(message_id, text, bytes(vector), model, reply)
        for message_id, model, vector, text, reply in reversed(list(rows[:limit]))
        if text and reply
    ]


def answered_message(*, message: Message) -> int | None:
    """The id of the message `message` answers, if any: the one just before it
    in its conversation (events aside), sent by the other member within
    REPLY_WITHIN. One query (by the conversation's seq index, backwards)."""
    previous = (
        Message.objects.filter(conversation_id=message.conversation_id, seq__lt=message.seq, silent=False)
        .order_by("-seq")
        .values_list("pk", "sender_id", "kind", "created_at")
        .first()
    )
    if previous is None:
        return None
    pk, sender_id, kind, created_at = previous
    if kind != MessageKind.TEXT or sender_id == message.sender_id or message.created_at - created_at > REPLY_WITHIN:
        return None
    return pk
