"""The bots group: a consumer group of its own on the bus.

It reads the `messages` topic behind the message worker (which stores them)
and the `commands` topic (slash commands for bots), and plans the outgoing
events (bots.events). In Kafka it is `manage.py run_bot_worker`; embedded,
the in-process bus runs it on a thread of its own after the store step.
Planning is idempotent, so a redelivery owes nothing more.
"""

from __future__ import annotations

import logging

from accounts.models import User, UserStatus
from bots.events import any_listening, plan_command, plan_messages
from chatsite import wire
from chatsite.bus import COMMANDS_TOPIC, Record, bus_handler
from conversations.models import Conversation, Message
from messaging.actions.send import TOPIC as MESSAGES_TOPIC
from messaging.followers import stored_messages

logger = logging.getLogger(__name__)

GROUP = "bots"
# An event carries the whole Message object.
PLANNED_FIELDS = (
    *(f.name for f in Message._meta.concrete_fields),
    "conversation__uuid",
    "conversation__kind",
)


@bus_handler(MESSAGES_TOPIC, group=GROUP)
def plan_message_events(records: list[Record]) -> list[tuple[Record, str]]:
    if not any_listening():
        return []  # no bot has an events URL: nothing to read
    messages, rejected = stored_messages(records, fields=PLANNED_FIELDS, related=("conversation",))
    if messages:
        plan_messages(messages)
    return rejected


@bus_handler(COMMANDS_TOPIC, group=GROUP)
def plan_command_events(records: list[Record]) -> list[tuple[Record, str]]:
    rejected: list[tuple[Record, str]] = []
    for record in records:
        try:
            data = wire.loads(record.value)
            if data.get("v") != 1:
                raise ValueError("unknown record version")
            ids = (data["conversation"], data["user"], data["bot"])
            if not all(isinstance(i, int) for i in ids):
                raise ValueError("ids are not integers")
            command_id, name, text = str(data["id"]), str(data["command"]), str(data["text"])
        except (ValueError, KeyError, TypeError) as exc:
            rejected.append((record, f"undecodable record: {exc}"))
            continue
        conversation = Conversation.objects.filter(pk=ids[0]).first()
        users = {u.pk: u for u in User.objects.select_related("avatar").filter(pk__in=ids[1:])}
        user, bot = users.get(ids[1]), users.get(ids[2])
        if conversation is None or user is None or bot is None or bot.status != UserStatus.ACTIVE:
            logger.info("command %s dropped: its conversation, caller or bot is gone", command_id)
            continue
        plan_command(command_id=command_id, conversation=conversation, user=user, bot=bot, name=name, text=text)
    return rejected
