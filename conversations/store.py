"""The store step: the one path every message takes into the database.

Chat messages come here from the bus (the Kafka worker or the in-process
bus); system and call messages come here directly from the services that
cause them. Guarantees:

- Idempotent: a (sender, client_msg_id) is stored once, for good. A resent or
  redelivered one stores nothing and re-sends the `stored` ack of the first copy.
- Gapless `seq` per conversation: the batch for one conversation bumps
  `Conversation.last_seq` by its size with one UPDATE inside the insert
  transaction. The UPDATE holds the row lock until commit, so concurrent
  writers (two workers during a rebalance, services posting system messages)
  serialise on it, and a rollback takes the seqs back with the rows.
- Fan-out after commit: `message.new` to every current member's sockets, and
  to the sender's own socket the `stored` ack instead.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from accounts.rawmodels import UserWithAvatar
from accounts.serializers import user_to_wire
from chatsite import metrics, realtime, wire
from chatsite.events import deliver_envelopes_on_commit
from chatsite.rawmodels import new_instance_of
from conversations.models import Conversation, ConversationKind, Member, Mention, Message, MessageFile, MessageKind
from conversations.render import load_around, render
from conversations.selectors import mention_skipped, who_hears
from files.models import File

logger = logging.getLogger(__name__)

new_message = new_instance_of(Message)


@dataclass
class Incoming:
    """A message to store."""

    conversation_id: int
    sender_id: int | None
    kind: str
    text: str | None = None
    data: dict | None = None
    file_id: int | None = None
    client_msg_id: str | None = None
    # Where the `stored` ack goes: the sending socket, and the ref it echoes.
    socket_id: str | None = None
    ref: str | None = None
    # Unix time the gateway accepted it (chat messages), for the store-latency metric.
    accepted_at: float | None = None
    # The bus record's id (Message.send_id).
    send_id: str | None = None
    # A silent event (Message.silent): the conversation keeps its place.
    silent: bool = False
    # Contract v3: the message it quotes (pk, same conversation, checked on
    # accept), the user ids it mentions as sent and the pks of those users,
    # @all, and for a forwarded copy its forwarded_from.
    reply_to_id: int | None = None
    mentions: list[str] | None = None
    mention_ids: list[int] | None = None
    mention_all: bool = False
    forwarded_from: dict | None = None
    # An event about a message: that message's seq (Message.target_seq).
    target_seq: int | None = None
    # A bundle: the files its items carry (MessageFile).
    attachments: list[int] | None = None
    # Stored without a `message.new` fan-out: the service that stores it tells
    # the members in a frame of its own (edits and reactions).
    quiet: bool = False


@dataclass
class Stored:
    message: Message
    duplicate: bool
    wire: dict = field(default_factory=dict)


def store_messages(items: list[Incoming], *, need_keys: bool = True) -> list[Stored]:
    """Store `items` (any conversations, in the order given per conversation).
    Returns one result per item, in order.

    One transaction for the whole batch, and each statement covers the whole
    batch: one lookup of repeats, one UPDATE taking every conversation's seq
    range (rows locked in id order, so two writers never deadlock on each
    other), one read of the conversations, their members and the senders,
    one multi-row INSERT, one UPDATE of the senders' read cursors. A batch of
    50 messages over 50 conversations costs what one message costs, not 50
    times it (issue 19).

    `need_keys=False` (the bus) skips reading back the new rows' primary keys:
    nothing downstream of the bus needs them, and it is a query per
    conversation."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _store_batch(items, need_keys)
        except IntegrityError:
            # Someone stored one of these client_msg_ids meanwhile (a second
            # worker during a rebalance): the batch rolled back; the next
            # attempt finds it and treats it as a duplicate.
            if attempt == 2:
                raise
            logger.info("concurrent store of a batch of %d, retrying", len(items))
    raise AssertionError("unreachable")


# The statements every batch runs are plain SQL (names from the models): on
# this hardware the ORM spent more CPU compiling them than the database spent
# answering. Rare paths (duplicates, files, hidden conversations) use the ORM.


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclass(frozen=True)
class _Member:
    pk: int
    user_id: int
    hidden: bool
    left_seq: int | None
    visible_from_seq: int


@dataclass(frozen=True)
class _Conversation:
    pk: int
    uuid: str
    last_seq: int
    kind: str


_EXISTING_CHUNK = 200


def _existing(keys: set[tuple[int, str]]) -> dict[tuple[int, str], Message]:
    """The messages already stored under these (sender, client_msg_id) keys:
    one probe of the unique index per key (an OR of pairs; `sender IN … AND
    client_msg_id IN …` would probe every combination)."""
    pairs = sorted(keys)
    hits: list[int] = []
    with connection.cursor() as cursor:
        # In chunks: SQLite refuses an expression deeper than 1,000 terms,
        # and a poll may hold KAFKA_MAX_POLL_RECORDS messages.
        for start in range(0, len(pairs), _EXISTING_CHUNK):
            chunk = pairs[start : start + _EXISTING_CHUNK]
            where = " OR ".join(["(sender_id = %s AND client_msg_id = %s)"] * len(chunk))
            cursor.execute(f"SELECT id FROM {_t(Message)} WHERE {where}", [x for pair in chunk for x in pair])
            hits.extend(row[0] for row in cursor.fetchall())
    if not hits:
        return {}
    found = Message.objects.filter(pk__in=hits).select_related("conversation", "sender__avatar", "file")
    return {(m.sender_id, m.client_msg_id): m for m in found}


def _store_batch(items: list[Incoming], need_keys: bool) -> list[Stored]:
    by_conversation: dict[int, list[Incoming]] = {}
    for item in items:
        by_conversation.setdefault(item.conversation_id, []).append(item)
    conversation_ids = sorted(by_conversation)
    keys = {(i.sender_id, i.client_msg_id) for i in items if i.client_msg_id and i.sender_id}
    existing = _existing(keys) if keys else {}

    # What is new: not stored before, and not a repeat of one earlier in this batch.
    fresh_by: dict[int, list[Incoming]] = {}
    seen: set[tuple[int, str]] = set()
    for conversation_id in conversation_ids:
        fresh: list[Incoming] = []
        for item in by_conversation[conversation_id]:
            if item.client_msg_id and item.sender_id:
                key = (item.sender_id, item.client_msg_id)
                if key in existing or key in seen:
                    continue
                seen.add(key)
            fresh.append(item)
        if fresh:
            fresh_by[conversation_id] = fresh

    now = timezone.now()
    _take_seqs(fresh_by, now)
    conversations, members, senders = _read_state(conversation_ids, {i.sender_id for i in items if i.sender_id})
    created: dict[int, Message] = {}
    new_messages: list[Message] = []
    for conversation_id, fresh in fresh_by.items():
        first_seq = conversations[conversation_id].last_seq - len(fresh) + 1
        for n, item in enumerate(fresh):
            message = new_message(
                {
                    "conversation_id": conversation_id,
                    "seq": first_seq + n,
                    "sender_id": item.sender_id,
                    "kind": item.kind,
                    "text": item.text,
                    "data": item.data,
                    "file_id": item.file_id,
                    "client_msg_id": item.client_msg_id,
                    "created_at": now,
                    "send_id": item.send_id,
                    "silent": item.silent,
                    "reply_to_id": item.reply_to_id,
                    "mentions": item.mentions or None,
                    "mention_all": item.mention_all,
                    "forwarded_from": item.forwarded_from,
                    "target_seq": item.target_seq,
                }
            )
            created[id(item)] = message
            new_messages.append(message)
    if new_messages:
        _insert(new_messages, need_keys=need_keys)
        _after_insert(fresh_by, created, members, now)

    results = _results(conversations, senders, items, created, existing)
    by_item = {id(item): result for item, result in zip(items, results, strict=True)}
    envelopes: list[tuple[list[int], bytes]] = []
    delivered = 0
    for conversation_id in conversation_ids:
        mine = by_conversation[conversation_id]
        delivered += _fanout(
            mine, [by_item[id(i)] for i in mine], members[conversation_id], envelopes, conversations[conversation_id]
        )
    deliver_envelopes_on_commit(envelopes)
    if delivered:
        transaction.on_commit(lambda: metrics.messages_delivered.inc(delivered))
    return results


def _in(values) -> str:
    return ", ".join(["%s"] * len(values))


def _take_seqs(fresh_by: dict[int, list[Incoming]], now) -> None:
    """Bump every conversation's last_seq by its number of new messages, in
    one statement. It takes the rows' locks (in id order) until commit: the
    seq ranges are ours. Silent events do not move a conversation up."""
    if not fresh_by:
        return
    ids = sorted(fresh_by)
    bump = " ".join("WHEN %s THEN %s" for _ in ids)
    bump_params = [x for cid in ids for x in (cid, len(fresh_by[cid]))]
    loud = [cid for cid in ids if not all(item.silent for item in fresh_by[cid])]
    sql = f"UPDATE {_t(Conversation)} SET last_seq = last_seq + CASE id {bump} END"
    params: list = bump_params
    if loud:
        at = connection.ops.adapt_datetimefield_value(now)
        if len(loud) == len(ids):
            sql += ", last_message_at = %s"
            params = [*params, at]
        else:
            sql += f", last_message_at = CASE WHEN id IN ({_in(loud)}) THEN %s ELSE last_message_at END"
            params = [*params, *loud, at]
    sql += f" WHERE id IN ({_in(ids)})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *ids])
        if cursor.rowcount != len(ids):
            raise Conversation.DoesNotExist(f"one of conversations {ids}")


_STATE_COLUMNS = "c.id, c.uuid, c.last_seq, m.id, m.user_id, m.hidden, m.left_seq, m.visible_from_seq, c.kind"
_STATE_WIDTH = _STATE_COLUMNS.count(",") + 1  # where the sender's user columns begin


def _read_state(
    ids: list[int], sender_ids: set[int]
) -> tuple[dict[int, _Conversation], dict[int, list[_Member]], dict[int, dict]]:
    """The conversations (their new last_seq), their members as of these
    messages (for the fan-out) and the senders as `message.new` shows them,
    in one query: read after the seq UPDATE, that is under the
    conversations' locks. (Three queries before; a round trip is a good part
    of a small batch's time.) A sender's user columns come on their own
    member rows only; a sender who is a member of none of the batch's
    conversations (the send check lets none through) is read apart."""
    users = UserWithAvatar("u")
    senders_sql = _in(sender_ids) if sender_ids else "NULL"
    sql = (
        f"SELECT {_STATE_COLUMNS}, {users.sql} "
        f"FROM {_t(Conversation)} c LEFT JOIN {_t(Member)} m ON m.conversation_id = c.id "
        f"{users.join(f'm.user_id AND m.user_id IN ({senders_sql})')} "
        f"WHERE c.id IN ({_in(ids)})"
    )
    conversations: dict[int, _Conversation] = {}
    members: dict[int, list[_Member]] = {cid: [] for cid in ids}
    senders: dict[int, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*sorted(sender_ids), *ids])
        rows = cursor.fetchall()
    for row in rows:
        cid, member_pk, uid = row[0], row[3], row[4]
        if cid not in conversations:
            conversations[cid] = _Conversation(pk=cid, uuid=str(uuid.UUID(str(row[1]))), last_seq=row[2], kind=row[8])
        if member_pk is None:
            continue
        members[cid].append(_Member(member_pk, uid, bool(row[5]), row[6], row[7]))
        if uid in sender_ids and uid not in senders:
            user = users.load(row, _STATE_WIDTH)
            if user is not None:
                senders[uid] = user_to_wire(user)
    if len(conversations) != len(ids):
        raise Conversation.DoesNotExist(f"conversations {sorted(set(ids) - set(conversations))}")
    if missing := sender_ids - senders.keys():
        senders.update(_sender_wires(missing))
    return conversations, members, senders


_INSERT_FIELDS = (
    "uuid",
    "conversation_id",
    "seq",
    "sender_id",
    "kind",
    "text",
    "data",
    "file_id",
    "client_msg_id",
    "created_at",
    "recalled",
    "send_id",
    "silent",
    "reply_to",
    "mentions",
    "mention_all",
    "forwarded_from",
    "target_seq",
)


def _insert(messages: list[Message], *, need_keys: bool) -> None:
    """One multi-row INSERT for the batch (mysqlclient's executemany sends
    the rows as one statement, split only past 64 KiB)."""
    fields = [Message._meta.get_field(name) for name in _INSERT_FIELDS]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    prep = [_preparer(f) for f in fields]
    rows = [[p(getattr(m, f.attname)) for f, p in zip(fields, prep, strict=True)] for m in messages]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {_t(Message)} ({columns}) VALUES ({placeholders})", rows)
    if not need_keys:
        return
    # The new rows' keys, so callers get saved Message objects (MySQL has no
    # RETURNING for a multi-row insert); (conversation, seq) is unique.
    for group in _per_conversation(messages).values():
        keys = _keys(group)
        for message in group:
            message.pk = keys[message.seq]
            message._state.adding = False
            message._state.db = connection.alias


def _preparer(field):
    """How a column's value goes to the database. Django's get_db_prep_save
    per field and row was a tenth of the worker's CPU; the plain columns need
    none of it (UUIDs are stored as hex, times adapted once per batch)."""
    if isinstance(field, (models.IntegerField, models.CharField, models.TextField, models.BooleanField)) or (
        field.is_relation and isinstance(field.target_field, models.AutoField)
    ):
        return _same
    if isinstance(field, models.UUIDField) and not connection.features.has_native_uuid_field:
        return _hex
    if isinstance(field, models.DateTimeField):
        cache: dict = {}

        def adapt(value):
            if value not in cache:
                cache[value] = field.get_db_prep_save(value, connection)
            return cache[value]

        return adapt
    return lambda value: field.get_db_prep_save(value, connection)


def _same(value):
    return value


def _hex(value):
    return None if value is None else value.hex


def _per_conversation(messages: list[Message]) -> dict[int, list[Message]]:
    out: dict[int, list[Message]] = {}
    for message in messages:
        out.setdefault(message.conversation_id, []).append(message)
    return out


def _after_insert(
    fresh_by: dict[int, list[Incoming]], created: dict[int, Message], members: dict[int, list[_Member]], now
) -> None:
    # A send (a client's message, with its client_msg_id) moves the sender's
    # own read cursor and clears their draft in the conversation, all in one
    # statement; events (system and call records) move no one's cursor.
    # A new message un-hides the conversation for everyone; files sent
    # become attached (kept).
    cursors: dict[int, int] = {}  # member row -> the seq of its last send here
    unhide: list[int] = []
    for conversation_id, fresh in fresh_by.items():
        rows = {m.user_id: m for m in members[conversation_id]}
        for item in fresh:
            row = rows.get(item.sender_id) if item.sender_id and item.client_msg_id else None
            if row is not None:
                cursors[row.pk] = created[id(item)].seq
        hidden = any(m.hidden and m.left_seq is None for m in members[conversation_id])
        if hidden and not all(item.silent for item in fresh):
            unhide.append(conversation_id)
    if cursors:
        ids = sorted(cursors)
        cases = " ".join("WHEN %s THEN CASE WHEN read_seq < %s THEN %s ELSE read_seq END" for _ in ids)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_t(Member)} SET read_seq = CASE id {cases} END, "
                f"draft_text = '', draft_reply_to = NULL, draft_updated_at = NULL WHERE id IN ({_in(ids)})",
                [*(x for pk in ids for x in (pk, cursors[pk], cursors[pk])), *ids],
            )
    if unhide:
        Member.objects.filter(conversation_id__in=unhide, hidden=True, left_seq__isnull=True).update(hidden=False)
    for conversation_id, fresh in fresh_by.items():
        messages = [created[id(item)] for item in fresh]
        _insert_mentions(conversation_id, fresh, messages, members[conversation_id])
        _insert_attachments(fresh, messages)
    file_ids = [m.file_id for m in created.values() if m.file_id]
    if file_ids:
        File.objects.filter(pk__in=file_ids, attached_at__isnull=True).update(attached_at=now)


def _insert_mentions(conversation_id: int, fresh: list[Incoming], messages: list[Message], members) -> None:
    """A Mention row for each member a message mentions, by name or by @all
    (the members as of this message), never its sender, nor a member the
    sender's mentions skip then (one who blocks them: mention_skipped)."""
    rows = []
    current = [m.user_id for m in members if m.left_seq is None]
    for item, message in zip(fresh, messages, strict=True):
        if not (item.mention_ids or item.mention_all):
            continue
        wanted = set(current) if item.mention_all else set(item.mention_ids or ())
        wanted.discard(item.sender_id)
        if item.sender_id and wanted:
            wanted -= mention_skipped(item.sender_id, wanted)
        rows.extend((conversation_id, message.pk, message.seq, uid, item.sender_id) for uid in sorted(wanted))
    if not rows:
        return
    keys = _keys(messages)
    rows = [(c, keys[seq], seq, uid, sid) for c, _, seq, uid, sid in rows]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {_t(Mention)} (conversation_id, message_id, seq, user_id, sender_id) VALUES (%s, %s, %s, %s, %s)",
            rows,
        )


def _keys(messages: list[Message]) -> dict[int, int]:
    """{seq: primary key} of new messages (read back when need_keys=False skipped it)."""
    if all(m.pk is not None for m in messages):
        return {m.seq: m.pk for m in messages}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT seq, id FROM {_t(Message)} WHERE conversation_id = %s AND seq BETWEEN %s AND %s",
            [messages[0].conversation_id, messages[0].seq, messages[-1].seq],
        )
        return dict(cursor.fetchall())


def _insert_attachments(fresh: list[Incoming], messages: list[Message]) -> None:
    """The files a bundle carries (MessageFile), marked attached (kept)."""
    wanted = [(message, item.attachments) for item, message in zip(fresh, messages, strict=True) if item.attachments]
    if not wanted:
        return
    keys = _keys(messages)
    rows = [(keys[message.seq], file_id) for message, files in wanted for file_id in sorted(set(files))]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {_t(MessageFile)} (message_id, file_id) VALUES (%s, %s)", rows)
    File.objects.filter(pk__in={f for _, f in rows}, attached_at__isnull=True).update(attached_at=timezone.now())


def _sender_wires(sender_ids: set[int]) -> dict[int, dict]:
    """The senders as they appear in `message.new`, with their avatars, in one
    hand-written query (see chatsite.rawmodels)."""
    return {pk: user_to_wire(user) for pk, user in UserWithAvatar("u").by_id(sender_ids).items()}


def _results(
    conversations: dict[int, _Conversation], senders: dict[int, dict], items, created, existing
) -> list[Stored]:
    file_ids = {m.file_id for m in created.values() if m.file_id}
    files = {f.pk: f for f in File.objects.filter(pk__in=file_ids)} if file_ids else {}
    first_copies = {(i.sender_id, i.client_msg_id): m for i in items if (m := created.get(id(i))) is not None}
    # Quotes and forwards need their originals; a new message has no reactions.
    # The wire is the sender's view; the fan-out blanks a quote for members
    # who joined after the quoted message (_fanout).
    fresh_around = load_around(
        [m for m in created.values() if m.reply_to_id or m.forwarded_from or m.kind == "bundle"], reactions=False
    )
    duplicates = [m for i in items if id(i) not in created and (m := existing.get((i.sender_id, i.client_msg_id)))]
    old_around = load_around([*duplicates, *created.values()]) if duplicates else fresh_around
    results: list[Stored] = []
    for item in items:
        message = created.get(id(item))
        duplicate = message is None
        if duplicate:
            key = (item.sender_id, item.client_msg_id)
            # Stored before, or a repeat of one stored earlier in this very batch.
            message = existing.get(key) or first_copies[key]
        elif message.file_id:
            message.file = files.get(message.file_id)
        sender = senders.get(message.sender_id) if message.sender_id else None
        results.append(
            Stored(
                message=message,
                duplicate=duplicate,
                wire=render(
                    message,
                    old_around if duplicate else fresh_around,
                    reader_id=message.sender_id,
                    conversation_uuid=(
                        conversations[message.conversation_id].uuid
                        if message.conversation_id in conversations
                        else str(message.conversation.uuid)
                    ),
                    sender_wire=sender,
                ),
            )
        )
    return results


def _fanout(
    items: list[Incoming], results: list[Stored], rows: list[_Member], envelopes: list, conversation: _Conversation
) -> int:
    """One conversation's share of the batch's fan-out, added to `envelopes`;
    returns how many deliveries it makes."""
    members = [(m.user_id, m.visible_from_seq) for m in rows if m.left_seq is None]
    delivered = 0
    for item, result in zip(items, results, strict=True):
        if item.quiet:
            continue
        new_frame = wire.dumps({"type": "message.new", "message": result.wire})
        ack = None
        if item.socket_id:
            ack = wire.dumps(
                {
                    "type": "message.ack",
                    "client_msg_id": item.client_msg_id,
                    "ref": item.ref,
                    "status": "stored",
                    "message": result.wire,
                }
            )
        redelivered = result.duplicate and item.send_id is not None and result.message.send_id == item.send_id
        if result.duplicate and not redelivered:
            # A client's resend: only the sender hears about it (its ack).
            if ack is not None and item.sender_id:
                envelopes.append(([item.sender_id], realtime.split_envelope(item.socket_id, ack, None)))
            continue
        # New, or the record that stored it coming again (its worker died
        # between the commit and the fan-out): everyone hears of it; clients
        # drop a `message.new` whose id they already have.
        seq = result.message.seq
        # Members who joined after an event's target hear of neither.
        floor = min(seq, item.target_seq) if item.target_seq is not None else seq
        others = [uid for uid, visible_from in members if uid != item.sender_id and visible_from < floor]
        if others and item.kind == MessageKind.SYSTEM and conversation.kind == ConversationKind.DIRECT:
            # An event (a recall) in a chat of two people blocked apart
            # reaches the one who caused it alone (no message passes there).
            hear = who_hears(kind=conversation.kind, user_ids=[uid for uid, _ in members], actor_id=item.sender_id)
            others = [uid for uid in others if uid in hear]
        if not redelivered:
            delivered += len(others) + (1 if item.sender_id else 0)
        quote = result.wire.get("reply_to")
        if quote and quote["excerpt"]:
            # Members who joined after the quoted message see the quote without its text.
            late = {uid for uid, visible_from in members if visible_from >= quote["seq"]}
            late_others = [uid for uid in others if uid in late]
            if late_others:
                others = [uid for uid in others if uid not in late]
                blank = {**result.wire, "reply_to": {**quote, "excerpt": ""}}
                envelopes.append(
                    (late_others, realtime.frame_envelope(wire.dumps({"type": "message.new", "message": blank})))
                )
        if others:
            envelopes.append((others, realtime.frame_envelope(new_frame)))
        if item.sender_id:
            if ack is not None:
                envelopes.append(([item.sender_id], realtime.split_envelope(item.socket_id, ack, new_frame)))
            else:
                envelopes.append(([item.sender_id], realtime.frame_envelope(new_frame)))
    return delivered
