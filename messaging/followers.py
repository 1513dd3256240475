"""For consumer groups that follow the message worker on the `messages`
topic (the notifier, the search indexer): the stored messages of a batch of
send records.

In Kafka a follower reads the records at the same time as the message
worker, so it may be ahead of it: it waits a little, and hands the batch back
for a retry (NotStoredYet) while the worker has not handled a record yet.
A record the worker has handled whose message is not found was refused, or
deleted since: it is left out. In-process the store step has run already
(the HANDLED header), so what is not found is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from chatsite.bus import HANDLED, STORE, Record
from conversations.models import Message
from messaging.actions.send import decode_records

logger = logging.getLogger(__name__)

# A sent message the store step has not stored after this long never will be
# (it was refused and dead-lettered).
STORE_WAIT_S = 120
# Short, even steps (about 3 s in all): a record stored just after a check is
# seen 0.1 s later, not after a back-off that has grown to a second.
STORE_WAITS = (0.02, 0.05, *(0.1,) * 30)
# The store step usually commits within this of the gateway accepting a
# message: looking earlier mostly finds nothing and costs a query.
STORE_HEAD_START_S = 0.05

Key = tuple[int, str]  # (sender, client_msg_id)


class NotStoredYet(Exception):
    """The follower ran ahead of the message worker: the batch is retried."""


def _stored(keys: list[Key], fields: Sequence[str], related: Sequence[str]) -> dict[Key, Message]:
    if not keys:
        return {}
    wanted = set(keys)
    rows = (
        Message.objects.select_related(*related)
        .only(*fields)
        .filter(sender_id__in={s for s, _ in keys}, client_msg_id__in={c for _, c in keys})
    )
    return {(m.sender_id, m.client_msg_id): m for m in rows if (m.sender_id, m.client_msg_id) in wanted}


def _not_handled_yet(keys: list[Key], sources: dict[Key, Record]) -> list[Key]:
    """Of messages not found, those the message worker has not handled yet
    (its group's committed offset is not past their record)."""
    # The Kafka client only where a broker is configured (records from it).
    from chatsite.bus.worker import store_committed

    try:
        committed = store_committed([sources[k] for k in keys])
    except Exception as exc:
        logger.info("could not read the message worker's offsets: %s", exc)
        return keys
    return [k for k in keys if sources[k].offset >= committed.get((sources[k].topic, sources[k].partition), -1)]


def stored_messages(
    records: list[Record],
    *,
    fields: Sequence[str],
    related: Sequence[str] = (),
    on_found: Callable[[list[Message]], None] | None = None,
) -> tuple[list[Message], list[tuple[Record, str]]]:
    """(the stored messages of these send records, oldest first; the records
    that cannot be decoded, with why). Raises NotStoredYet. `on_found` is
    given the messages found at each step as they are found, so a follower
    need not hold the stored ones back while it waits for the rest."""
    wanted: dict[Key, float | None] = {}
    sources: dict[Key, Record] = {}
    behind_store = all(r.headers.get(HANDLED) == STORE.encode() for r in records)
    decoded, rejected = decode_records(records)
    for record, item in decoded:
        wanted[(item.sender_id, item.client_msg_id)] = item.accepted_at
        sources[(item.sender_id, item.client_msg_id)] = record
    if not wanted:
        return [], rejected
    newest = max((a for a in wanted.values() if a is not None), default=None)
    if newest is not None and not behind_store:
        time.sleep(min(STORE_HEAD_START_S, max(0.0, newest + STORE_HEAD_START_S - time.time())))
    found: dict[Key, Message] = {}
    # The message worker reads the same records at the same time: give it a
    # moment before handing the batch back for a retry.
    for pause in (*STORE_WAITS, None):
        fresh = _stored([k for k in wanted if k not in found], fields, related)
        found.update(fresh)
        if fresh and on_found is not None:
            on_found(sorted(fresh.values(), key=lambda m: m.pk))
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
        logger.info("%d messages were never stored", len(missing))
    return sorted(found.values(), key=lambda m: m.pk), rejected
