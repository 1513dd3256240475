"""Smart replies' worker: the consumer group `assistant` on the bus.

It reads the `messages` topic behind the message worker (which stores them),
embeds the direct chats' text messages and offers their recipients replies
(assistant.smart_replies). In Kafka it is `manage.py run_assistant`;
embedded, the in-process bus runs it on a thread of its own after the store
step. Sending never waits for it. With ASSISTANT=0 it does nothing.
"""

from __future__ import annotations

from assistant.smart_replies import FIELDS, handle_stored
from chatsite.bus import Record, bus_handler
from messaging.actions.send import TOPIC as MESSAGES_TOPIC
from messaging.followers import stored_messages

GROUP = "assistant"


@bus_handler(MESSAGES_TOPIC, group=GROUP)
def suggest_replies(records: list[Record]) -> list[tuple[Record, str]]:
    messages, rejected = stored_messages(records, fields=FIELDS, related=("conversation",))
    handle_stored(messages)
    return rejected
