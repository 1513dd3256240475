"""Reads: conversations a user may see, history pages, sync."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils.translation import gettext

from accounts.models import User
from accounts.rawmodels import UserWithAvatar
from chatsite.errors import Invalid, NotFound, NotMember
from chatsite.rawmodels import Columns, set_related
from chatsite.wire import parse_uuid, whole_number
from conversations.models import (
    SEQ_INDEX,
    UNREAD_KINDS,
    Conversation,
    ConversationKind,
    Member,
    Mention,
    Message,
    MessageFile,
    Reaction,
)
from files.models import File

HISTORY_DEFAULT = 50
HISTORY_MAX = 100
SYNC_MAX_FRAMES = 1000
SYNC_MAX_CURSORS = 2000


@dataclass(frozen=True)
class Access:
    """A user's view of one conversation: which seqs they may read."""

    conversation: Conversation
    member: Member

    @property
    def is_current(self) -> bool:
        return self.member.left_seq is None

    @property
    def first_seq(self) -> int:
        """The first seq the user may read."""
        return self.member.visible_from_seq + 1

    @property
    def last_seq(self) -> int:
        """The last seq the user may read (now)."""
        if self.member.left_seq is not None:
            return min(self.member.left_seq, self.conversation.last_seq)
        return self.conversation.last_seq


def access_conversation(*, user: User, conversation_id: object) -> Access:
    """The conversation and the user's membership (current or former). A
    conversation the user never belonged to is `not_found`: existence never leaks."""
    cid = parse_uuid(conversation_id)
    if cid is None:
        raise NotFound(gettext("No such conversation."))
    # Hand-written (chatsite.rawmodels): every history page and read starts here.
    m, c = Columns(Member, "m"), Columns(Conversation, "c")
    sql = (
        f"SELECT {m.sql}, {c.sql} FROM {m.table} JOIN {c.table} ON c.id = m.conversation_id "
        f"WHERE c.uuid = %s AND m.user_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Conversation._meta.get_field("uuid").get_db_prep_value(cid, connection), user.pk])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(gettext("No such conversation."))
    member = m.load(row)
    conversation = c.load(row, m.width)
    member.conversation = conversation
    return Access(conversation=conversation, member=member)


@cache
def _BY_SEQ() -> str:  # noqa: N802 (a constant, settled at first use)
    """The index hint that makes MariaDB read a page by the (conversation, seq)
    range. It otherwise often picks `ref` on conversation_id alone (the same
    row estimate) and filters seq row by row, so a page deep in a long
    conversation read every newer message: 50,252 rows and 97-168 ms for one
    page of 51 in a conversation of 100,200, against 51 rows and 0.13 ms
    with the hint (docs/mariadb.md). SQLite plans this well without one."""
    if connection.vendor != "mysql":
        return ""
    return f" FORCE INDEX ({connection.ops.quote_name(SEQ_INDEX)})"


def _page(access: Access, *, where: str, params: list, order: str, limit: int, by_seq: bool = True) -> list[Message]:
    """Readable messages of the conversation with their file, in one
    hand-written query, and their senders (with avatars) in a second: a page
    has a few senders, and joining them to every row made the driver convert
    each sender's columns (their times above all) once per message.
    `by_seq`: read by the (conversation, seq) range (the index hint); a
    lookup of one message by another unique key passes False."""

    msg, u, f = Columns(Message, "msg"), UserWithAvatar("u"), Columns(File, "f")
    sql = (
        f"SELECT {msg.sql}, {f.sql} FROM {msg.table}{_BY_SEQ() if by_seq else ''} LEFT JOIN {f.table} ON f.id = msg.file_id "
        f"WHERE msg.conversation_id = %s AND msg.seq >= %s AND msg.seq <= %s "
        f"AND (msg.target_seq IS NULL OR msg.target_seq >= %s){where} ORDER BY msg.seq {order} LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [access.conversation.pk, access.first_seq, access.last_seq, access.first_seq, *params, limit]
        )
        rows = cursor.fetchall()
    messages = [(msg.load(row), f.load(row, msg.width)) for row in rows]
    senders = u.by_id({m.sender_id for m, _ in messages if m.sender_id is not None})
    for message, file in messages:
        sender = senders.get(message.sender_id) if message.sender_id is not None else None
        if sender is None:
            # Deleted between the two queries: as the row reads now (SET NULL).
            message.sender_id = None
        set_related(message, "sender", sender)
        set_related(message, "file", file)
        set_related(message, "conversation", access.conversation)
    return [message for message, _ in messages]


def _readable(access: Access):
    """The messages the reader may read, and the events about them (not those
    about a message from before the reader joined)."""
    return Message.objects.filter(
        Q(target_seq__isnull=True) | Q(target_seq__gte=access.first_seq),
        conversation=access.conversation,
        seq__gte=access.first_seq,
        seq__lte=access.last_seq,
    ).select_related("sender__avatar", "file")


# A seq given as a parameter: at most 18 digits, so it always fits a BIGINT.
SEQ_PARAM_DIGITS = 18
SEQ_PARAM_MAX = 10**SEQ_PARAM_DIGITS - 1


def _int_param(value: object, name: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= SEQ_PARAM_DIGITS:
        number = int(value)
    else:
        raise Invalid.field(name, gettext("A whole number."))
    if not 0 <= number <= SEQ_PARAM_MAX:
        raise Invalid.field(name, gettext("A whole number."))
    return number


def history_page(
    *, access: Access, before: object = None, after: object = None, limit: object = None, client_msg_id: object = None
) -> tuple[list[Message], bool]:
    """Messages ascending by seq, keyset-paged: `before` a seq (older), `after`
    a seq (newer), or neither (the newest). Returns (messages, has_more)."""
    before_seq, after_seq = _int_param(before, "before"), _int_param(after, "after")
    if before_seq is not None and after_seq is not None:
        raise Invalid.field("before", gettext("Give `before` or `after`, not both."))
    size = _int_param(limit, "limit")
    if size is None:
        size = HISTORY_DEFAULT
    if not 1 <= size <= HISTORY_MAX:
        raise Invalid.field("limit", gettext("From 1 to %(history_max)s.") % {"history_max": HISTORY_MAX})
    if client_msg_id not in (None, ""):
        cmid = parse_uuid(client_msg_id.lower() if isinstance(client_msg_id, str) else client_msg_id)
        if cmid is None:
            raise Invalid.field("client_msg_id", gettext("A UUID made by the client."))
        found = _page(
            access,
            where=" AND msg.sender_id = %s AND msg.client_msg_id = %s",
            params=[access.member.user_id, str(cmid)],
            order="ASC",
            limit=1,
            by_seq=False,  # one row by (sender, client_msg_id): its own unique index
        )
        return found, False
    if after_seq is not None:
        rows = _page(access, where=" AND msg.seq > %s", params=[after_seq], order="ASC", limit=size + 1)
        return rows[:size], len(rows) > size
    if before_seq is not None:
        rows = _page(access, where=" AND msg.seq < %s", params=[before_seq], order="DESC", limit=size + 1)
    else:
        rows = _page(access, where="", params=[], order="DESC", limit=size + 1)
    more = len(rows) > size
    return list(reversed(rows[:size])), more


def pinned_messages(*, access: Access) -> list[Message]:
    """The conversation's pinned messages the reader may read, newest pin first."""
    return list(
        _readable(access)
        .filter(pinned_at__isnull=False, recalled=False)
        .select_related("pinned_by")
        .order_by("-pinned_at", "-seq")
    )


def reactors_page(*, message: Message, emoji: str, after_id: int | None, limit: int) -> list:
    """(reaction id, User) of those who reacted to `message` with `emoji`, in
    the order they did, keyset-paged on the reaction's id."""
    query = Reaction.objects.filter(message=message, emoji=emoji).select_related("user__avatar").order_by("id")
    if after_id is not None:
        query = query.filter(pk__gt=after_id)
    return [(r.pk, r.user) for r in query[: limit + 1]]


def readable_message(*, user: User, message_id: object) -> Message:
    """A message the user may read (within their window), else `not_found`."""
    mid = parse_uuid(message_id)
    message = Message.objects.select_related("conversation").filter(uuid=mid).first() if mid else None
    if message is None:
        raise NotFound(gettext("No such message."))
    access = access_conversation(user=user, conversation_id=str(message.conversation.uuid))
    if not access.first_seq <= message.seq <= access.last_seq:
        raise NotFound(gettext("No such message."))
    return message


def reads_of(*, access: Access) -> list[tuple[str, int]]:
    """Every current member's read cursor: (user uuid, read_seq). For current
    members only: someone who left or was removed keeps the history up to
    then, not a view of how far the others read since (`not_member`)."""
    if not access.is_current:
        raise NotMember(gettext("You are no longer a member of this conversation."))
    return list(
        Member.objects.filter(conversation=access.conversation, left_seq__isnull=True)
        .order_by("user_id")
        .values_list("user__uuid", "read_seq")
    )


# --------------------------------------------------------------------------- sync


@dataclass(frozen=True)
class SyncResult:
    messages: list[tuple[str, Message]]  # (conversation uuid, message), per conversation in seq order
    more: bool
    gone: list[str]
    # The reader's window start per conversation pk (for rendering).
    visible_from: dict[int, int]


def clean_cursors(raw: object) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise Invalid.field("cursors", gettext("An object of conversation id → last seq."))
    if len(raw) > SYNC_MAX_CURSORS:
        raise Invalid.field(
            "cursors", gettext("At most %(sync_max_cursors)s conversations.") % {"sync_max_cursors": SYNC_MAX_CURSORS}
        )
    cursors: dict[str, int] = {}
    for key, value in raw.items():
        if whole_number(value) is None:
            raise Invalid.field("cursors", gettext("Each cursor is a whole number (the last seq you have)."))
        cursors[key] = value
    return cursors


def sync_for(*, user: User, cursors: dict[str, int], max_frames: int = SYNC_MAX_FRAMES) -> SyncResult:
    """What the client lacks: after each named cursor (for a group the user
    left, up to the departure); after the read cursor for every other
    conversation of the user. Ids the user never belonged to are `gone`."""
    named = {}
    sent_as: dict[str, str] = {}  # the id as normalised -> the key as the client sent it
    gone: list[str] = []
    for key in cursors:
        uid = parse_uuid(key)
        if uid is None:
            gone.append(key)
        else:
            named[str(uid)] = cursors[key]
            sent_as[str(uid)] = key
    members = _sync_members(user, list(named))
    seen = set()
    plan: list[tuple[Access, int]] = []
    for member in members:
        conv_uuid = str(member.conversation.uuid)
        seen.add(conv_uuid)
        access = Access(conversation=member.conversation, member=member)
        start = named[conv_uuid] if conv_uuid in named else member.read_seq
        start = max(start, member.visible_from_seq)
        if access.last_seq > start:
            plan.append((access, start))
    gone.extend(sent_as[key] for key in named if key not in seen)  # as sent: the client drops them by its own keys
    out: list[tuple[str, Message]] = []
    more = False
    for access, start in sorted(plan, key=lambda p: p[0].conversation.pk):
        room = max_frames - len(out)
        if room <= 0:
            more = True
            break
        # The history page's query: every reconnect runs it, once per conversation behind.
        rows = _page(access, where=" AND msg.seq > %s", params=[start], order="ASC", limit=room + 1)
        if len(rows) > room:
            more = True
            rows = rows[:room]
        conv_uuid = str(access.conversation.uuid)
        out.extend((conv_uuid, m) for m in rows)
    visible_from = {member.conversation_id: member.visible_from_seq for member in members}
    return SyncResult(messages=out, more=more, gone=gone, visible_from=visible_from)


def _sync_members(user: User, named: list[str]) -> list[Member]:
    """The user's current memberships and those of the named conversations
    (a group they left), each with its conversation. Hand-written
    (chatsite.rawmodels): every reconnect runs it, and the ORM's compile of
    the OR across the join cost more than MariaDB's answer."""
    m, c = Columns(Member, "m"), Columns(Conversation, "c")
    where, params = "m.left_seq IS NULL", [user.pk]
    if named:
        prep = Conversation._meta.get_field("uuid").get_db_prep_value
        where += f" OR c.uuid IN ({', '.join(['%s'] * len(named))})"
        params.extend(prep(key, connection) for key in named)
    sql = (
        f"SELECT {m.sql}, {c.sql} FROM {m.table} JOIN {c.table} ON c.id = m.conversation_id "
        f"WHERE m.user_id = %s AND ({where})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    members = []
    for row in rows:
        member = m.load(row)
        set_related(member, "conversation", c.load(row, m.width))
        members.append(member)
    return members


# --------------------------------------------------------------------------- helpers for other apps


def current_member_ids(*, conversation: Conversation) -> list[int]:
    return list(
        Member.objects.filter(conversation=conversation, left_seq__isnull=True).values_list("user_id", flat=True)
    )


def unread_counts(*, user: User, conversation_ids: list[int]) -> dict[int, int]:
    """Messages from others after the user's read cursor, per conversation
    (one query): what people send (UNREAD_KINDS), not recalled; never a
    `system` event."""
    if not conversation_ids:
        return {}
    rows = (
        Message.objects.filter(
            conversation_id__in=conversation_ids,
            conversation__members__user=user,
            seq__gt=F("conversation__members__read_seq"),
            kind__in=UNREAD_KINDS,
            recalled=False,
        )
        .exclude(sender=user)
        .values("conversation_id")
        .annotate(n=Count("id"))
    )
    return {row["conversation_id"]: row["n"] for row in rows}


def unread_totals(*, user_ids: list[int]) -> dict[int, int]:
    """Each user's unread messages over the conversations they are in and have
    not muted, by the rule of unread_counts, in one query for many users (an
    app badge; a push's `unread`)."""
    if not user_ids:
        return {}
    counted = Q(
        conversation__messages__seq__gt=F("read_seq"),
        conversation__messages__kind__in=UNREAD_KINDS,
        conversation__messages__recalled=False,
    ) & (Q(conversation__messages__sender_id__isnull=True) | ~Q(conversation__messages__sender_id=F("user_id")))
    rows = (
        Member.objects.filter(user_id__in=user_ids, left_seq__isnull=True, muted=False)
        .values("user_id")
        .annotate(n=Count("conversation__messages", filter=counted))
    )
    return {row["user_id"]: row["n"] for row in rows}


# Conditions under which a mention does not count for its reader, added by
# apps built on the core: `fn(reader, sender_ref)` is an Exists over the
# mention's sender (contacts: the reader blocks the sender).
MentionMute = Callable[[User, OuterRef], Exists]
_mention_mutes: list[MentionMute] = []


def register_mention_mute(fn: MentionMute) -> None:
    """Called by an app's AppConfig.ready()."""
    if fn not in _mention_mutes:
        _mention_mutes.append(fn)


# Readers a mention does not reach when it is written, added by apps built on
# the core: `fn(sender_id, reader_ids)` returns those of `reader_ids` that
# `sender_id`'s mentions skip (contacts: the readers who block the sender).
# Such a mention is never written, so it does not count when the block ends.
MentionSkip = Callable[[int, set[int]], set[int]]
_mention_skips: list[MentionSkip] = []


def register_mention_skip(fn: MentionSkip) -> None:
    """Called by an app's AppConfig.ready()."""
    if fn not in _mention_skips:
        _mention_skips.append(fn)


def mention_skipped(sender_id: int, reader_ids: set[int]) -> set[int]:
    """Of `reader_ids`, those a mention by `sender_id` is not written for."""
    skipped: set[int] = set()
    for skip in _mention_skips:
        if reader_ids - skipped:
            skipped |= skip(sender_id, reader_ids - skipped)
    return skipped


def unread_mention_counts(*, user: User, conversation_ids: list[int]) -> dict[int, int]:
    """Messages after the user's read cursor that mention them (by name or
    @all), per conversation, one query: muted or not, never their own, never
    a recalled one (its Mention rows go with the recall), never from someone
    they block (register_mention_mute: a mention written before the block is
    hidden while it lasts; one sent during it was never written,
    register_mention_skip)."""
    if not conversation_ids:
        return {}
    query = Mention.objects.filter(
        user=user,
        conversation_id__in=conversation_ids,
        conversation__members__user=user,
        seq__gt=F("conversation__members__read_seq"),
    )
    for mute in _mention_mutes:
        query = query.exclude(mute(user, OuterRef("sender_id")))
    rows = query.values("conversation_id").annotate(n=Count("id"))
    return {row["conversation_id"]: row["n"] for row in rows}


# Whether the two people of a direct conversation are kept apart (contacts:
# a block either way): then nothing one does there reaches the other.
ApartCheck = Callable[[int, int], bool]
_apart_checks: list[ApartCheck] = []


def register_apart_check(fn: ApartCheck) -> None:
    """Called by an app's AppConfig.ready()."""
    if fn not in _apart_checks:
        _apart_checks.append(fn)


def who_hears(*, kind: str, user_ids: list[int], actor_id: int | None) -> list[int]:
    """Of `user_ids` (a conversation's readers), those a frame about what
    `actor_id` did there reaches: all of them, except in a direct
    conversation whose two people are kept apart (register_apart_check),
    where only the actor's own devices hear of it (the spec: a blocked user
    stops receiving at once; no frame about the conversation reaches them)."""
    if kind != ConversationKind.DIRECT or len(user_ids) != 2:
        return user_ids
    low, high = user_ids
    if any(check(low, high) for check in _apart_checks):
        return [uid for uid in user_ids if uid == actor_id]
    return user_ids


def direct_peer_id(conversation: Conversation, user_id: int) -> int | None:
    if conversation.kind != ConversationKind.DIRECT or not conversation.direct_key:
        return None
    low, high = (int(x) for x in conversation.direct_key.split(":"))
    return high if low == user_id else low


# --------------------------------------------------------------------------- files in messages (files.access)


def may_read_attachment(user: User, file) -> bool:
    """A current member of a conversation where a (not recalled) message, or
    a bundle's item, carries the file, sent since they joined (`visible_from_seq < seq`). A
    member who leaves or is removed loses the group's files at once, even
    those sent while they were in, though the history keeps showing the
    messages. One query, whatever the number of messages carrying it."""
    in_window = Member.objects.filter(
        left_seq__isnull=True,
        conversation_id=OuterRef("conversation_id"),
        user_id=user.pk,
        visible_from_seq__lt=OuterRef("seq"),
    )
    carrying = Q(file_id=file.pk) | Q(pk__in=MessageFile.objects.filter(file_id=file.pk).values("message_id"))
    return Message.objects.filter(carrying, recalled=False).filter(Exists(in_window)).exists()


def messages_holding(file_ref) -> Exists:
    """A message (or a bundle's item) still carries the file (a recalled
    message has let it go)."""
    return Exists(Message.objects.filter(file_id=file_ref)) | Exists(MessageFile.objects.filter(file_id=file_ref))
