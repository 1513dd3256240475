"""The notifier: a consumer group of its own on the bus.

It reads the `messages` topic behind the message worker (which stores them)
and the `notify` topic (calls, contact requests), and plans the pushes
(notifications.delivery). In Kafka it is `manage.py run_notifier`; embedded,
the in-process bus runs it on a thread of its own after the store step.
Planning is idempotent, so a redelivery owes nothing more.
"""

from __future__ import annotations

import logging

from chatsite import wire
from chatsite.bus import NOTIFY_TOPIC, Record, bus_handler
from messaging.actions.send import TOPIC as MESSAGES_TOPIC
from messaging.followers import stored_messages
from notifications.delivery import plan_call, plan_contact_request, plan_messages

logger = logging.getLogger(__name__)

GROUP = "notifier"
# What planning reads of a message.
PLANNED_FIELDS = (
    "id",
    "conversation_id",
    "conversation__kind",
    "seq",
    "sender_id",
    "client_msg_id",
    "kind",
    "silent",
    "recalled",
    "mentions",
    "mention_all",
)


@bus_handler(MESSAGES_TOPIC, group=GROUP)
def plan_message_pushes(records: list[Record]) -> list[tuple[Record, str]]:
    messages, rejected = stored_messages(records, fields=PLANNED_FIELDS, related=("conversation",))
    if messages:
        plan_messages(messages)
    return rejected


@bus_handler(NOTIFY_TOPIC, group=GROUP)
def plan_notify_pushes(records: list[Record]) -> list[tuple[Record, str]]:
    rejected: list[tuple[Record, str]] = []
    for record in records:
        try:
            data = wire.loads(record.value)
            kind, object_id = data["type"], data["id"]
            if data.get("v") != 1 or not isinstance(object_id, int):
                raise ValueError("unknown record version")
        except (ValueError, KeyError, TypeError) as exc:
            rejected.append((record, f"undecodable record: {exc}"))
            continue
        if kind == "call":
            plan_call(object_id)
        elif kind == "contact_request":
            plan_contact_request(object_id)
        else:
            rejected.append((record, f"unknown notify type {kind!r}"))
    return rejected
