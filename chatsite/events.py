"""Scheduling events for sockets from services.

Services compute the recipients at write time and schedule the event to go
out when the transaction commits (Zulip's `send_event_on_commit`): nobody hears
of a change that was rolled back, and the recipient set is the one that was
true when the change was made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from chatsite import bus, realtime, wire

logger = logging.getLogger(__name__)


def _on_commit(fn) -> None:
    transaction.on_commit(fn, robust=True)


def send_event_on_commit(*, user_ids: Iterable[int], frame: dict) -> None:
    """Send `frame` to every socket of these users once the transaction commits."""
    targets = set(user_ids)
    if not targets:
        return
    envelope = realtime.frame_envelope(frame)
    _on_commit(lambda: realtime.deliver(targets, envelope))


def send_events_on_commit(items: Iterable[tuple[Iterable[int], dict]]) -> None:
    """Several (recipients, frame) pairs in one round trip."""
    batch = [(set(uids), realtime.frame_envelope(frame)) for uids, frame in items]
    batch = [(uids, env) for uids, env in batch if uids]
    if batch:
        _on_commit(lambda: realtime.deliver_many(batch))


def close_sockets_on_commit(*, user_ids: Iterable[int], code: int, session_id: str | None = None) -> None:
    """Close the users' sockets (only those of one login session when given)."""
    targets = set(user_ids)
    if not targets:
        return
    envelope = realtime.close_envelope(code, session_id=session_id)
    _on_commit(lambda: realtime.deliver(targets, envelope))


def access_changed_on_commit(*, user_ids: Iterable[int]) -> None:
    """Tell the users' sockets, once the transaction commits, that something
    they may have been allowed to do may no longer be: they drop their cached
    grants (chatsite.gateway.consumer.Connection.grants) and check again.
    Call it wherever a permission is taken away; what grants one needs no call."""
    targets = set(user_ids)
    if targets:
        envelope = realtime.access_envelope()
        _on_commit(lambda: realtime.deliver(targets, envelope))


def deliver_envelopes_on_commit(items: Iterable[tuple[Iterable[int], dict]]) -> None:
    """Prebuilt layer messages (see chatsite.realtime), delivered in one round trip on commit."""
    batch = [(set(uids), env) for uids, env in items]
    batch = [(uids, env) for uids, env in batch if uids]
    if batch:
        _on_commit(lambda: realtime.deliver_many(batch))


def notify_on_commit(*, kind: str, object_id: int, key: str) -> None:
    """Tell the notifier (a consumer group of its own on the bus) of a call or
    a contact request once the transaction commits. Best effort: a failure is
    logged and never fails the request (the socket frames are the fast path)."""
    value = wire.dumps_bytes({"v": 1, "type": kind, "id": object_id})

    def post() -> None:
        try:
            bus.get_bus().post(topic=bus.NOTIFY_TOPIC, key=key, value=value)
        except Exception as exc:
            logger.warning("could not tell the notifier of %s %s: %s", kind, object_id, exc)

    _on_commit(post)


def reindex_on_commit(*, conversation_id: int, key: str) -> None:
    """Tell the search indexer that a conversation's log changed (an edit, a
    recall) once the transaction commits. Best effort, like notify_on_commit:
    the next send in the conversation or `manage.py rebuild_search_index`
    catches up what a lost hint left behind."""
    value = wire.dumps_bytes({"v": 1, "c": conversation_id})

    def post() -> None:
        try:
            bus.get_bus().post(topic=bus.INDEX_TOPIC, key=key, value=value)
        except Exception as exc:
            logger.warning("could not tell the search indexer of conversation %s: %s", conversation_id, exc)

    _on_commit(post)
