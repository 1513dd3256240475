"""Smart replies, from stored messages to the frame: what the `assistant`
consumer group does with a batch of the `messages` topic
(assistant/bus_handlers.py).

For the text messages of direct conversations in the batch whose recipient
gets smart replies (a person, active, switch on; ASSISTANT on):

1. embed them in one call (`embedding.embed`, batched) and store each vector
   under its message, naming the recipient (assistant.models.MessageVector);
2. for every direct text message of the batch, note it as the answer to the
   message it follows, when that one has a vector (the sender's history:
   `_pair_answers`);
3. for the newest of them in each conversation, if it is still fresh, build
   the recipient's own history (assistant.selectors.history_rows: the
   messages they received in their direct chats and what they answered),
   ask `replies.suggest_replies`, and send the recipient's sockets, and only
   theirs, a `reply.suggestions` frame when there is at least one.

Never the sender's sockets, never a bot, never a group message, never anyone
else's history. Idempotent: a message that already has a vector of this
model was handled (a redelivery sends nothing again). The send path never
waits for any of this: it runs behind the store step, on a thread of the
in-process bus or in `manage.py run_assistant`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from assistant import embedding, replies
from assistant.models import MessageVector
from assistant.selectors import (
    answered_message,
    history_rows,
    smart_replies_available,
    users_with_smart_replies,
)
from chatsite import bus, realtime
from conversations.models import ConversationKind, Message, MessageKind
from conversations.selectors import direct_peer_id

logger = logging.getLogger(__name__)

# What the worker reads of a stored message.
FIELDS = (
    "id",
    "uuid",
    "conversation_id",
    "conversation__uuid",
    "conversation__kind",
    "conversation__direct_key",
    "seq",
    "sender_id",
    "client_msg_id",
    "kind",
    "text",
    "recalled",
    "created_at",
)
# A message older than this when the worker gets to it (a backlog after an
# outage) is embedded but gets no suggestion: its moment has passed.
FRESH_S = 60.0
# History vectors of another model embedded again per suggestion, newest
# first (after a model change a person's history comes back over a few messages).
REEMBED_MAX = 32


@dataclass(frozen=True)
class _Received:
    message: Message
    recipient_id: int


def handle_stored(messages: list[Message]) -> int:
    """Embed the batch's direct text messages and offer replies to their
    recipients (the module's docstring says who and when); returns the
    number of frames sent."""
    if not messages or not smart_replies_available():
        return 0
    direct = _received(messages)
    if not direct:
        return 0
    wanting = users_with_smart_replies(user_ids={r.recipient_id for r in direct})
    received = [r for r in direct if r.recipient_id in wanting]
    handled = set(
        MessageVector.objects.filter(
            message_id__in=[r.message.pk for r in received], model=embedding.MODEL_ID
        ).values_list("message_id", flat=True)
    )
    received = [r for r in received if r.message.pk not in handled]
    vectors = np.empty((0, embedding.DIM), dtype=np.float32)
    if received:
        try:
            vectors = embedding.embed([r.message.text or "" for r in received])
        except embedding.EmbeddingUnavailable:
            return 0  # logged once by `embedding`; the REST route says unavailable
        _store_vectors(received, vectors)
        bus.count("assistant.embedded", len(received))
    _pair_answers([r.message for r in direct])
    if not received:
        return 0

    # Only for the newest message of its conversation in the batch: an older
    # one was answered already, or is followed by one that will be.
    newest: dict[int, int] = {}
    for r in direct:
        newest[r.message.conversation_id] = max(r.message.seq, newest.get(r.message.conversation_id, 0))
    deliveries = []
    now = time.time()
    for i, r in enumerate(received):
        if r.message.seq < newest[r.message.conversation_id] or now - r.message.created_at.timestamp() > FRESH_S:
            continue
        found = replies.suggest_replies(
            text=r.message.text or "",
            vector=vectors[i],
            history=_history(user_id=r.recipient_id, exclude_message_id=r.message.pk),
            fallback_language=wanting[r.recipient_id],
        )
        if found:
            deliveries.append(([r.recipient_id], realtime.frame_envelope(_frame(r.message, found))))
    if deliveries:
        realtime.deliver_many(deliveries)
        bus.count("assistant.suggested", len(deliveries))
    return len(deliveries)


def _received(messages: list[Message]) -> list[_Received]:
    """The batch's text messages of direct conversations, with who received each."""
    found = []
    for m in messages:
        if (
            m.kind != MessageKind.TEXT
            or m.recalled
            or not (m.text or "").strip()
            or m.sender_id is None
            or m.conversation.kind != ConversationKind.DIRECT
        ):
            continue
        recipient_id = direct_peer_id(m.conversation, m.sender_id)
        if recipient_id is not None and recipient_id != m.sender_id:
            found.append(_Received(m, recipient_id))
    return found


def _store_vectors(received: list[_Received], vectors: np.ndarray) -> None:
    rows = [
        MessageVector(
            message_id=r.message.pk,
            conversation_id=r.message.conversation_id,
            seq=r.message.seq,
            recipient_id=r.recipient_id,
            model=embedding.MODEL_ID,
            vector=embedding.to_bytes(vector),
        )
        for r, vector in zip(received, vectors, strict=True)
    ]
    with transaction.atomic():
        # A vector of another model is replaced; a concurrent redelivery's row is kept.
        MessageVector.objects.filter(message_id__in=[row.message_id for row in rows]).delete()
        MessageVector.objects.bulk_create(rows, ignore_conflicts=True)


def _pair_answers(messages: list[Message]) -> None:
    """Note each message as the answer to the one it follows in its direct
    chat (selectors.answered_message), on that one's vector, which names this
    message's sender as its recipient: their own history. Idempotent."""
    for message in messages:
        answered = answered_message(message=message)
        if answered is not None:
            MessageVector.objects.filter(message_id=answered, recipient_id=message.sender_id).update(
                reply_id=message.pk
            )


def _history(*, user_id: int, exclude_message_id: int) -> list[replies.HistoryPair]:
    """`user_id`'s own history pairs, oldest first, with vectors of this
    model (up to REEMBED_MAX of another model's embedded again and stored)."""
    rows = history_rows(user_id=user_id, exclude_message_id=exclude_message_id)
    stale = [row for row in rows if row.model != embedding.MODEL_ID][-REEMBED_MAX:]
    fresh: dict[int, np.ndarray] = {}
    if stale:
        vectors = embedding.embed([row.incoming_text for row in stale])
        fresh = {row.message_id: vector for row, vector in zip(stale, vectors, strict=True)}
        for row, vector in zip(stale, vectors, strict=True):
            MessageVector.objects.filter(message_id=row.message_id).update(
                model=embedding.MODEL_ID, vector=embedding.to_bytes(vector)
            )
    pairs = []
    for row in rows:
        if row.message_id in fresh:
            vector = fresh[row.message_id]
        elif row.model == embedding.MODEL_ID:
            vector = embedding.from_bytes(row.vector)
        else:
            continue
        pairs.append(replies.HistoryPair(row.incoming_text, vector, row.reply_text))
    return pairs


def _frame(message: Message, suggestions: list[replies.Suggestion]) -> dict:
    return {
        "type": "reply.suggestions",
        "conversation": str(message.conversation.uuid),
        "message": str(message.uuid),
        "seq": message.seq,
        "suggestions": [s.text for s in suggestions],
    }
