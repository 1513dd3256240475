"""The search indexer: a consumer group of its own on the bus.

It reads the `messages` topic behind the message worker and the `index`
topic (edits and recalls), and catches the index up with the logs of the
conversations they name (search.indexer). In Kafka it is
`manage.py run_indexer`; embedded, the in-process bus runs it on a thread of
its own after the store step. Sending never waits for it.
"""

from __future__ import annotations

from chatsite import wire
from chatsite.bus import INDEX_TOPIC, Record, bus_handler
from messaging.actions.send import TOPIC as MESSAGES_TOPIC
from messaging.followers import stored_messages
from search.indexer import index_conversations

GROUP = "search"


@bus_handler(MESSAGES_TOPIC, group=GROUP)
def index_sent(records: list[Record]) -> list[tuple[Record, str]]:
    # Each conversation is caught up as soon as a message of it is found stored.
    _, rejected = stored_messages(
        records,
        fields=("id", "conversation_id", "sender_id", "client_msg_id"),
        on_found=lambda found: index_conversations({m.conversation_id for m in found}),
    )
    return rejected


@bus_handler(INDEX_TOPIC, group=GROUP)
def index_changed(records: list[Record]) -> list[tuple[Record, str]]:
    rejected: list[tuple[Record, str]] = []
    conversations: set[int] = set()
    for record in records:
        try:
            data = wire.loads(record.value)
            if data.get("v") != 1 or not isinstance(data["c"], int):
                raise ValueError("unknown record version")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            rejected.append((record, f"undecodable record: {exc}"))
            continue
        conversations.add(data["c"])
    index_conversations(conversations)
    return rejected
