"""The notifier: a consumer group of its own on the bus.

It reads the `messages` topic behind the message worker (which stores them)
and the `notify` topic (calls, contact requests), and plans the pushes
(notifications.delivery). In Kafka it is `manage.py run_notifier`; embedded,
the in-process bus runs it on a thread of its own after the store step.
Planning is idempotent, so a redelivery owes nothing more.
"""

from __future__ import annotations

import logging
import time

from chatsite import wire
from chatsite.bus import HANDLED, NOTIFY_TOPIC, STORE, Record, bus_handler
from conversations.models import Message
from messaging.actions.send import TOPIC as MESSAGES_TOPIC
from messaging.actions.send import decode_record
from notifications.delivery import plan_call, plan_contact_request, plan_messages

logger = logging.getLogger(__name__)

GROUP = "notifier"
# A sent message the store step has not stored after this long never will be
# (it was refused and dead-lettered): it owes no push.
STORE_WAIT_S = 120


STORE_WAITS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
# The store step usually commits within this of the gateway accepting a
# message: looking earlier mostly finds nothing and costs a query.
STORE_HEAD_START_S = 0.05
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


def _stored(keys: list[tuple[int, str]]) -> dict[tuple[int, str], Message]:
    if not keys:
        return {}
    wanted = set(keys)
    rows = (
        Message.objects.select_related("conversation")
        .only(*PLANNED_FIELDS)
        .filter(sender_id__in={s for s, _ in keys}, client_msg_id__in={c for _, c in keys})
    )
    return {(m.sender_id, m.client_msg_id): m for m in rows if (m.sender_id, m.client_msg_id) in wanted}


def _not_handled_yet(keys: list[tuple[int, str]], sources: dict[tuple[int, str], Record]) -> list[tuple[int, str]]:
    """Of messages not found, those the message worker has not handled yet
    (its group's committed offset is not past their record). The others were
    refused, or deleted since (an account, a conversation): no push."""
    # The Kafka client only where a broker is configured (records from it).
    from chatsite.bus.worker import store_committed

    try:
        committed = store_committed([sources[k] for k in keys])
    except Exception as exc:
        logger.info("could not read the message worker's offsets: %s", exc)
        return keys
    return [k for k in keys if sources[k].offset >= committed.get((sources[k].topic, sources[k].partition), -1)]


class NotStoredYet(Exception):
    """The notifier ran ahead of the message worker: the batch is retried."""


@bus_handler(MESSAGES_TOPIC, group=GROUP)
def plan_message_pushes(records: list[Record]) -> list[tuple[Record, str]]:
    rejected: list[tuple[Record, str]] = []
    wanted: dict[tuple[int, str], float | None] = {}
    sources: dict[tuple[int, str], Record] = {}
    # In-process the store step has run already: what is not found is gone.
    behind_store = all(r.headers.get(HANDLED) == STORE.encode() for r in records)
    for record in records:
        try:
            item = decode_record(record.value)
        except (ValueError, KeyError, TypeError) as exc:
            rejected.append((record, f"undecodable record: {exc}"))
            continue
        wanted[(item.sender_id, item.client_msg_id)] = item.accepted_at
        sources[(item.sender_id, item.client_msg_id)] = record
    if not wanted:
        return rejected
    newest = max((a for a in wanted.values() if a is not None), default=None)
    if newest is not None and not behind_store:
        time.sleep(min(STORE_HEAD_START_S, max(0.0, newest + STORE_HEAD_START_S - time.time())))
    found: dict[tuple[int, str], Message] = {}
    # The message worker reads the same records at the same time: give it a
    # moment before handing the batch back for a retry.
    for pause in (*STORE_WAITS, None):
        found.update(_stored([k for k in wanted if k not in found]))
        missing = [k for k in wanted if k not in found]
        now = time.time()
        pending = [] if behind_store else [k for k in missing if wanted[k] is None or now - wanted[k] < STORE_WAIT_S]
        if pending and pause is None:
            pending = _not_handled_yet(pending, sources)
        if not pending:
            break
        if pause is None:
            raise NotStoredYet(f"{len(pending)} messages not stored yet")
        time.sleep(pause)
    if missing:
        logger.info("%d messages were never stored: no push for them", len(missing))
    plan_messages(sorted(found.values(), key=lambda m: m.pk))
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
