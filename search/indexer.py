"""Keeping the index a copy of the messages.

The indexer reads each conversation's log in seq order from where it last
stopped (IndexedLog): a text or file message is written to the index, an
`edit` event rewrites its target from the target's current text, a `recall`
removes it. Every write is of a message's current state, so doing it twice
(a redelivered record, two indexers, a rebuild beside the live indexer) does
no harm, and the index can be thrown away and rebuilt from the messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import connection
from django.db.models import Q

from conversations.models import Conversation, Message, MessageKind
from search import backends
from search.backends import HAS_FILE, HAS_IMAGE, HAS_NONE, Doc, micros
from search.models import IndexedLog
from search.text import index_body

logger = logging.getLogger(__name__)

BATCH = 500
# What the index reads of a message.
FIELDS = (
    *("id", "uuid", "conversation_id", "seq", "sender_id", "created_at", "kind", "text", "recalled", "data"),
    *("target_seq", "file__name", "file__mime"),
)


def doc_for(message: Message) -> Doc | None:
    """The index row of a message, None when it is not searchable (a system
    message, a call, a bundle, a recalled one, one with no words)."""
    if message.recalled or message.kind not in (MessageKind.TEXT, MessageKind.FILE):
        return None
    has = HAS_NONE
    name = None
    if message.kind == MessageKind.FILE and message.file_id is not None:
        name = message.file.name
        has = HAS_IMAGE if (message.file.mime or "").startswith("image/") else HAS_FILE
    body = index_body(message.text, [name] if name else [])
    if not body:
        return None
    return Doc(
        message_id=message.pk,
        uuid=message.uuid.hex,
        conversation_id=message.conversation_id,
        seq=message.seq,
        sender_id=message.sender_id,
        created_us=micros(message.created_at),
        has=has,
        body=f" {body} ",
    )


def _messages(query) -> list[Message]:
    return list(query.select_related("file").only(*FIELDS))


def apply(messages: Iterable[Message]) -> tuple[int, int]:
    """Write the index rows of these messages and of the targets of the edit
    and recall events among them. Returns (written, removed)."""
    current: dict[int, Message] = {}
    targets: dict[int, set[int]] = {}
    for m in messages:
        if m.kind == MessageKind.SYSTEM:
            event = (m.data or {}).get("event")
            if event in ("edit", "recall") and m.target_seq is not None:
                targets.setdefault(m.conversation_id, set()).add(m.target_seq)
        else:
            current[m.pk] = m
    if targets:
        which = Q()
        for cid, seqs in targets.items():
            which |= Q(conversation_id=cid, seq__in=seqs)
        for m in _messages(Message.objects.filter(which)):
            current[m.pk] = m
    return _write(current.values())


def _write(messages: Iterable[Message]) -> tuple[int, int]:
    """Each message's current index row written, or removed when it is not
    searchable. Returns (written, removed)."""
    docs, gone = [], []
    for m in messages:
        doc = doc_for(m)
        if doc is None:
            gone.append(m.pk)
        else:
            docs.append(doc)
    backends.write(docs, gone)
    return len(docs), len(gone)


def index_conversations(conversation_ids: Iterable[int]) -> int:
    """Catch the index up with these conversations' logs; the number of log
    entries read."""
    read = 0
    for cid in sorted(set(conversation_ids)):
        read += _catch_up(cid)
    return read


def _catch_up(conversation_id: int) -> int:
    done = IndexedLog.objects.filter(conversation_id=conversation_id).values_list("indexed_seq", flat=True).first()
    if done is None:
        if not Conversation.objects.filter(pk=conversation_id).exists():
            return 0
        done = 0
    read = 0
    while True:
        batch = _messages(Message.objects.filter(conversation_id=conversation_id, seq__gt=done).order_by("seq")[:BATCH])
        if not batch:
            return read
        apply(batch)
        done = batch[-1].seq
        read += len(batch)
        # The index is written first: a crash in between reads these again.
        mark_indexed({conversation_id: done})
        if len(batch) < BATCH:
            return read


def mark_indexed(upto: dict[int, int]) -> None:
    """Move the conversations' marks forward (never back: another indexer or
    a rebuild may be further on), in batches of one statement."""
    table = IndexedLog._meta.db_table
    if connection.vendor == "sqlite":
        upsert = "ON CONFLICT(conversation_id) DO UPDATE SET indexed_seq = MAX(indexed_seq, excluded.indexed_seq)"
    else:
        upsert = "ON DUPLICATE KEY UPDATE indexed_seq = GREATEST(indexed_seq, VALUES(indexed_seq))"
    items = sorted(upto.items())
    for i in range(0, len(items), 1000):
        chunk = items[i : i + 1000]
        # Not a conversation deleted meanwhile (its marks went with it).
        alive = set(Conversation.objects.filter(pk__in=[cid for cid, _ in chunk]).values_list("pk", flat=True))
        chunk = [(cid, seq) for cid, seq in chunk if cid in alive]
        if not chunk:
            continue
        marks = ", ".join(["(%s, %s)"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (conversation_id, indexed_seq) VALUES {marks} {upsert}",
                [v for pair in chunk for v in pair],
            )


# --------------------------------------------------------------------------- rebuilding


def rebuild(*, fresh: bool = False, batch: int = 2000, progress: Callable[[int, int], None] | None = None) -> dict:
    """Write every message's index row from the messages, in batches of
    `batch` by id, while the server serves (the live indexer keeps writing new
    messages meanwhile; both write current states). `fresh` drops the table
    first and creates it anew (after enabling Mroonga, or to reclaim space):
    searches find less until it is done. Rows of messages that no longer
    exist are removed. Returns counts."""
    if fresh:
        backends.drop_table()
        IndexedLog.objects.all().delete()
    kind = backends.create_table()
    backends.forget_choice()
    # Everything up to these seqs is read by the scan below.
    marks = dict(Conversation.objects.values_list("id", "last_seq"))
    total = Message.objects.count()
    written = seen = 0
    last = 0
    while True:
        rows = _messages(Message.objects.filter(pk__gt=last).order_by("pk")[:batch])
        if not rows:
            break
        last = rows[-1].pk
        added, _ = _write(rows)
        written += added
        seen += len(rows)
        if progress:
            progress(seen, total)
    orphans = _remove_orphans(batch)
    mark_indexed({cid: seq for cid, seq in marks.items() if seq})
    return {"index": kind, "messages": seen, "indexed": written, "orphans_removed": orphans}


def _remove_orphans(batch: int) -> int:
    """Index rows whose message is gone (a deleted account's or conversation's)."""
    key = "rowid" if connection.vendor == "sqlite" else "message_id"
    removed = 0
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {key} FROM {backends.TABLE} WHERE {key} > %s ORDER BY {key} LIMIT %s", [last, batch]
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return removed
        last = ids[-1]
        present = set(Message.objects.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in present]
        if missing:
            backends.write([], missing)
            removed += len(missing)
