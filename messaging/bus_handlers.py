"""The bus handler for chat messages: decode, store (idempotent, gapless), fan out."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from django.db import InterfaceError, OperationalError

from chatsite import bus, metrics
from chatsite.bus import Record, bus_handler
from conversations.store import Incoming, store_messages
from messaging.actions.send import TOPIC, decode_records

logger = logging.getLogger(__name__)

# Errors that say "try again later" (the database is down or restarting);
# anything else about a record is that record's fault.
TRANSIENT = (OperationalError, InterfaceError)


def _count(items, results) -> None:
    now = time.time()
    duplicates = 0
    for item, result in zip(items, results, strict=True):
        if result.duplicate:
            duplicates += 1
        elif item.accepted_at is not None:
            metrics.store_latency.observe(max(0.0, now - item.accepted_at))
    bus.count("messages.duplicates", duplicates)
    bus.count("messages.stored", len(results) - duplicates)
    metrics.messages_duplicates.inc(duplicates)
    metrics.messages_stored.inc(len(results) - duplicates)


@bus_handler(TOPIC)
def handle_messages(records: list[Record]) -> list[tuple[Record, str]]:
    """The whole poll in one transaction (conversations.store). A batch that
    fails for a reason of its own (not the database being away) is tried
    again a conversation at a time, and a conversation that still fails
    message by message, so one bad record is dead-lettered and its
    neighbours are stored."""
    decoded, rejected = decode_records(records)
    if not decoded:
        return rejected
    try:
        _count([item for _, item in decoded], store_messages([item for _, item in decoded], need_keys=False))
        return rejected
    except TRANSIENT:
        raise
    except Exception:
        logger.exception("batch of %d failed; storing it a conversation at a time", len(decoded))
    by_conversation: OrderedDict[int, list[tuple[Record, Incoming]]] = OrderedDict()
    for record, item in decoded:
        by_conversation.setdefault(item.conversation_id, []).append((record, item))
    for conversation_id, pairs in by_conversation.items():
        try:
            items = [item for _, item in pairs]
            _count(items, store_messages(items, need_keys=False))
        except TRANSIENT:
            raise
        except Exception:
            logger.exception("conversation %s: batch failed; isolating the bad record", conversation_id)
            for record, item in pairs:
                try:
                    _count([item], store_messages([item], need_keys=False))
                except TRANSIENT:
                    raise
                except Exception as exc:
                    rejected.append((record, f"{type(exc).__name__}: {exc}"[:500]))
    return rejected
